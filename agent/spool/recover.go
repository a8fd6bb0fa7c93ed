package spool

import (
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/zlog/zlog/schema/atomicfile"
)

// Recovery reads every segment whole. A record that does not verify (bad
// length, checksum or content) does not end its segment: the reader steps
// forward byte by byte to the next record that verifies, so a few damaged
// bytes cost the events they hit and nothing after them. The events lost
// are counted by sequence number, not by record: each segment starts with a
// checkpoint of every topic's last number, so the numbers a segment should
// hold are known and the missing ones are the loss. A damaged segment is
// copied to damaged/ for inspection and rewritten with its good records,
// so the next start does not count the loss again.

// scanned is one record found in a segment; damageBefore marks one that
// follows bytes that did not verify.
type scanned struct {
	decoded
	kind         byte
	off, size    int
	damageBefore bool
}

// segmentScan is what recovery found in one segment file.
type segmentScan struct {
	path    string
	records []scanned
	damaged int  // bytes that belong to no valid record
	torn    bool // the damage reaches the end: a record cut short
	// cutShort: the damage at the end is one record's start, its header
	// whole and its length running past the end, as a write(2) cut short
	// by the process's death leaves it (the kernel stops copying at a page
	// boundary when a fatal signal arrives).
	cutShort bool
}

func scanSegment(path string) (segmentScan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return segmentScan{}, fmt.Errorf("read spool segment %q: %w", path, err)
	}
	sc := segmentScan{path: path}
	damage := false
	for off := 0; off < len(data); {
		d, kind, size, ok := parseRecord(data[off:])
		if ok {
			sc.records = append(sc.records, scanned{decoded: d, kind: kind, off: off, size: size, damageBefore: damage})
			off += size
			damage = false
			continue
		}
		start := off
		for off++; off < len(data); off++ {
			if _, _, _, ok := parseRecord(data[off:]); ok {
				break
			}
		}
		sc.damaged += off - start
		sc.torn = off == len(data)
		sc.cutShort = sc.torn && recordCutShort(data[start:])
		damage = true
	}
	return sc, nil
}

// tornWrite reports whether the segment (followed by next, nil for the
// newest) ends in the record being written when the process died: its
// Append never returned, so its source was never answered for it. Not a
// loss; told apart from one.
func (sc segmentScan) tornWrite(next *segmentScan) bool { return next == nil && sc.cutShort }

// recordCutShort reports whether b is the start of one record whose end
// is missing: a header declaring more bytes than follow, and a known kind.
func recordCutShort(b []byte) bool {
	if len(b) <= headerLen {
		return len(b) > 0
	}
	n := binary.BigEndian.Uint32(b[:4])
	k := b[headerLen]
	return n > 0 && n <= maxRecord && uint64(len(b)-headerLen) < uint64(n) && k >= kindEventV1 && k <= kindCheckpoint
}

// restore rebuilds the spool's state from the scanned segments and returns
// the events they hold, oldest first.
func (s *Spool) restore(scans []segmentScan) ([]Record, error) {
	var recs []Record
	damaged := 0
	for i, sc := range scans {
		seg := &segment{path: sc.path, maxSeq: map[string]uint64{}}
		for _, r := range sc.records {
			seg.size += int64(r.size)
			switch r.kind {
			case kindCheckpoint:
				for t, seq := range r.checkpoint.Seq {
					s.lastSeq[t] = max(s.lastSeq[t], seq)
				}
				for t, seq := range r.checkpoint.Acked {
					s.acked[t] = max(s.acked[t], seq)
				}
				for k, c := range r.checkpoint.Cursors {
					s.cursors[k] = c
				}
			case kindEvent:
				if r.Key != "" {
					s.cursors[r.Key] = r.Cursor
				}
				s.lastSeq[r.Topic] = max(s.lastSeq[r.Topic], r.Seq)
				seg.maxSeq[r.Topic] = max(seg.maxSeq[r.Topic], r.Seq)
				seg.events++
				recs = append(recs, r.Record)
			}
		}
		if sc.damaged > 0 {
			var next *segmentScan
			if i+1 < len(scans) {
				next = &scans[i+1]
			}
			if sc.tornWrite(next) {
				s.TornWrites++
			}
			s.CorruptEvents += lostEvents(sc, next)
			damaged += sc.damaged
			if err := s.setAside(sc); err != nil {
				return nil, err
			}
		}
		s.segs = append(s.segs, seg)
		s.total += seg.size
	}
	recs = slices.DeleteFunc(recs, func(r Record) bool { return r.Seq <= s.acked[r.Topic] })
	if damaged > 0 {
		// The damaged bytes may have held the newest numbers, which a
		// collector may already store: never hand them out again.
		skip := uint64(damaged/minEventRecord + 1)
		for t := range s.lastSeq {
			s.lastSeq[t] += skip
		}
	}
	return recs, nil
}

// minEventRecord is the smallest event record: header, kind, seq, topic
// and key lengths, cursor length, and the 3 frames of the shortest event.
const minEventRecord = headerLen + 1 + 8 + 1 + 1 + 4 + 3*4 + 20

// lostEvents counts the events damaged bytes took: per topic, the numbers
// missing between the last event (or the opening checkpoint) before a
// damaged stretch and the first event after it, or the next segment's
// checkpoint when none follows in this segment. Numbers skipped on purpose
// (after earlier damage) are not counted, since no damage lies between.
func lostEvents(sc segmentScan, next *segmentScan) int {
	last := map[string]uint64{} // per topic, the last number known present
	if len(sc.records) > 0 && sc.records[0].kind == kindCheckpoint && !sc.records[0].damageBefore {
		maps.Copy(last, sc.records[0].checkpoint.Seq)
	}
	hit := map[string]bool{} // damage since the topic's last event
	lost := 0
	for _, r := range sc.records {
		if r.damageBefore {
			for t := range last {
				hit[t] = true
			}
		}
		if r.kind != kindEvent {
			continue
		}
		if prev, ok := last[r.Topic]; ok && hit[r.Topic] && r.Seq > prev+1 {
			lost += int(r.Seq - prev - 1)
		}
		last[r.Topic], hit[r.Topic] = r.Seq, false
	}
	if !sc.torn || sc.tornWrite(next) {
		return lost
	}
	if next == nil || len(next.records) == 0 || next.records[0].kind != kindCheckpoint {
		return lost + 1 // a record cut short at the end: the one being written
	}
	for t, seq := range next.records[0].checkpoint.Seq {
		if prev, ok := last[t]; ok && seq > prev {
			lost += int(seq - prev)
		}
	}
	return lost
}

// setAside copies a damaged segment to damaged/ and rewrites it with its
// good records only.
func (s *Spool) setAside(sc segmentScan) error {
	data, err := os.ReadFile(sc.path)
	if err != nil {
		return fmt.Errorf("read damaged spool segment: %w", err)
	}
	dir := filepath.Join(s.opts.Dir, "damaged")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("keep damaged spool segment: %w", err)
	}
	keep := filepath.Join(dir, fmt.Sprintf("%s.%d", filepath.Base(sc.path), time.Now().UnixNano()))
	if err := os.WriteFile(keep, data, 0o640); err != nil {
		return fmt.Errorf("keep damaged spool segment: %w", err)
	}
	var good []byte
	for _, r := range sc.records {
		good = append(good, data[r.off:r.off+r.size]...)
	}
	if err := atomicfile.Write(sc.path, good, 0o640); err != nil {
		return fmt.Errorf("rewrite damaged spool segment: %w", err)
	}
	s.DamagedCopies = append(s.DamagedCopies, keep)
	return nil
}
