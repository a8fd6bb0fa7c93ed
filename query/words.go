package query

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"unsafe"

	"github.com/zlog/zlog/collector/index/block"
)

// wordExpr is what a search asks of an event's words: a tree of phrases
// under AND, OR and NOT. It is matched against a decoded event, and asked
// of a block's filter whether the block can hold a match at all.
type wordExpr interface {
	match(d *doc) bool
	// mayMatch is false when no event summarised by f can match.
	mayMatch(f wordFilter) bool
	// filterWords calls fn with each word mayMatch may ask a filter about.
	filterWords(fn func(string))
}

// wordFilter is what a block's filter says: whether the block may hold a
// word (lower case).
type wordFilter interface{ MayContain(w string) bool }

// doc is an event's searchable text, split into words on first use.
type doc struct {
	message, fields string
	split           bool
	msgWords        []string
	fieldWords      []string
	lowered         bool
	text            textFilter // the event's text, once lowered
	block           textFilter // blockText's
	marks           []bool     // a block's rows holding a literal (plan.literalMarks)
}

func (d *doc) reset(message, fields string) {
	d.message, d.fields, d.split, d.lowered = message, fields, false, false
	d.msgWords, d.fieldWords = d.msgWords[:0], d.fieldWords[:0]
}

// mayHold is false when the text cannot hold the word w (lower case): a
// substring test that spares splitting most texts into words.
func (d *doc) mayHold(w string) bool {
	if !d.lowered {
		d.lowered = true
		d.text.reset()
		d.text.add(d.message)
		d.text.add(d.fields)
	}
	return d.text.MayContain(w)
}

// blockText is the text of rows' selected rows as a filter: one substring
// test per word for a whole block, which rules out most blocks a bloom
// filter let through by mistake before any row is split into words.
func (d *doc) blockText(rows []block.Row, selected []int) textFilter {
	d.block.reset()
	size := 0
	for _, k := range selected {
		size += len(rows[k].Message) + len(rows[k].Fields) + 2
	}
	// Grown once: growing by appends copied it over and over, and with
	// the fresh pages that was most of a rare word's search (measured).
	d.block.lower = slices.Grow(d.block.lower, size)
	for _, k := range selected {
		d.block.add(rows[k].Message)
		d.block.add(rows[k].Fields)
	}
	return d.block
}

// textFilter is text in ASCII lower case as a word filter: a word it does
// not hold is in none of its texts. Beyond ASCII it cannot tell (folding
// may make a word of other bytes) and says yes.
type textFilter struct {
	lower []byte // the texts, each followed by a NUL
	ascii bool
}

func (t textFilter) MayContain(w string) bool { return !t.ascii || bytes.Contains(t.lower, []byte(w)) }

func (t *textFilter) reset() { t.lower, t.ascii = t.lower[:0], true }

// add appends text in ASCII lower case.
func (t *textFilter) add(text string) {
	n := len(t.lower)
	t.lower = slices.Grow(t.lower, len(text)+1)[:n+len(text)+1]
	if lowerASCII(t.lower[n:n+len(text)], text) {
		t.ascii = false
	}
	t.lower[n+len(text)] = 0
}

// lowerASCII writes src into dst (as long) with A-Z in lower case, eight
// bytes at a time, and reports whether src has a byte beyond ASCII. A
// table lookup per byte was a seventh of a rare word's search, where a
// bloom filter's false positives are ruled out from their whole text.
func lowerASCII(dst []byte, src string) (nonASCII bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	var high uint64
	i := 0
	for ; i+8 <= len(src); i += 8 {
		x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(src[i:i+8]), 8))
		high |= x
		low := x &^ highs                           // each byte's low seven bits
		atLeastA := (low + (0x80-'A')*ones) & highs // bytes >= 'A' (of those below 0x80)
		pastZ := (low + (0x80-'Z'-1)*ones) & highs  // bytes > 'Z'
		upper := atLeastA &^ pastZ &^ x             // 0x80 in the bytes A-Z
		binary.LittleEndian.PutUint64(dst[i:], x|upper>>2)
	}
	for ; i < len(src); i++ {
		high |= uint64(src[i])
		dst[i] = asciiLower[src[i]]
	}
	return high&highs != 0
}

// asciiLower maps A-Z to a-z and every other byte to itself.
var asciiLower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = byte(c) + 'a' - 'A'
	}
	return t
}()

func (d *doc) words() ([]string, []string) {
	if !d.split {
		d.split = true
		block.Words(d.message, func(w string) { d.msgWords = append(d.msgWords, w) })
		block.Words(d.fields, func(w string) { d.fieldWords = append(d.fieldWords, w) })
	}
	return d.msgWords, d.fieldWords
}

// phrase is words that must follow each other in the message or in the
// fields; with prefix, the last one need only start so.
type phrase struct {
	words  []string
	prefix bool
}

func (p *phrase) match(d *doc) bool {
	for _, w := range p.words {
		if !d.mayHold(w) {
			return false
		}
	}
	msg, fields := d.words()
	return p.in(msg) || p.in(fields)
}

func (p *phrase) in(words []string) bool {
	n := len(p.words)
	for i := 0; i+n <= len(words); i++ {
		if p.at(words[i : i+n]) {
			return true
		}
	}
	return false
}

func (p *phrase) at(words []string) bool {
	last := len(p.words) - 1
	for i, w := range p.words {
		if i == last && p.prefix {
			if !strings.HasPrefix(words[i], w) {
				return false
			}
		} else if words[i] != w {
			return false
		}
	}
	return true
}

// whole are the words a filter can be asked about: all but a prefix.
func (p *phrase) whole() []string {
	if p.prefix {
		return p.words[:len(p.words)-1]
	}
	return p.words
}

func (p *phrase) mayMatch(f wordFilter) bool {
	for _, w := range p.whole() {
		if !f.MayContain(w) {
			return false
		}
	}
	return true
}

func (p *phrase) filterWords(fn func(string)) {
	for _, w := range p.whole() {
		fn(w)
	}
}

// single is the one word p stands for, when it is one whole word: its
// count in a block is then in the block's filter.
func (p *phrase) single() (string, bool) {
	if len(p.words) == 1 && !p.prefix {
		return p.words[0], true
	}
	return "", false
}

type andExpr []wordExpr

func (a andExpr) match(d *doc) bool {
	for _, x := range a {
		if !x.match(d) {
			return false
		}
	}
	return true
}

func (a andExpr) mayMatch(f wordFilter) bool {
	for _, x := range a {
		if !x.mayMatch(f) {
			return false
		}
	}
	return true
}

func (a andExpr) filterWords(fn func(string)) {
	for _, x := range a {
		x.filterWords(fn)
	}
}

type orExpr []wordExpr

func (o orExpr) filterWords(fn func(string)) {
	for _, x := range o {
		x.filterWords(fn)
	}
}

func (o orExpr) match(d *doc) bool {
	for _, x := range o {
		if x.match(d) {
			return true
		}
	}
	return false
}

func (o orExpr) mayMatch(f wordFilter) bool {
	for _, x := range o {
		if x.mayMatch(f) {
			return true
		}
	}
	return false
}

// notExpr is FTS5's binary NOT: has, and not hasNot.
type notExpr struct{ has, hasNot wordExpr }

func (n notExpr) match(d *doc) bool           { return n.has.match(d) && !n.hasNot.match(d) }
func (n notExpr) mayMatch(f wordFilter) bool  { return n.has.mayMatch(f) }
func (n notExpr) filterWords(fn func(string)) { n.has.filterWords(fn) }

// substring is a search word with no letters or digits (a lone "*" or
// "->"): no word holds it, so it must appear in the message or in a
// field's value as it is.
type substring string

func (s substring) match(d *doc) bool {
	return strings.Contains(d.message, string(s)) || fieldValuesContain(d.fields, string(s))
}
func (s substring) mayMatch(wordFilter) bool { return true }
func (s substring) filterWords(func(string)) {}

// phraseOf makes the phrase of text's words.
func phraseOf(text string, prefix bool) *phrase {
	p := &phrase{prefix: prefix}
	block.Words(text, func(w string) { p.words = append(p.words, strings.Clone(w)) })
	return p
}

// hasWord reports whether text holds a word.
func hasWord(text string) bool {
	found := false
	block.Words(text, func(string) { found = true })
	return found
}
