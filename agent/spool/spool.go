// Package spool keeps a publisher's unacknowledged events on disk, so a
// publisher that is killed resends them when it starts again.
//
// The spool is a directory of segment files, seg-<n>.log, written in order.
// Each record is
//
//	uint32 length | uint32 CRC-32C of the payload | payload
//
// and the payload's first byte says what it is: 3, an event (its sequence
// number, topic, the producer's cursor and its encoded frames); 4, a
// checkpoint of every topic's last sequence number and every cursor key's
// last cursor, written first in each new segment, so trimming old segments
// never loses where numbering or reading stands. Kinds 1 and 2 are the same
// without cursors, as written before cursors existed; they are still read.
// The publisher id is kept in the file "publisher-id".
//
// A cursor is the producer's resume point (the agent's file, offset) stored
// in the same write as the event it leads to, so after a crash the producer
// resumes exactly after the last event the spool holds: nothing it read is
// lost, and nothing is read twice.
//
// Durability: Append writes with write(2) before it returns, so records
// survive the process being killed. FsyncAlways also fsyncs every record
// (survives power loss, slow); FsyncInterval (the default) fsyncs at most
// once per interval; FsyncNever leaves it to the kernel.
//
// Recovery (recover.go): a record that does not verify is skipped and
// reading resumes at the next record that does; the events lost are counted
// (CorruptEvents) and the damaged segment is kept in damaged/. Never a crash
// loop.
//
// A full spool (MaxBytes) returns ErrFull and a full disk ErrNoSpace; in
// both cases nothing was written (a partial record is cut off again), so the
// caller can wait and try again.
package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zlog/zlog/schema/atomicfile"
	"github.com/zlog/zlog/schema/dirlock"
)

// FsyncPolicy says when appended records are forced to stable storage.
type FsyncPolicy int

const (
	FsyncInterval FsyncPolicy = iota // at most once per Options.FsyncEvery
	FsyncAlways                      // after every record
	FsyncNever                       // leave it to the kernel
)

// ParseFsync reads "interval", "always" or "never".
func ParseFsync(s string) (FsyncPolicy, error) {
	switch s {
	case "interval", "":
		return FsyncInterval, nil
	case "always":
		return FsyncAlways, nil
	case "never":
		return FsyncNever, nil
	}
	return 0, fmt.Errorf("spool fsync policy %q: want interval, always or never", s)
}

// Options configure a spool. Zero values take the defaults shown.
type Options struct {
	Dir          string
	SegmentBytes int64         // start a new segment beyond this; 8 MiB
	MaxBytes     int64         // total size limit; 256 MiB
	DropOldest   bool          // when full: delete the oldest segment (counted) instead of refusing
	Fsync        FsyncPolicy   // FsyncInterval
	FsyncEvery   time.Duration // 1s
}

// ErrFull is returned by Append when the spool is at MaxBytes and
// DropOldest is off: the caller blocks its source until acks free space.
var ErrFull = errors.New("spool full")

// ErrNoSpace is returned by Append when the disk under the spool is full
// (or over quota): the caller blocks its source until space returns.
var ErrNoSpace = errors.New("no space left on the spool's disk")

// Record is one spooled event.
type Record struct {
	Topic  string
	Seq    uint64
	Frames [][]byte
	// Key and Cursor, when Key is set: after this event, the producer's
	// position in its source Key is Cursor (opaque to the spool).
	Key    string
	Cursor []byte
}

type segment struct {
	path   string
	size   int64
	events int
	maxSeq map[string]uint64
}

// Spool is safe for concurrent use.
type Spool struct {
	opts      Options
	lock      *dirlock.Lock
	mu        sync.Mutex
	segs      []*segment // oldest first; the last is the one being written
	active    *os.File
	total     int64
	lastSeq   map[string]uint64
	cursors   map[string][]byte
	acked     map[string]uint64
	nextNum   uint64
	lastSync  time.Time
	publisher string

	ackedDirty bool      // acked moved since it was last written
	ackedAt    time.Time // when it was last written

	// CorruptEvents counts the events Open found lost in damaged records;
	// DamagedCopies are the copies of damaged segments it kept. TornWrites
	// counts the records Open found cut short at the spool's very end:
	// appends the process died in, never acknowledged to their sources, so
	// not lost (the sources still have them, or never got an answer).
	CorruptEvents int
	TornWrites    int
	DamagedCopies []string
	droppedFull   int // events deleted by DropOldest
}

const (
	kindEventV1      = 1
	kindCheckpointV1 = 2
	kindEvent        = 3
	kindCheckpoint   = 4
	headerLen        = 8
	maxRecord        = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Open opens or creates the spool in opts.Dir and returns the events it
// holds (oldest first), which the caller must treat as unacknowledged.
// newID is called to create a publisher id when the spool has none.
func Open(opts Options, newID func() string) (*Spool, []Record, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 8 << 20
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	if opts.FsyncEvery <= 0 {
		opts.FsyncEvery = time.Second
	}
	// Two publishers on one spool would each resend, number and delete
	// what the other wrote.
	lock, err := dirlock.Acquire(opts.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{opts: opts, lock: lock, lastSeq: map[string]uint64{}, cursors: map[string][]byte{}, acked: map[string]uint64{}}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if err := s.loadPublisherID(newID); err != nil {
		return nil, nil, err
	}
	names, err := filepath.Glob(filepath.Join(opts.Dir, "seg-*.log"))
	if err != nil {
		return nil, nil, fmt.Errorf("list spool %q: %w", opts.Dir, err)
	}
	sort.Strings(names) // fixed-width numbers: name order is write order
	scans := make([]segmentScan, 0, len(names))
	for _, name := range names {
		sc, err := scanSegment(name)
		if err != nil {
			return nil, nil, err
		}
		scans = append(scans, sc)
		var n uint64
		fmt.Sscanf(filepath.Base(name), "seg-%020d.log", &n)
		s.nextNum = max(s.nextNum, n+1)
	}
	recs, err := s.restore(scans)
	if err != nil {
		return nil, nil, err
	}
	s.keepReserve()
	// Appends continue in the last segment; a new one (which needs room for
	// its checkpoint) is made only when that one is full, so a spool on a
	// full disk still opens and drains.
	if len(s.segs) > 0 {
		last := s.segs[len(s.segs)-1]
		if s.active, err = os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o640); err != nil {
			return nil, nil, fmt.Errorf("open spool segment %q: %w", last.path, err)
		}
	}
	ok = true
	return s, recs, nil
}

func (s *Spool) loadPublisherID(newID func() string) error {
	path := filepath.Join(s.opts.Dir, "publisher-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		s.publisher = strings.TrimSpace(string(b))
		return nil
	}
	s.publisher = newID()
	if err := atomicfile.Write(path, []byte(s.publisher+"\n"), 0o640); err != nil {
		return fmt.Errorf("save publisher id: %w", err)
	}
	return nil
}

// PublisherID is the id stored in the spool, stable across restarts.
func (s *Spool) PublisherID() string { return s.publisher }

// LastSeq is the last sequence number handed out for topic.
func (s *Spool) LastSeq(topic string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq[topic]
}

// NextSeq hands out topic's next sequence number, for callers that then
// Append it themselves.
func (s *Spool) NextSeq(topic string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSeq[topic]++
	return s.lastSeq[topic]
}

// AppendNext numbers r with its topic's next sequence number, builds its
// frames with that number and writes the record. The number is used up only
// when the write succeeds, so a full spool never leaves a gap in a stream.
// Callers serialise AppendNext calls for a topic.
func (s *Spool) AppendNext(r Record, build func(seq uint64) ([][]byte, error)) (Record, error) {
	rs := []Record{r}
	err := s.AppendNextBatch(rs, func(_ int, seq uint64) ([][]byte, error) { return build(seq) })
	return rs[0], err
}

// AppendNextBatch is AppendNext for several records at once, written with
// one system call: each takes the next number of its topic (set in rs, with
// the frames build returns for it), and either all are written or none.
func (s *Spool) AppendNextBatch(rs []Record, build func(i int, seq uint64) ([][]byte, error)) error {
	next := make(map[string]uint64, 1)
	s.mu.Lock()
	for i := range rs {
		seq, ok := next[rs[i].Topic]
		if !ok {
			seq = s.lastSeq[rs[i].Topic]
		}
		rs[i].Seq = seq + 1
		next[rs[i].Topic] = seq + 1
	}
	s.mu.Unlock()
	for i := range rs {
		frames, err := build(i, rs[i].Seq)
		if err != nil {
			return err
		}
		rs[i].Frames = frames
	}
	if err := s.AppendBatch(rs); err != nil {
		return err
	}
	s.mu.Lock()
	for topic, seq := range next {
		s.lastSeq[topic] = max(s.lastSeq[topic], seq)
	}
	s.mu.Unlock()
	return nil
}

// Cursors returns every cursor key's last cursor: those recovered at Open
// and those appended since.
func (s *Spool) Cursors() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(s.cursors))
	for k, c := range s.cursors {
		out[k] = c
	}
	return out
}

// ForgetCursor drops a key whose source is gone, so later checkpoints stop
// carrying it.
func (s *Spool) ForgetCursor(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cursors, key)
}

// Append writes one event record.
func (s *Spool) Append(r Record) error { return s.AppendBatch([]Record{r}) }

// AppendBatch writes event records with one system call: all or none.
func (s *Spool) AppendBatch(rs []Record) error {
	size := 0
	for i := range rs {
		if len(rs[i].Topic) > 255 || len(rs[i].Key) > 255 {
			return errors.New("spool: topic or cursor key longer than 255 bytes")
		}
		size += eventRecordSize(&rs[i])
	}
	buf := make([]byte, 0, size)
	for i := range rs {
		buf = appendEventRecord(buf, &rs[i])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.makeRoom(int64(len(buf))); err != nil {
		return err
	}
	err := s.write(buf)
	if errors.Is(err, ErrNoSpace) && s.covered(s.segs[len(s.segs)-1]) {
		// The disk is full but all the segment holds is settled: start a
		// new one, which lets this one go.
		if err = s.rotateFreeing(); err == nil {
			err = s.write(buf)
		}
	}
	if err != nil {
		return err
	}
	seg := s.segs[len(s.segs)-1]
	seg.events += len(rs)
	for i, r := range rs {
		seg.maxSeq[r.Topic] = max(seg.maxSeq[r.Topic], r.Seq)
		if r.Key != "" && (i == len(rs)-1 || rs[i+1].Key != r.Key) { // the key's last cursor here
			s.cursors[r.Key] = append([]byte(nil), r.Cursor...)
		}
	}
	return nil
}

// makeRoom frees or refuses room for size more bytes, and starts a new
// segment when the active one would grow past SegmentBytes.
func (s *Spool) makeRoom(size int64) error {
	for s.total+size > s.opts.MaxBytes {
		if !s.opts.DropOldest || len(s.segs) < 2 {
			return ErrFull
		}
		s.droppedFull += s.segs[0].events
		s.removeOldest()
	}
	if s.active == nil || s.segs[len(s.segs)-1].size+size > s.opts.SegmentBytes && s.segs[len(s.segs)-1].events > 0 {
		return s.rotateFreeing()
	}
	return nil
}

// write appends one framed record to the active segment. On any error the
// segment is cut back to where it was, so no partial record stays behind
// and the caller may retry with the same number.
func (s *Spool) write(buf []byte) error {
	seg := s.segs[len(s.segs)-1]
	_, err := s.active.Write(buf)
	if err == nil {
		switch {
		case s.opts.Fsync == FsyncAlways:
			err = s.active.Sync()
		case s.opts.Fsync == FsyncInterval && time.Since(s.lastSync) >= s.opts.FsyncEvery:
			s.lastSync = time.Now()
			err = s.active.Sync()
		}
	}
	if err != nil {
		s.active.Truncate(seg.size) // O_APPEND: the next write goes to the new end
		return writeError(err)
	}
	seg.size += int64(len(buf))
	s.total += int64(len(buf))
	return nil
}

// writeError tells a full disk from other failures.
func writeError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return fmt.Errorf("spool write: %w", err)
}

// reserveFile holds disk space back for the spool's own bookkeeping: on a
// full disk, the segment being written may be fully acknowledged yet the
// only one, and freeing it needs a new segment, which needs room for its
// checkpoint. The reserve is given up for that, and taken again later.
const (
	reserveFile  = "reserve"
	reserveBytes = 64 << 10
)

func (s *Spool) keepReserve() {
	path := filepath.Join(s.opts.Dir, reserveFile)
	if st, err := os.Stat(path); err == nil && st.Size() == reserveBytes {
		return
	}
	if err := atomicfile.Write(path, make([]byte, reserveBytes), 0o640); err != nil {
		os.Remove(path) // retried at the next rotation
	}
}

// rotateFreeing rotates, giving up the reserve when the disk is full, and
// then removes the old segments that acks have covered.
func (s *Spool) rotateFreeing() error {
	err := s.rotate()
	if errors.Is(err, ErrNoSpace) && os.Remove(filepath.Join(s.opts.Dir, reserveFile)) == nil {
		err = s.rotate()
	}
	if err != nil {
		return err
	}
	for len(s.segs) > 1 && s.covered(s.segs[0]) {
		s.removeOldest()
	}
	s.keepReserve()
	return nil
}

// rotate starts a new segment that opens with a checkpoint of every topic's
// last sequence number and every cursor. The segment appears whole or not
// at all (written aside, synced, renamed), so a full disk never leaves an
// empty segment without its checkpoint.
func (s *Spool) rotate() error {
	path := filepath.Join(s.opts.Dir, fmt.Sprintf("seg-%020d.log", s.nextNum))
	cp, err := json.Marshal(checkpoint{Seq: s.lastSeq, Cursors: s.cursors})
	if err != nil {
		return fmt.Errorf("spool checkpoint: %w", err)
	}
	buf := frameRecord(append([]byte{kindCheckpoint}, cp...))
	if err := atomicfile.Write(path, buf, 0o640); err != nil {
		return writeError(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open spool segment: %w", err)
	}
	if s.active != nil {
		s.active.Sync()
		s.active.Close()
	}
	s.nextNum++
	s.active = f
	s.segs = append(s.segs, &segment{path: path, size: int64(len(buf)), maxSeq: map[string]uint64{}})
	s.total += int64(len(buf))
	return nil
}

// Ack records what the collector stored and deletes segments that hold
// nothing else. The segment being written is kept.
func (s *Spool) Ack(hwm map[string]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, seq := range hwm {
		if seq > s.acked[t] {
			s.acked[t] = seq
			s.ackedDirty = true
		}
	}
	for len(s.segs) > 1 && s.covered(s.segs[0]) {
		s.removeOldest()
	}
	if time.Since(s.ackedAt) >= time.Second {
		s.recordAcked()
	}
}

// recordAcked appends a checkpoint carrying the acked marks, so a restart
// does not resend what was settled. Best effort: without room, the restart
// resends and the collector drops the duplicates.
func (s *Spool) recordAcked() {
	if !s.ackedDirty || s.active == nil {
		return
	}
	cp, err := json.Marshal(checkpoint{Seq: s.lastSeq, Cursors: s.cursors, Acked: s.acked})
	if err != nil {
		return
	}
	if s.write(frameRecord(append([]byte{kindCheckpoint}, cp...))) == nil {
		s.ackedDirty, s.ackedAt = false, time.Now()
	}
}

func (s *Spool) covered(seg *segment) bool {
	for t, seq := range seg.maxSeq {
		if s.acked[t] < seq {
			return false
		}
	}
	return true
}

func (s *Spool) removeOldest() {
	seg := s.segs[0]
	os.Remove(seg.path)
	s.total -= seg.size
	s.segs = s.segs[1:]
}

// DroppedOldest counts events deleted because the spool was full.
func (s *Spool) DroppedOldest() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.droppedFull
}

// Stats reports the spool's size.
func (s *Spool) Stats() (bytes int64, segments int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, len(s.segs)
}

// Close syncs and closes the active segment and unlocks the directory.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	s.recordAcked()
	if s.active != nil {
		err = s.active.Sync()
		if cerr := s.active.Close(); err == nil {
			err = cerr
		}
		s.active = nil
	}
	if lerr := s.lock.Release(); err == nil {
		err = lerr
	}
	return err
}
