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

// closedSpoolOf10 is a spool of ten events of a.info, closed: its options
// and its last segment.
func closedSpoolOf10(t *testing.T) (Options, string) {
	t.Helper()
	opts := Options{Dir: t.TempDir(), SegmentBytes: 1 << 20, Fsync: FsyncAlways}
	s, _, err := Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, "a.info", 10)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(opts.Dir, "seg-*.log"))
	return opts, segs[len(segs)-1]
}

func TestTornAndCorruptRecords(t *testing.T) {
	opts, last := closedSpoolOf10(t)
	dir := opts.Dir
	st, _ := os.Stat(last)
	os.Truncate(last, st.Size()-5) // a torn final record: the append the process died in

	s, recs, err := Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	// Its Append never returned, so no source was answered for it: told
	// apart from a loss (a killed agent that lost nothing exits 0).
	if len(recs) != 9 || s.CorruptEvents != 0 || s.TornWrites != 1 || len(s.DamagedCopies) != 1 {
		t.Fatalf("torn tail: recovered %d, corrupt events %d, torn writes %d, copies %v", len(recs), s.CorruptEvents, s.TornWrites, s.DamagedCopies)
	}
	// The torn record's number may have reached a collector: never reused.
	if n := s.NextSeq("a.info"); n <= 10 {
		t.Fatalf("after a torn record the next number is %d, want above 10", n)
	}
	fill(t, s, "a.info", 1) // appends after the good records
	s.Close()

	// Flip a byte inside a record in the middle: that one event is lost,
	// every record after it is still read.
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	data, _ := os.ReadFile(segs[0])
	data[len(data)/2] ^= 0xff
	os.WriteFile(segs[0], data, 0o640)
	s, recs, err = Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	// 1..9 and the one appended after the torn tail were there; one is lost.
	if s.CorruptEvents != 1 || len(recs) != 9 {
		t.Fatalf("corrupt record: recovered %d, corrupt events %d", len(recs), s.CorruptEvents)
	}
	s.Close()
	// The damage was counted once: the segment was rewritten clean.
	s, recs, _ = Open(opts, id)
	if s.CorruptEvents != 0 || len(recs) != 9 {
		t.Fatalf("second open: recovered %d, corrupt events %d", len(recs), s.CorruptEvents)
	}
	s.Close()
}

// Bytes at the spool's end that are not the start of a record cut short
// (garbage, or a record whose header is damaged) are damage, not an append
// the process died in: an event is counted lost.
func TestGarbageAtTheEndIsALoss(t *testing.T) {
	for name, tail := range map[string][]byte{
		"garbage":                {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a},
		"length beyond a record": {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, kindEvent, 1, 2, 3},
		"unknown kind":           {0, 0, 1, 0, 0, 0, 0, 0, 0x7f, 1, 2, 3},
	} {
		t.Run(name, func(t *testing.T) {
			opts, last := closedSpoolOf10(t)
			f, err := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tail)
			f.Close()
			s, recs, err := Open(opts, id)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(recs) != 10 || s.CorruptEvents != 1 || s.TornWrites != 0 {
				t.Fatalf("recovered %d, corrupt events %d, torn writes %d; want 10, 1, 0", len(recs), s.CorruptEvents, s.TornWrites)
			}
		})
	}
}

// Fault 5: four bytes of garbage in the middle of a segment used to end it,
// dropping the 485 events after them as "1 corrupt record". Reading must
// resume after the garbage, counting events, not records.
func TestGarbageInsideASegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 1 << 20, Fsync: FsyncNever}
	s, _, _ := Open(opts, id)
	fill(t, s, "a.info", 1000)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	data, _ := os.ReadFile(segs[0])
	mid := len(data) / 2
	bad := append(append(append([]byte(nil), data[:mid]...), 0xde, 0xad, 0xbe, 0xef), data[mid:]...)
	os.WriteFile(segs[0], bad, 0o640)

	s, recs, err := Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(recs) < 999 || s.CorruptEvents != 1000-len(recs) {
		t.Fatalf("recovered %d of 1000 with %d counted lost", len(recs), s.CorruptEvents)
	}
	if recs[len(recs)-1].Seq != 1000 {
		t.Fatalf("last event recovered is %d, want 1000", recs[len(recs)-1].Seq)
	}
	kept, _ := os.ReadFile(s.DamagedCopies[0])
	if len(s.DamagedCopies) != 1 || string(kept) != string(bad) {
		t.Fatalf("damaged segment not kept as it was: %v", s.DamagedCopies)
	}
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

// Cursors must survive both a restart and the trimming of the segments
// that held the events carrying them: the checkpoint at the head of every
// new segment repeats them.
func TestCursorsSurviveTrimAndRestart(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 512, Fsync: FsyncNever}
	s, _, err := Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		r := rec("a.info", 0)
		r.Key, r.Cursor = "file-1", []byte(fmt.Sprintf("offset-%d", i))
		if _, err := s.AppendNext(r, func(seq uint64) ([][]byte, error) { return rec("a.info", seq).Frames, nil }); err != nil {
			t.Fatal(err)
		}
	}
	r := rec("b.info", 0)
	r.Key, r.Cursor = "file-2", []byte("offset-7")
	if _, err := s.AppendNext(r, func(seq uint64) ([][]byte, error) { return rec("b.info", seq).Frames, nil }); err != nil {
		t.Fatal(err)
	}
	// Everything of a.info acknowledged: its segments go; the cursor stays.
	s.Ack(map[string]uint64{"a.info": 50})
	for i := 0; i < 20; i++ { // fill past a segment so file-2's event is trimmed too
		if _, err := s.AppendNext(rec("c.info", 0), func(seq uint64) ([][]byte, error) { return rec("c.info", seq).Frames, nil }); err != nil {
			t.Fatal(err)
		}
	}
	s.Ack(map[string]uint64{"b.info": 1, "c.info": 20})
	if _, segs := s.Stats(); segs != 1 {
		t.Fatalf("segments after acking everything = %d, want 1", segs)
	}
	s.Close()

	s, recs, err := Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range recs { // the segment being written is kept, acknowledged or not
		if r.Topic != "c.info" {
			t.Errorf("recovered %s #%d from a trimmed segment", r.Topic, r.Seq)
		}
	}
	got := s.Cursors()
	if string(got["file-1"]) != "offset-50" || string(got["file-2"]) != "offset-7" {
		t.Errorf("cursors after restart = %q, want file-1=offset-50 file-2=offset-7", got)
	}
	s.ForgetCursor("file-2")
	if _, ok := s.Cursors()["file-2"]; ok {
		t.Error("ForgetCursor kept the key")
	}
}

// A spool written before cursors existed (record kinds 1 and 2) still
// recovers its events and numbering.
func TestRecoverVersion1Records(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "seg-00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Spool{opts: Options{Dir: dir}, segs: []*segment{{maxSeq: map[string]uint64{}}}, active: f, lastSeq: map[string]uint64{}, cursors: map[string][]byte{}}
	s.write(frameRecord(append([]byte{kindCheckpointV1}, `{"a.info":41}`...)))
	payload := []byte{kindEventV1, 0, 0, 0, 0, 0, 0, 0, 42, 6}
	payload = append(payload, "a.info"...)
	payload = append(payload, 0, 0, 0, 2, 'h', 'i')
	s.write(frameRecord(payload))
	f.Close()

	s, recs, err := Open(Options{Dir: dir, Fsync: FsyncNever}, id)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(recs) != 1 || recs[0].Seq != 42 || string(recs[0].Frames[0]) != "hi" || recs[0].Key != "" {
		t.Fatalf("recovered %+v", recs)
	}
	if s.NextSeq("a.info") != 43 {
		t.Error("numbering did not continue after the version 1 records")
	}
}

func TestEventRecordSizeIsExact(t *testing.T) {
	r := Record{Topic: "api.info", Seq: 7, Key: "2049:12", Cursor: []byte(`{"offset":1}`), Frames: [][]byte{[]byte("a"), nil, []byte("hello")}}
	if got, want := len(appendEventRecord(nil, &r)), eventRecordSize(&r); got != want {
		t.Fatalf("record is %d bytes, size says %d", got, want)
	}
}

// A batch numbers each topic on from its last number, keeps every key's
// last cursor, and is written whole or not at all.
func TestAppendNextBatch(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 1 << 20, MaxBytes: 4096, Fsync: FsyncNever}
	s, _, err := Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, "a.info", 3)
	batch := func(n int) []Record {
		rs := make([]Record, n)
		for i := range rs {
			rs[i] = Record{Topic: []string{"a.info", "b.warn"}[i%2], Key: "f", Cursor: []byte(fmt.Sprint(i))}
		}
		return rs
	}
	build := func(rs []Record) func(int, uint64) ([][]byte, error) {
		return func(i int, seq uint64) ([][]byte, error) { return rec(rs[i].Topic, seq).Frames, nil }
	}
	rs := batch(4)
	if err := s.AppendNextBatch(rs, build(rs)); err != nil {
		t.Fatal(err)
	}
	if got := []uint64{rs[0].Seq, rs[1].Seq, rs[2].Seq, rs[3].Seq}; fmt.Sprint(got) != "[4 1 5 2]" {
		t.Fatalf("batch numbered %v, want [4 1 5 2]", got)
	}
	big := batch(100) // more than MaxBytes: refused whole, numbers not used up
	if err := s.AppendNextBatch(big, build(big)); !errors.Is(err, ErrFull) {
		t.Fatalf("oversized batch: %v, want ErrFull", err)
	}
	if s.LastSeq("a.info") != 5 || s.LastSeq("b.warn") != 2 {
		t.Fatalf("a refused batch used numbers: a.info %d, b.warn %d", s.LastSeq("a.info"), s.LastSeq("b.warn"))
	}
	s.Close()
	s, recs, err := Open(opts, id)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(recs) != 7 || string(recs[6].Frames[2]) != "message 2" || string(s.Cursors()["f"]) != "3" {
		t.Fatalf("recovered %d records, last %+v, cursor %q", len(recs), recs[len(recs)-1], s.Cursors()["f"])
	}
}
