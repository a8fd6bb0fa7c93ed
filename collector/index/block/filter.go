package block

import (
	"encoding/binary"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/text/unicode/norm"
)

// Filter says which words a block's messages and fields may hold, without
// decompressing it: the words in many of its rows with the exact number of
// rows holding each (so a count of a common word is a sum over blocks), and
// a bloom filter of every word (so a rare word skips almost every block).
type Filter struct {
	Counts []WordCount // ascending by Word
	Bloom  Bloom
}

// WordCount is a frequent word and how many rows of the block hold it.
type WordCount struct {
	Word string
	Rows uint32
}

// frequent is how many of a block's rows a word must be in to get an
// exact count: words in fewer are left to the bloom filter, which keeps
// one-off ids (most of a log's distinct words) out of the counts.
func frequent(rows int) uint32 { return uint32(max(4, rows/32)) }

// NewFilter builds the filter of rows' messages and fields.
func NewFilter(rows []Row) Filter {
	var b filterBuilder
	return b.build(rows)
}

// filterBuilder builds filters, keeping its tables from one block to the
// next (a codec encodes thousands of blocks). Words are tallied by their
// 64-bit hash (the bloom filter needs it anyway): two words of one block
// sharing a hash is a chance of about 1 in 10^12.
type filterBuilder struct {
	index   wordIndex
	tallies []tally
	hashes  []uint64
	row     int32
	count   func(string)
}

type tally struct {
	word    string
	rows    uint32
	lastRow int32 // the last row counted, so a word counts once per row
}

func (b *filterBuilder) build(rows []Row) Filter {
	b.tally(rows)
	return b.finish(len(rows))
}

// tally counts the rows holding each word of rows.
func (b *filterBuilder) tally(rows []Row) {
	if b.count == nil {
		b.count = b.add
	}
	b.index.reset(len(b.tallies))
	b.tallies, b.hashes = b.tallies[:0], b.hashes[:0]
	for i := range rows {
		b.row = int32(i)
		Words(rows[i].Message, b.count)
		Words(rows[i].Fields, b.count)
	}
}

// finish makes the filter of the words tallied from rows rows.
func (b *filterBuilder) finish(rows int) Filter {
	f := makeFilter(b.hashes, rows, func(j int) uint32 { return b.tallies[j].rows }, func(j int) string { return strings.Clone(b.tallies[j].word) })
	b.release()
	return f
}

// release lets the tallied rows' text go.
func (b *filterBuilder) release() { clear(b.tallies) }

// makeFilter is the filter of the words with the given hashes in a block
// of rows rows: all in the bloom filter, and the counts of those in
// frequent(rows) rows or more (count(j) rows hold word(j)).
func makeFilter(hashes []uint64, rows int, count func(j int) uint32, word func(j int) string) Filter {
	f := Filter{Bloom: NewBloom(len(hashes))}
	for j, h := range hashes {
		f.Bloom.add(h)
		if n := count(j); n >= frequent(rows) {
			f.Counts = append(f.Counts, WordCount{word(j), n})
		}
	}
	slices.SortFunc(f.Counts, func(a, b WordCount) int { return strings.Compare(a.Word, b.Word) })
	return f
}

func (b *filterBuilder) add(w string) {
	h := xxhash.Sum64String(w)
	j, ok := b.index.find(h, int32(len(b.tallies)))
	if !ok {
		b.tallies = append(b.tallies, tally{word: w, lastRow: -1})
		b.hashes = append(b.hashes, h)
	}
	if t := &b.tallies[j]; t.lastRow != b.row {
		t.lastRow = b.row
		t.rows++
	}
}

// wordIndex maps a word's hash to its tally by open addressing over the
// hash itself, which is uniform already: a Go map hashed it again and
// probed its groups, 7 % of the collector's CPU at full ingest.
type wordIndex struct {
	slots []wordSlot // a power of two long, at most half full
	used  int
}

type wordSlot struct {
	hash  uint64
	tally int32 // index into tallies plus one; 0 is an empty slot
}

// reset empties the index, sized for about words entries.
func (x *wordIndex) reset(words int) {
	size := 1 << 10
	for size < 2*words {
		size <<= 1
	}
	if len(x.slots) != size {
		x.slots = make([]wordSlot, size)
	} else {
		clear(x.slots)
	}
	x.used = 0
}

// find returns the tally of hash, or adds next as its tally and reports
// false.
func (x *wordIndex) find(hash uint64, next int32) (int32, bool) {
	if 2*(x.used+1) > len(x.slots) {
		x.grow()
	}
	mask := uint64(len(x.slots) - 1)
	for i := hash & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		switch {
		case s.tally == 0:
			*s = wordSlot{hash, next + 1}
			x.used++
			return next, false
		case s.hash == hash:
			return s.tally - 1, true
		}
	}
}

func (x *wordIndex) grow() {
	old := x.slots
	x.slots = make([]wordSlot, 2*len(old))
	mask := uint64(len(x.slots) - 1)
	for _, s := range old {
		if s.tally == 0 {
			continue
		}
		i := s.hash & mask
		for x.slots[i].tally != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = s
	}
}

// Words calls fn with each word of text as SQLite's unicode61 tokenizer
// with remove_diacritics 2 sees it (schema 3 indexed with it, so words mean
// the same in every partition): runs of letters, numbers and private-use
// characters, lower-cased, accents removed. ASCII words already in lower
// case are handed out as substrings of text, without a copy.
func Words(text string, fn func(string)) {
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf && asciiClass[c] == asciiSeparator {
			i++
			continue
		}
		// A word starts at i: ASCII letters and digits run through a
		// table; the first other byte hands the rest of it to wordAt.
		start, upper := i, false
		for i < len(text) && text[i] < utf8.RuneSelf && asciiClass[text[i]] != asciiSeparator {
			upper = upper || asciiClass[text[i]] == asciiUpper
			i++
		}
		if i < len(text) && text[i] >= utf8.RuneSelf {
			i = wordAt(text, start, i)
			if i > start {
				fn(word(text[start:i], false))
				continue
			}
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size // a separator beyond ASCII
			continue
		}
		fn(word(text[start:i], !upper))
	}
}

// wordAt finds the end of the word that starts at start and is ASCII up
// to i.
func wordAt(text string, start, i int) int {
	for i < len(text) {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		if !isWordRune(r) {
			break
		}
		i += size
	}
	return i
}

const (
	asciiSeparator = iota
	asciiLower     // lower-case letters and digits
	asciiUpper
)

// asciiClass sorts ASCII bytes for Words.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = asciiLower
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = asciiLower
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = asciiUpper
	}
	return t
}()

func isWordRune(r rune) bool {
	if r < 0x80 { // most of a log: no table lookups
		return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z'
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r) || unicode.Is(unicode.Mn, r)
}

func word(w string, lower bool) string {
	if lower {
		return w
	}
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			return fold(w)
		}
	}
	return strings.ToLower(w)
}

// fold lower-cases a word and strips its accents: é and É become e.
func fold(w string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(w) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return norm.NFC.String(b.String())
}

// Bloom is a blocked bloom filter: lines of LineBytes, each word's bits all
// in one line, so that a probe reads one line, and the same line of many
// blocks can be stored side by side (a filter group) and read at once.
type Bloom []byte

// LineBytes is the size of a bloom filter line: a cache line.
const LineBytes = 64

const (
	// bloomBits is the least number of bits per distinct word; line
	// counts round up (by at most an eighth) from it. Each block a rare
	// word's filter fails to rule out costs a search about 0.25 ms to
	// decode, and a search over 10M events of the bench probes about
	// 2,000 blocks (of 4,096 events). Measured (TestFilter): 12 bits and 6 hashes let
	// 0.55 % of absent words through, 14 bits and 7 hashes 0.25 %, 16
	// bits and 6 hashes 0.13 %; each bit costs about 0.4 bytes per event.
	// 14 bits: the filters were a sixth of the index, and a word's 0.25 %
	// costs a rare word's search over 10M events about three blocks
	// more (computed).
	bloomBits   = 14
	bloomHashes = 7
)

// BloomLines is how many lines a filter of n distinct words has: the
// least of 1, 2, …, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, … (each
// step at most an eighth more) that gives n words bloomBits bits each.
// A few sizes recur, so that a filter group holds few (a word is looked
// up once per size in a group); steps of a quarter gave filters 12 %
// more bits than asked on average, an eighth 6 %.
func BloomLines(n int) int {
	need := (n*bloomBits + LineBytes*8 - 1) / (LineBytes * 8)
	l := 1
	for l < need {
		l = max(l+1, l*9/8)
	}
	return l
}

// NewBloom returns an empty filter for n distinct words.
func NewBloom(n int) Bloom { return make(Bloom, BloomLines(n)*LineBytes) }

// Lines is how many lines the filter has.
func (b Bloom) Lines() int { return len(b) / LineBytes }

// HashWord is the hash a bloom filter keeps of a word.
func HashWord(w string) uint64 { return xxhash.Sum64String(w) }

// LineOf is the line of a filter of lines lines that holds hash h.
func LineOf(h uint64, lines int) int { return int((h >> 32) * uint64(lines) >> 32) }

// LineHas reports whether a line has every bit of hash h.
func LineHas(line []byte, h uint64) bool {
	h1, h2 := uint32(h), uint32(h*0x9E3779B97F4A7C15>>32)|1
	for i := uint32(0); i < bloomHashes; i++ {
		bit := (h1 + i*h2) % (LineBytes * 8)
		if line[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
	}
	return true
}

func (b Bloom) add(h uint64) {
	line := b[LineOf(h, b.Lines())*LineBytes:][:LineBytes]
	h1, h2 := uint32(h), uint32(h*0x9E3779B97F4A7C15>>32)|1
	for i := uint32(0); i < bloomHashes; i++ {
		bit := (h1 + i*h2) % (LineBytes * 8)
		line[bit/8] |= 1 << (bit % 8)
	}
}

// MayContain is false when no row of the block holds the word w (lower
// case). A damaged filter (not whole lines) says yes, so the block is
// read and its damage seen.
func (b Bloom) MayContain(w string) bool {
	if len(b) == 0 || len(b)%LineBytes != 0 {
		return true
	}
	h := HashWord(w)
	return LineHas(b[LineOf(h, b.Lines())*LineBytes:][:LineBytes], h)
}

// Probe is the lines a block's filter holds for a few words' hashes:
// what a search reads of a filter not yet in a group, instead of the
// whole of it (an ungrouped filter is kilobytes, each copied out of
// SQLite into fresh memory: a seventh of a cold rare-word search's page
// faults, measured).
type Probe struct {
	Hashes []uint64
	Lines  [][]byte // the line of each hash; not LineBytes long when the filter is damaged
}

// MayContain is Bloom.MayContain from the probed lines: a word whose
// hash was not probed, or whose line is damaged, may be there.
func (p Probe) MayContain(w string) bool {
	h := HashWord(w)
	for i, x := range p.Hashes {
		if x == h {
			return len(p.Lines[i]) != LineBytes || LineHas(p.Lines[i], h)
		}
	}
	return true
}

// MarshalCounts encodes a filter's counts: their number, then each word's
// length, word and rows as varints and bytes.
func MarshalCounts(counts []WordCount) []byte {
	b := binary.AppendUvarint(nil, uint64(len(counts)))
	for _, c := range counts {
		b = binary.AppendUvarint(b, uint64(len(c.Word)))
		b = append(b, c.Word...)
		b = binary.AppendUvarint(b, uint64(c.Rows))
	}
	return b
}

// Counts are marshalled counts, read in place (no allocation): a count of
// a common word reads them for thousands of blocks.
type Counts []byte

// Rows is how many rows hold the word w, when w is one of the counted
// words; ok is false otherwise, or when the counts are damaged.
func (c Counts) Rows(w string) (n uint32, ok bool) {
	r := reader{b: c}
	count := r.uvarint()
	for i := uint64(0); i < count && r.err == nil; i++ {
		l := r.uvarint()
		if l > uint64(len(r.b)) {
			return 0, false
		}
		word := r.b[:l]
		r.b = r.b[l:]
		rows := r.uvarint()
		switch cmp := strings.Compare(string(word), w); {
		case cmp == 0:
			return uint32(rows), r.err == nil
		case cmp > 0: // words ascend: w is not here
			return 0, false
		}
	}
	return 0, false
}
