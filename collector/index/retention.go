package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/zlog/zlog/schema/atomicfile"
)

// sizedPartition is a partition with its bytes on disk (file, -wal, -shm).
type sizedPartition struct {
	Partition
	bytes int64
}

// removal is one partition retention removes, and why.
type removal struct {
	sizedPartition
	reason string
}

// expired decides what retention removes, oldest first: every day that
// ended more than retain before now, then, while the index is larger than
// maxBytes, the oldest days before today. Today's partition and later ones
// (events dated ahead of the clock) are never removed for size: size
// retention removes by the age of the data. parts must be oldest first.
func expired(parts []sizedPartition, now time.Time, retain time.Duration, maxBytes int64) []removal {
	var total int64
	for _, p := range parts {
		total += p.bytes
	}
	today := DayOf(now)
	var out []removal
	for _, p := range parts {
		end := p.Day.Add(24 * time.Hour)
		switch {
		case retain > 0 && !end.After(now.Add(-retain)):
			out = append(out, removal{p, "older than --retain"})
		case maxBytes > 0 && total > maxBytes && p.Day.Before(today):
			out = append(out, removal{p, "index over --max-index-bytes"})
		default:
			return out
		}
		total -= p.bytes
	}
	return out
}

// enforceRetention removes whole partitions as expired decides. Removing
// a file is quick, so ingestion does not stall; a reader that has a removed
// file open keeps reading it until it closes.
func (w *Writer) enforceRetention(now time.Time) error {
	w.metrics.RetentionChecks.Inc()
	if w.opts.Retain <= 0 && w.opts.MaxBytes <= 0 {
		return nil
	}
	parts, err := ListPartitions(w.opts.Dir)
	if err != nil {
		return err
	}
	sized := make([]sizedPartition, len(parts))
	for i, p := range parts {
		sized[i].Partition = p
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if st, err := os.Stat(p.Path + suffix); err == nil {
				sized[i].bytes += st.Size()
			}
		}
	}
	var oldest time.Time
	for _, r := range expired(sized, now, w.opts.Retain, w.opts.MaxBytes) {
		if err := w.removePartition(r.Partition); err != nil {
			return err
		}
		oldest = r.Day.Add(24 * time.Hour)
		w.logger.Info("retention removed a partition", "day", r.Day.Format(time.DateOnly), "bytes", r.bytes, "reason", r.reason)
		w.metrics.RetentionRemoved.Inc()
	}
	if oldest.IsZero() {
		return nil
	}
	return recordRetention(w.opts.Dir, oldest)
}

// recordRetention writes RetentionFile (atomically, fsynced) so logq can say
// that earlier times are gone.
func recordRetention(dir string, oldest time.Time) error {
	b, err := json.Marshal(Retention{Oldest: oldest})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, RetentionFile), b, 0o640); err != nil {
		return fmt.Errorf("record retention: %w", err)
	}
	return nil
}

func (w *Writer) removePartition(p Partition) error {
	day := p.Day.Unix()
	if open, ok := w.parts[day]; ok {
		open.close()
		delete(w.parts, day)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(p.Path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("retention: remove %q: %w", p.Path+suffix, err)
		}
	}
	return nil
}
