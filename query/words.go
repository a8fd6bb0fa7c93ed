package query

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

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
	ascii           bool   // the text is all ASCII, so lower holds every word
	lower           []byte // message and fields in ASCII lower case
	block           []byte // blockText's buffer
}

func (d *doc) reset(message, fields string) {
	d.message, d.fields, d.split, d.lowered = message, fields, false, false
	d.msgWords, d.fieldWords = d.msgWords[:0], d.fieldWords[:0]
}

// mayHold is false when the text cannot hold the word w (lower case): a
// substring test that spares splitting most texts into words. Only ASCII
// text is tested: elsewhere folding may turn other bytes into w's.
func (d *doc) mayHold(w string) bool {
	if !d.lowered {
		d.lowered, d.ascii = true, true
		d.lower = appendLowerASCII(d.lower[:0], d.message, &d.ascii)
		d.lower = append(d.lower, 0)
		d.lower = appendLowerASCII(d.lower, d.fields, &d.ascii)
	}
	return !d.ascii || bytes.Contains(d.lower, []byte(w))
}

// blockText is the text of rows' selected rows as a filter: one substring
// test per word for a whole block, which rules out most blocks a bloom
// filter let through by mistake before any row is split into words.
func (d *doc) blockText(rows []block.Row, selected []int) textFilter {
	t := textFilter{ascii: true}
	d.block = d.block[:0]
	for _, k := range selected {
		d.block = appendLowerASCII(d.block, rows[k].Message, &t.ascii)
		d.block = append(d.block, 0)
		d.block = appendLowerASCII(d.block, rows[k].Fields, &t.ascii)
		d.block = append(d.block, 0)
	}
	t.lower = d.block
	return t
}

// textFilter is text in ASCII lower case as a word filter: a word it does
// not hold is in none of its rows. Beyond ASCII it cannot tell (folding
// may make a word of other bytes) and says yes.
type textFilter struct {
	lower []byte
	ascii bool
}

func (t textFilter) MayContain(w string) bool { return !t.ascii || bytes.Contains(t.lower, []byte(w)) }

func appendLowerASCII(b []byte, s string, ascii *bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			*ascii = false
		} else if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

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

func (p *phrase) mayMatch(f wordFilter) bool {
	for i, w := range p.words {
		if i == len(p.words)-1 && p.prefix {
			continue
		}
		if !f.MayContain(w) {
			return false
		}
	}
	return true
}

func (p *phrase) filterWords(fn func(string)) {
	for i, w := range p.words {
		if i < len(p.words)-1 || !p.prefix {
			fn(w)
		}
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

// parseFTS reads the full-text syntax of --fts, the subset of SQLite FTS5's
// that schema 3 accepted and users write: words and "quoted phrases", a
// trailing * for a prefix, implicit or explicit AND, OR, binary NOT, and
// parentheses. NOT binds tighter than AND, AND tighter than OR, as in FTS5.
func parseFTS(src string) (wordExpr, error) {
	p := &ftsParser{src: src}
	p.next()
	x, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("unexpected %s", p.tok)
	}
	return x, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokString
	tokAnd
	tokOr
	tokNot
	tokOpen
	tokClose
	tokBad
)

type ftsToken struct {
	kind   tokKind
	text   string
	prefix bool
	pos    int
}

func (t ftsToken) String() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

type ftsParser struct {
	src string
	at  int
	tok ftsToken
	err error
}

func (p *ftsParser) errorf(format string, args ...any) error {
	if p.err != nil {
		return p.err
	}
	return fmt.Errorf("at character %d: %s", p.tok.pos+1, fmt.Sprintf(format, args...))
}

func (p *ftsParser) or() (wordExpr, error) {
	x, err := p.and()
	if err != nil {
		return nil, err
	}
	list := orExpr{x}
	for p.tok.kind == tokOr {
		p.next()
		y, err := p.and()
		if err != nil {
			return nil, err
		}
		list = append(list, y)
	}
	if len(list) == 1 {
		return x, nil
	}
	return list, nil
}

func (p *ftsParser) and() (wordExpr, error) {
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	list := andExpr{x}
	for {
		switch p.tok.kind {
		case tokAnd:
			p.next()
		case tokWord, tokString, tokOpen:
		default:
			if len(list) == 1 {
				return x, nil
			}
			return list, nil
		}
		y, err := p.not()
		if err != nil {
			return nil, err
		}
		list = append(list, y)
	}
}

func (p *ftsParser) not() (wordExpr, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokNot {
		p.next()
		y, err := p.primary()
		if err != nil {
			return nil, err
		}
		x = notExpr{x, y}
	}
	return x, nil
}

func (p *ftsParser) primary() (wordExpr, error) {
	switch t := p.tok; t.kind {
	case tokWord, tokString:
		p.next()
		ph := phraseOf(t.text, t.prefix)
		if len(ph.words) == 0 {
			return nil, fmt.Errorf("at character %d: %q holds no word to search for", t.pos+1, t.text)
		}
		return ph, nil
	case tokOpen:
		p.next()
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokClose {
			return nil, p.errorf("expected ) but found %s", p.tok)
		}
		p.next()
		return x, nil
	default:
		return nil, p.errorf("expected a word, a \"phrase\" or ( but found %s", t)
	}
}

// next reads the next token into p.tok.
func (p *ftsParser) next() {
	for p.at < len(p.src) && (p.src[p.at] == ' ' || p.src[p.at] == '\t' || p.src[p.at] == '\n' || p.src[p.at] == '\r') {
		p.at++
	}
	start := p.at
	if p.at >= len(p.src) {
		p.tok = ftsToken{kind: tokEOF, pos: start}
		return
	}
	switch c := p.src[p.at]; {
	case c == '(':
		p.at++
		p.tok = ftsToken{kind: tokOpen, text: "(", pos: start}
	case c == ')':
		p.at++
		p.tok = ftsToken{kind: tokClose, text: ")", pos: start}
	case c == '"':
		p.quoted(start)
	case isBareword(p.src[p.at:]):
		p.bareword(start)
	default:
		r, _ := utf8.DecodeRuneInString(p.src[p.at:])
		p.tok = ftsToken{kind: tokBad, text: string(r), pos: start}
		p.err = fmt.Errorf("at character %d: %q is not allowed here; quote words that hold it, as in \"item:1\"", start+1, r)
	}
}

func (p *ftsParser) quoted(start int) {
	var b strings.Builder
	for i := start + 1; i < len(p.src); i++ {
		if p.src[i] != '"' {
			b.WriteByte(p.src[i])
			continue
		}
		if i+1 < len(p.src) && p.src[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		p.at = i + 1
		p.tok = ftsToken{kind: tokString, text: b.String(), pos: start}
		p.star()
		return
	}
	p.at = len(p.src)
	p.tok = ftsToken{kind: tokBad, text: `"`, pos: start}
	p.err = fmt.Errorf("at character %d: unterminated \"phrase\"", start+1)
}

func (p *ftsParser) bareword(start int) {
	for p.at < len(p.src) && isBareword(p.src[p.at:]) {
		_, size := utf8.DecodeRuneInString(p.src[p.at:])
		p.at += size
	}
	text := p.src[start:p.at]
	p.tok = ftsToken{kind: tokWord, text: text, pos: start}
	switch text {
	case "AND":
		p.tok.kind = tokAnd
	case "OR":
		p.tok.kind = tokOr
	case "NOT":
		p.tok.kind = tokNot
	case "NEAR":
		p.err = fmt.Errorf("at character %d: NEAR is not supported; search for a \"phrase\" or for words ANDed", start+1)
		p.tok.kind = tokBad
		return
	}
	p.star()
}

// star takes a * right after a word or phrase: a prefix search.
func (p *ftsParser) star() {
	if p.at < len(p.src) && p.src[p.at] == '*' {
		p.at++
		p.tok.prefix = true
	}
}

// isBareword reports whether s starts with a character FTS5 allows in an
// unquoted word: letters, digits, _, and anything beyond ASCII.
func isBareword(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r >= utf8.RuneSelf || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}
