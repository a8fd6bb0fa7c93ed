package logfile

import (
	"os"
	"time"
)

// dirState tells the sink when the log directory's entries may have
// changed, so that a batch costs one stat(2) of the directory instead of
// two per service (an fstat and a stat of each file, measured at a tenth
// of the collector's CPU at 20k events/s). A file leaves its path only by
// an unlink or a rename in its directory, or by the directory's own
// removal; each changes the directory's modification time or identity.
//
// Each change found starts a new generation; a file is checked against its
// path once per generation, at its next write.
type dirState struct {
	seen    os.FileInfo
	settled bool // seen's time was older than timestampGrain when seen
	gen     uint64
}

// timestampGrain covers file systems that stamp times with a coarse clock
// (a tick of up to 10 ms): a change in the same tick as the one we saw can
// leave the time as it was. A time this much older than the clock when
// read cannot be given again by a later change.
const timestampGrain = 50 * time.Millisecond

// generation stats dir and returns the current generation: the same as
// the last call's only when nothing in dir can have been created, removed
// or renamed since.
func (d *dirState) generation(dir string) uint64 {
	now := time.Now()
	st, err := os.Stat(dir)
	if err != nil { // removed: every file is checked, and made again
		d.seen = nil
		d.gen++
		return d.gen
	}
	if d.seen == nil || !d.settled || !os.SameFile(d.seen, st) || !st.ModTime().Equal(d.seen.ModTime()) {
		d.gen++
	}
	d.seen, d.settled = st, now.Sub(st.ModTime()) >= timestampGrain
	return d.gen
}
