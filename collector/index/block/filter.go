package block

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/text/unicode/norm"
)

// Filter says which words a block's messages and fields may hold, without
// decompressing it: the words in many of its rows with the exact number of
// rows holding each (so a count of a common word is a sum over blocks, the
// one search zlog answers 20× sooner than VictoriaLogs), and a bloom filter
// of every word (so a rare word skips almost every block).
type Filter struct {
	Counts []WordCount // ascending by Word
	Bloom  []byte      // bloomBits bits per distinct word, bloomHashes hashes
}

// WordCount is a frequent word and how many rows of the block hold it.
type WordCount struct {
	Word string
	Rows uint32
}

const (
	bloomBits   = 10 // per distinct word: about 1 % false positives
	bloomHashes = 7
)

// frequent is how many of a block's rows a word must be in to get an
// exact count: words in fewer are left to the bloom filter, which keeps
// one-off ids (most of a log's distinct words) out of the counts.
func frequent(rows int) uint32 { return uint32(max(4, rows/32)) }

// NewFilter builds the filter of rows' messages and fields.
func NewFilter(rows []Row) Filter {
	type tally struct {
		rows    uint32
		lastRow int // the last row counted, so a word counts once per row
	}
	index := map[string]int{}
	var tallies []tally
	for i := range rows {
		count := func(w string) {
			j, ok := index[w]
			if !ok {
				j = len(tallies)
				index[w] = j
				tallies = append(tallies, tally{lastRow: -1})
			}
			if t := &tallies[j]; t.lastRow != i {
				t.lastRow = i
				t.rows++
			}
		}
		Words(rows[i].Message, count)
		Words(rows[i].Fields, count)
	}
	f := Filter{Bloom: make([]byte, max(8, (len(index)*bloomBits+7)/8))}
	for w, j := range index {
		f.add(w)
		if n := tallies[j].rows; n >= frequent(len(rows)) {
			f.Counts = append(f.Counts, WordCount{w, n})
		}
	}
	slices.SortFunc(f.Counts, func(a, b WordCount) int { return strings.Compare(a.Word, b.Word) })
	return f
}

// Words calls fn with each word of text as SQLite's unicode61 tokenizer
// with remove_diacritics 2 sees it (schema 3 indexed with it, so words mean
// the same in every partition): runs of letters, numbers and private-use
// characters, lower-cased, accents removed. ASCII words already in lower
// case are handed out as substrings of text, without a copy.
func Words(text string, fn func(string)) {
	start, lower := -1, true
	for i := 0; i < len(text); {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		if isWordRune(r) {
			if start < 0 {
				start, lower = i, true
			}
			lower = lower && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		} else if start >= 0 {
			fn(word(text[start:i], lower))
			start = -1
		}
		i += size
	}
	if start >= 0 {
		fn(word(text[start:], lower))
	}
}

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

func (f *Filter) positions(w string, at func(bit uint64)) {
	h := xxhash.Sum64String(w)
	h1, h2 := h&0xffffffff, h>>32|1
	m := uint64(len(f.Bloom)) * 8
	for i := uint64(0); i < bloomHashes; i++ {
		at((h1 + i*h2) % m)
	}
}

func (f *Filter) add(w string) {
	f.positions(w, func(bit uint64) { f.Bloom[bit/8] |= 1 << (bit % 8) })
}

// MayContain is false when no row of the block holds the word w (lower
// case): then the block need not be read.
func (f *Filter) MayContain(w string) bool {
	if _, ok := f.count(w); ok {
		return true
	}
	all := true
	f.positions(w, func(bit uint64) { all = all && f.Bloom[bit/8]&(1<<(bit%8)) != 0 })
	return all
}

// Rows is how many rows hold the word w when exact; otherwise the block
// must be read to count them.
func (f *Filter) Rows(w string) (n uint32, exact bool) {
	if n, ok := f.count(w); ok {
		return n, true
	}
	if !f.MayContain(w) {
		return 0, true
	}
	return 0, false
}

func (f *Filter) count(w string) (uint32, bool) {
	i, ok := slices.BinarySearchFunc(f.Counts, w, func(c WordCount, w string) int { return strings.Compare(c.Word, w) })
	if !ok {
		return 0, false
	}
	return f.Counts[i].Rows, true
}

// Marshal encodes the filter: the number of counts, each word's length,
// word and rows as varints and bytes, then the bloom filter.
func (f *Filter) Marshal() []byte {
	b := binary.AppendUvarint(nil, uint64(len(f.Counts)))
	for _, c := range f.Counts {
		b = binary.AppendUvarint(b, uint64(len(c.Word)))
		b = append(b, c.Word...)
		b = binary.AppendUvarint(b, uint64(c.Rows))
	}
	return append(b, f.Bloom...)
}

// UnmarshalFilter decodes what Marshal encoded.
func UnmarshalFilter(b []byte) (Filter, error) {
	r := reader{b: b}
	var f Filter
	n := r.uvarint()
	if n > uint64(len(b)) {
		return f, fmt.Errorf("%w: filter counts", ErrCorrupt)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		l := r.uvarint()
		if l > uint64(len(r.b)) {
			r.fail()
			break
		}
		w := string(r.b[:l])
		r.b = r.b[l:]
		f.Counts = append(f.Counts, WordCount{w, uint32(r.uvarint())})
	}
	if r.err != nil || len(r.b) == 0 {
		return Filter{}, fmt.Errorf("%w: filter", ErrCorrupt)
	}
	f.Bloom = r.b
	return f, nil
}
