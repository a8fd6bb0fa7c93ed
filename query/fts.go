package query

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

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
	if t.kind == tokEOF {
		return "end of expression"
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
