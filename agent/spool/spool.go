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
// Recovery: a record whose length runs past the end of its segment (a torn
// write) or whose checksum fails ends that segment: the rest of it is counted
// as corrupt and skipped, never a crash loop.
package spool

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
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

	// Corrupt counts records skipped as torn or corrupt by Open.
	Corrupt     int
	droppedFull int // events deleted by DropOldest
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
	var recs []Record
	for _, name := range names {
		seg, evs, err := s.recover(name)
		if err != nil {
			return nil, nil, err
		}
		s.segs = append(s.segs, seg)
		s.total += seg.size
		recs = append(recs, evs...)
		var n uint64
		fmt.Sscanf(filepath.Base(name), "seg-%020d.log", &n)
		s.nextNum = max(s.nextNum, n+1)
	}
	if err := s.rotate(); err != nil {
		return nil, nil, err
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

// recover reads one segment, keeping what verifies and counting the rest.
func (s *Spool) recover(path string) (*segment, []Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open spool segment %q: %w", path, err)
	}
	defer f.Close()
	seg := &segment{path: path, maxSeq: map[string]uint64{}}
	var recs []Record
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [headerLen]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err != io.EOF {
				s.Corrupt++ // a torn header
			}
			break
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n == 0 || n > maxRecord {
			s.Corrupt++
			break
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			s.Corrupt++ // a torn record
			break
		}
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			s.Corrupt++
			break
		}
		rec, kind, err := decodePayload(payload)
		if err != nil {
			s.Corrupt++
			break
		}
		seg.size += int64(headerLen + n)
		switch kind {
		case kindCheckpoint:
			for t, seq := range rec.checkpoint.Seq {
				s.lastSeq[t] = max(s.lastSeq[t], seq)
			}
			for k, c := range rec.checkpoint.Cursors {
				s.cursors[k] = c
			}
		case kindEvent:
			if rec.Key != "" {
				s.cursors[rec.Key] = rec.Cursor
			}
			s.lastSeq[rec.Topic] = max(s.lastSeq[rec.Topic], rec.Seq)
			seg.maxSeq[rec.Topic] = max(seg.maxSeq[rec.Topic], rec.Seq)
			seg.events++
			recs = append(recs, rec.Record)
		}
	}
	// Cut what did not verify so new records follow good ones.
	if st, err := os.Stat(path); err == nil && st.Size() > seg.size {
		if err := os.Truncate(path, seg.size); err != nil {
			return nil, nil, fmt.Errorf("truncate corrupt tail of %q: %w", path, err)
		}
	}
	return seg, recs, nil
}

type checkpoint struct {
	Seq     map[string]uint64 `json:"seq"`
	Cursors map[string][]byte `json:"cursors,omitempty"`
}

type decoded struct {
	Record
	checkpoint checkpoint
}

// decodePayload returns the record and its kind, with the older kinds
// reported as their current equivalents.
func decodePayload(p []byte) (decoded, byte, error) {
	var d decoded
	switch p[0] {
	case kindCheckpointV1:
		if err := json.Unmarshal(p[1:], &d.checkpoint.Seq); err != nil {
			return d, 0, err
		}
		return d, kindCheckpoint, nil
	case kindCheckpoint:
		if err := json.Unmarshal(p[1:], &d.checkpoint); err != nil {
			return d, 0, err
		}
		return d, kindCheckpoint, nil
	case kindEventV1, kindEvent:
		b := p[1:]
		if len(b) < 9 {
			return d, 0, errors.New("short event record")
		}
		d.Seq = binary.BigEndian.Uint64(b)
		tl := int(b[8])
		b = b[9:]
		if len(b) < tl {
			return d, 0, errors.New("topic runs past the record")
		}
		d.Topic = string(b[:tl])
		b = b[tl:]
		if p[0] == kindEvent {
			if len(b) < 1 || len(b) < 1+int(b[0]) {
				return d, 0, errors.New("cursor key runs past the record")
			}
			d.Key = string(b[1 : 1+int(b[0])])
			b = b[1+int(b[0]):]
			if len(b) < 4 || uint64(len(b)-4) < uint64(binary.BigEndian.Uint32(b)) {
				return d, 0, errors.New("cursor runs past the record")
			}
			cl := int(binary.BigEndian.Uint32(b))
			d.Cursor = b[4 : 4+cl]
			b = b[4+cl:]
		}
		for len(b) > 0 {
			if len(b) < 4 {
				return d, 0, errors.New("frame length runs past the record")
			}
			fl := int(binary.BigEndian.Uint32(b))
			b = b[4:]
			if fl > len(b) {
				return d, 0, errors.New("frame runs past the record")
			}
			d.Frames = append(d.Frames, b[:fl])
			b = b[fl:]
		}
		return d, kindEvent, nil
	}
	return d, 0, fmt.Errorf("unknown record kind %d", p[0])
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
	s.mu.Lock()
	seq := s.lastSeq[r.Topic] + 1
	s.mu.Unlock()
	frames, err := build(seq)
	if err != nil {
		return Record{}, err
	}
	r.Seq, r.Frames = seq, frames
	if err := s.Append(r); err != nil {
		return Record{}, err
	}
	s.mu.Lock()
	s.lastSeq[r.Topic] = max(s.lastSeq[r.Topic], seq)
	s.mu.Unlock()
	return r, nil
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
func (s *Spool) Append(r Record) error {
	if len(r.Topic) > 255 || len(r.Key) > 255 {
		return errors.New("spool: topic or cursor key longer than 255 bytes")
	}
	payload := []byte{kindEvent}
	payload = binary.BigEndian.AppendUint64(payload, r.Seq)
	payload = append(payload, byte(len(r.Topic)))
	payload = append(payload, r.Topic...)
	payload = append(payload, byte(len(r.Key)))
	payload = append(payload, r.Key...)
	payload = binary.BigEndian.AppendUint32(payload, uint32(len(r.Cursor)))
	payload = append(payload, r.Cursor...)
	for _, f := range r.Frames {
		payload = binary.BigEndian.AppendUint32(payload, uint32(len(f)))
		payload = append(payload, f...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	size := int64(headerLen + len(payload))
	for s.total+size > s.opts.MaxBytes {
		if !s.opts.DropOldest || len(s.segs) < 2 {
			return ErrFull
		}
		s.droppedFull += s.segs[0].events
		s.removeOldest()
	}
	if s.segs[len(s.segs)-1].size+size > s.opts.SegmentBytes && s.segs[len(s.segs)-1].events > 0 {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if err := s.write(payload); err != nil {
		return err
	}
	seg := s.segs[len(s.segs)-1]
	seg.events++
	seg.maxSeq[r.Topic] = max(seg.maxSeq[r.Topic], r.Seq)
	if r.Key != "" {
		s.cursors[r.Key] = append([]byte(nil), r.Cursor...)
	}
	return nil
}

func (s *Spool) write(payload []byte) error {
	buf := make([]byte, headerLen, headerLen+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[4:], crc32.Checksum(payload, castagnoli))
	buf = append(buf, payload...)
	if _, err := s.active.Write(buf); err != nil {
		return fmt.Errorf("spool write: %w", err)
	}
	seg := s.segs[len(s.segs)-1]
	seg.size += int64(len(buf))
	s.total += int64(len(buf))
	switch s.opts.Fsync {
	case FsyncAlways:
		return s.active.Sync()
	case FsyncInterval:
		if time.Since(s.lastSync) >= s.opts.FsyncEvery {
			s.lastSync = time.Now()
			return s.active.Sync()
		}
	}
	return nil
}

// rotate starts a new segment that opens with a checkpoint of every topic's
// last sequence number.
func (s *Spool) rotate() error {
	if s.active != nil {
		s.active.Sync()
		s.active.Close()
	}
	path := filepath.Join(s.opts.Dir, fmt.Sprintf("seg-%020d.log", s.nextNum))
	s.nextNum++
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("create spool segment: %w", err)
	}
	s.active = f
	s.segs = append(s.segs, &segment{path: path, maxSeq: map[string]uint64{}})
	cp, _ := json.Marshal(checkpoint{Seq: s.lastSeq, Cursors: s.cursors})
	if err := s.write(append([]byte{kindCheckpoint}, cp...)); err != nil {
		return err
	}
	return atomicfile.SyncDir(s.opts.Dir)
}

// Ack records what the collector stored and deletes segments that hold
// nothing else. The segment being written is kept.
func (s *Spool) Ack(hwm map[string]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, seq := range hwm {
		s.acked[t] = max(s.acked[t], seq)
	}
	for len(s.segs) > 1 && s.covered(s.segs[0]) {
		s.removeOldest()
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
