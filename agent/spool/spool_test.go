package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func id() string { return "pub-test" }

func rec(topic string, seq uint64) Record {
	return Record{Topic: topic, Seq: seq, Frames: [][]byte{[]byte(topic), []byte("env"), []byte(fmt.Sprintf("message %d", seq))}}
}

func fill(t *testing.T, s *Spool, topic string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		seq := s.NextSeq(topic)
		if err := s.Append(rec(topic, seq)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecoverTrimAndNumbering(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 1024, Fsync: FsyncNever}
	s, recs, err := Open(opts, id)
	if err != nil || len(recs) != 0 {
		t.Fatal(err, recs)
	}
	fill(t, s, "a.info", 100)
	fill(t, s, "b.warn", 10)
	s.Close()

	s, recs, err = Open(opts, func() string { return "other" })
	if err != nil {
		t.Fatal(err)
	}
	if s.PublisherID() != "pub-test" {
		t.Fatalf("publisher id not kept: %q", s.PublisherID())
	}
	if len(recs) != 110 || recs[0].Seq != 1 || recs[99].Seq != 100 || recs[109].Topic != "b.warn" || string(recs[5].Frames[2]) != "message 6" {
		t.Fatalf("recovered %d records: first %+v", len(recs), recs[0])
	}
	_, segs := s.Stats()
	if segs < 5 {
		t.Fatalf("want several segments, got %d", segs)
	}
	// Everything acked: old segments go, numbering survives in checkpoints.
	s.Ack(map[string]uint64{"a.info": 100, "b.warn": 10})
	if _, segs := s.Stats(); segs != 1 {
		t.Fatalf("after full ack %d segments remain", segs)
	}
	s.Close()
	s, recs, err = Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.NextSeq("a.info"); n != 101 {
		t.Fatalf("numbering restarted at %d, want 101", n)
	}
	if s.LastSeq("b.warn") != 10 {
		t.Fatalf("b.warn last seq %d", s.LastSeq("b.warn"))
	}
	// Acked events may remain in the segment being written; they are resent
	// and the collector drops them as duplicates.
	if len(recs) > 110 {
		t.Fatalf("recovered %d records after a full ack", len(recs))
	}
	s.Close()
}

func TestTornAndCorruptRecords(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 1 << 20, Fsync: FsyncAlways}
	s, _, _ := Open(opts, id)
	fill(t, s, "a.info", 10)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	last := segs[len(segs)-1]
	st, _ := os.Stat(last)
	os.Truncate(last, st.Size()-5) // a torn final record

	s, recs, err := Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 9 || s.Corrupt != 1 {
		t.Fatalf("torn tail: recovered %d, corrupt %d", len(recs), s.Corrupt)
	}
	fill(t, s, "a.info", 1) // appends after the good records
	s.Close()

	// Flip a byte inside the second record of the first segment.
	segs, _ = filepath.Glob(filepath.Join(dir, "seg-*.log"))
	data, _ := os.ReadFile(segs[0])
	data[len(data)/2] ^= 0xff
	os.WriteFile(segs[0], data, 0o640)
	s, recs, err = Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Corrupt != 1 || len(recs) >= 10 {
		t.Fatalf("corrupt record: recovered %d, corrupt %d", len(recs), s.Corrupt)
	}
	s.Close()
}

func TestFullPolicies(t *testing.T) {
	s, _, _ := Open(Options{Dir: t.TempDir(), SegmentBytes: 512, MaxBytes: 2048, Fsync: FsyncNever}, id)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = s.Append(rec("a.info", s.NextSeq("a.info")))
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("blocking spool: %v", err)
	}
	s.Close()

	d, _, _ := Open(Options{Dir: t.TempDir(), SegmentBytes: 512, MaxBytes: 2048, DropOldest: true, Fsync: FsyncNever}, id)
	fill(t, d, "a.info", 100)
	if bytes, _ := d.Stats(); bytes > 2048 || d.DroppedOldest() == 0 {
		t.Fatalf("drop-oldest spool: %d bytes, dropped %d", bytes, d.DroppedOldest())
	}
	d.Close()
}

// FuzzRecover: no segment content makes Open fail or panic.
func FuzzRecover(f *testing.F) {
	dir := f.TempDir()
	s, _, _ := Open(Options{Dir: dir, Fsync: FsyncNever}, id)
	for i := uint64(1); i <= 3; i++ {
		s.Append(rec("a.info", i))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	seed, _ := os.ReadFile(segs[0])
	f.Add(seed)
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "seg-00000000000000000000.log"), data, 0o640)
		s, _, err := Open(Options{Dir: dir, Fsync: FsyncNever}, id)
		if err != nil {
			t.Fatalf("Open failed on a corrupt segment: %v", err)
		}
		if err := s.Append(rec("a.info", s.NextSeq("a.info"))); err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
}
