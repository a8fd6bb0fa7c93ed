package query

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/zlog/zlog/collector/index/block"
)

// A regex over the message names literals every match holds. Searching a
// block's messages for the longest of them once, end to end, finds the
// few rows worth testing; one search per row cost more than the regex
// itself (measured: a regex over an hour of 10M events spent a fifth of
// its time in strings.Contains per message).

// messageLiteral is the longest literal that every event the plan's row
// conditions keep holds in its message: one of a regex over the message
// among the conditions all of which must hold; "" when none.
func (p *plan) messageLiteral() string {
	and, ok := p.rows.(andCond)
	if !ok {
		return ""
	}
	lit := ""
	for _, c := range and {
		if mc, ok := c.(messageCond); ok {
			for _, l := range mc.lits {
				if len(l) > len(lit) {
					lit = l
				}
			}
		}
	}
	return lit
}

// literalMarks marks the rows whose message holds the plan's message
// literal, in d's memory; nil when the plan has none or the rows'
// messages do not lie end to end in memory (then every row is tested).
func (p *plan) literalMarks(rows []block.Row, d *doc) []bool {
	if p.msgLiteral == "" {
		return nil
	}
	joined, ok := joinedMessages(rows)
	if !ok {
		return nil
	}
	d.marks = literalRows(joined, rows, p.msgLiteral, d.marks)
	return d.marks
}

// joinedMessages is rows' messages as one text when they lie end to end
// in memory, as a borrowing codec decodes them (block.Codec.Borrow);
// ok is false otherwise.
func joinedMessages(rows []block.Row) (joined string, ok bool) {
	var start, next *byte
	total := 0
	for i := range rows {
		m := rows[i].Message
		if len(m) == 0 {
			continue
		}
		at := unsafe.StringData(m)
		switch {
		case start == nil:
			start = at
		case at != next:
			return "", false
		}
		next = (*byte)(unsafe.Add(unsafe.Pointer(at), len(m)))
		total += len(m)
	}
	if start == nil {
		return "", true
	}
	return unsafe.String(start, total), true
}

// literalRows marks the rows whose message holds lit (not empty), given
// joined, their messages end to end: a match across two messages marks
// neither.
func literalRows(joined string, rows []block.Row, lit string, marks []bool) []bool {
	f := newLiteralFinder(lit)
	marks = slices.Grow(marks[:0], len(rows))[:len(rows)]
	clear(marks)
	row, end := 0, 0 // rows[row]'s message ends at joined[end]
	if len(rows) > 0 {
		end = len(rows[0].Message)
	}
	for pos := 0; pos < len(joined); {
		i := f.index(joined[pos:])
		if i < 0 {
			break
		}
		at := pos + i
		for end <= at {
			row++
			end += len(rows[row].Message)
		}
		if at+len(lit) <= end {
			marks[row] = true
			pos = end // the rest of this message does not matter
		} else {
			pos = at + 1
		}
	}
	return marks
}

// literalFinder finds a literal by its rarest byte: strings.Index looks
// for the first byte, and in log text that is often a common letter
// ("took " has a t every dozen bytes, a k every hundred), so it stopped
// at a candidate every few bytes (measured: most of the block-wide search).
type literalFinder struct {
	lit  string
	off  int  // where rare sits in lit
	rare byte // lit's byte least common in log text (byteRank)
}

func newLiteralFinder(lit string) literalFinder {
	f := literalFinder{lit: lit, rare: lit[0]}
	for i := 1; i < len(lit); i++ {
		if byteRank(lit[i]) < byteRank(f.rare) {
			f.off, f.rare = i, lit[i]
		}
	}
	return f
}

// index is the offset of the first f.lit in s, -1 when there is none.
func (f literalFinder) index(s string) int {
	for pos := 0; pos+len(f.lit) <= len(s); {
		i := strings.IndexByte(s[pos+f.off:len(s)-len(f.lit)+f.off+1], f.rare)
		if i < 0 {
			return -1
		}
		at := pos + i
		if s[at:at+len(f.lit)] == f.lit {
			return at
		}
		pos = at + 1
	}
	return -1
}

// commonBytes are the bytes of log text, most common first (English
// letter frequencies, with the space, digits and a log's punctuation
// put among them); any other byte is rarer than all of them.
const commonBytes = " etaoinsrhldcu0123456789mfpgwy=:.-/_b,vkTSEIAxj\"qz"

// byteRank is how common b is in log text: higher is more common.
func byteRank(b byte) int {
	if i := strings.IndexByte(commonBytes, b); i >= 0 {
		return len(commonBytes) - i
	}
	return 0
}
