package ql

import (
	"regexp"
	"strconv"
	"strings"
)

// Parse reads a query: a filter (empty or "*" for every event), then
// any number of "| pipe"s. Errors are *Error, at the position of the
// mistake.
func Parse(src string) (*Query, error) {
	p := &parser{src: src}
	q := &Query{Src: src}
	p.skipSpace()
	if !p.eof() && p.peek() != '|' {
		f, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if _, all := f.(*Any); !all {
			q.Filter = f
		}
	}
	for {
		p.skipSpace()
		if p.eof() {
			return q, nil
		}
		switch p.peek() {
		case '|':
			p.pos++
			pipe, err := p.parsePipe()
			if err != nil {
				return nil, err
			}
			q.Pipes = append(q.Pipes, pipe)
		case ')':
			return nil, p.errorf(p.pos, "unexpected \")\" with no \"(\" before it")
		default:
			return nil, p.errorf(p.pos, "unexpected %q after the filter: want \"| pipe\"", p.src[p.pos:p.pos+1])
		}
	}
}

type parser struct {
	src   string
	pos   int
	field string // the field of a field:(…) group, for the filters inside it
}

func (p *parser) errorf(pos int, format string, args ...any) *Error {
	return Errorf(p.src, pos, format, args...)
}

func (p *parser) eof() bool  { return p.pos >= len(p.src) }
func (p *parser) peek() byte { return p.src[p.pos] }

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.peek()) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// stopsBare ends an unquoted token.
func stopsBare(c byte) bool {
	return isSpace(c) || strings.IndexByte("()|,:\"'`", c) >= 0
}

// stopsValue ends an unquoted value: a value may hold ':' (times, URLs).
func stopsValue(c byte) bool {
	return isSpace(c) || strings.IndexByte("()|,\"'`", c) >= 0
}

// ends reports whether the token at p.pos ends after n bytes.
func (p *parser) endsAfter(n int) bool {
	return p.pos+n >= len(p.src) || stopsBare(p.src[p.pos+n])
}

// keyword consumes the keyword kw (any case) when it is the next token.
func (p *parser) keyword(kw string) bool {
	if p.atKeyword(kw) {
		p.pos += len(kw)
		return true
	}
	return false
}

func (p *parser) atKeyword(kw string) bool {
	n := len(kw)
	return p.pos+n <= len(p.src) && strings.EqualFold(p.src[p.pos:p.pos+n], kw) && p.endsAfter(n)
}

func (p *parser) parseOr() (Filter, error) {
	start := p.pos
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	items := []Filter{first}
	for p.skipSpace(); p.keyword("OR"); p.skipSpace() {
		x, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		items = append(items, x)
	}
	if len(items) == 1 {
		return first, nil
	}
	return &Or{Pos: start, Items: items}, nil
}

func (p *parser) parseAnd() (Filter, error) {
	p.skipSpace()
	start := p.pos
	var items []Filter
	for {
		p.skipSpace()
		if p.eof() || p.peek() == ')' || p.peek() == '|' || p.atKeyword("OR") {
			break
		}
		if p.keyword("AND") {
			p.skipSpace()
		}
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		items = append(items, x)
	}
	switch len(items) {
	case 0:
		return nil, p.errorf(p.pos, "want a filter here")
	case 1:
		return items[0], nil
	}
	return &And{Pos: start, Items: items}, nil
}

func (p *parser) parseUnary() (Filter, error) {
	p.skipSpace()
	start := p.pos
	if p.eof() {
		return nil, p.errorf(p.pos, "want a filter at the end")
	}
	negate := p.keyword("NOT")
	if !negate && (p.peek() == '-' || p.peek() == '!') && !p.endsAfter(1) && p.src[p.pos+1] != '=' {
		p.pos++
		negate = true
	}
	if negate {
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &Not{Pos: start, X: x}, nil
	}
	switch p.peek() {
	case '(':
		return p.parseGroup()
	case ')':
		return nil, p.errorf(p.pos, "want a filter before \")\"")
	case ',':
		return nil, p.errorf(p.pos, "unexpected \",\"")
	}
	return p.parseLeaf()
}

// parseGroup reads "(" filter ")".
func (p *parser) parseGroup() (Filter, error) {
	open := p.pos
	p.pos++
	x, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.eof() || p.peek() != ')' {
		return nil, p.errorf(open, "\"(\" is never closed")
	}
	p.pos++
	return x, nil
}

func (p *parser) parseLeaf() (Filter, error) {
	start := p.pos
	switch c := p.peek(); {
	case c == '~':
		p.pos++
		return p.regex(start, p.field)
	case c == '=':
		p.pos++
		v, err := p.value("a value to match exactly")
		return &Exact{Pos: start, Field: p.field, Value: v}, err
	case c == '*' && p.endsAfter(1):
		p.pos++
		if p.field != "" {
			return &Exists{Pos: start, Field: p.field}, nil
		}
		return &Any{Pos: start}, nil
	case c == '"' || c == '\'' || c == '`':
		text, err := p.quoted()
		if err != nil {
			return nil, err
		}
		if !p.eof() && p.peek() == ':' {
			return p.fieldFilter(start, text)
		}
		return p.word(start, p.field, text, true), nil
	}
	tok := p.bare(stopsBare)
	if tok == "" {
		return nil, p.errorf(p.pos, "unexpected %q", p.src[p.pos:p.pos+1])
	}
	if !p.eof() && p.peek() == ':' {
		if p.field != "" {
			return nil, p.errorf(start, "a field inside %s:(…) names its own field", p.field)
		}
		return p.fieldFilter(start, tok)
	}
	if f, ok := comparison(start, tok); ok && p.field == "" {
		return f, nil
	}
	return p.wordOf(start, p.field, tok), nil
}

// comparison reads the LogQL-like "field>N", "field<=N" as field:>N.
func comparison(start int, tok string) (Filter, bool) {
	i := strings.IndexAny(tok, "<>")
	if i <= 0 || !validField(tok[:i]) {
		return nil, false
	}
	op := tok[i : i+1]
	if i+1 < len(tok) && tok[i+1] == '=' {
		op += "="
	}
	value := tok[i+len(op):]
	if value == "" {
		return nil, false
	}
	return &Compare{Pos: start, Field: tok[:i], Op: op, Value: value}, true
}

// wordOf makes a bare token a word, a prefix (ending in "*") or, for
// _time, the last stretch of time.
func (p *parser) wordOf(start int, field, tok string) Filter {
	if field == Time {
		return &Last{Pos: start, Duration: tok}
	}
	if len(tok) > 1 && strings.HasSuffix(tok, "*") {
		return &Word{Pos: start, Field: field, Text: tok[:len(tok)-1], Prefix: true}
	}
	return &Word{Pos: start, Field: field, Text: tok}
}

// word makes a quoted text a phrase, a prefix when "*" follows it.
func (p *parser) word(start int, field, text string, phrase bool) Filter {
	w := &Word{Pos: start, Field: field, Text: text, Phrase: phrase}
	if !p.eof() && p.peek() == '*' {
		p.pos++
		w.Prefix = true
	}
	return w
}

func (p *parser) bare(stop func(byte) bool) string {
	start := p.pos
	for !p.eof() && !stop(p.peek()) {
		p.pos++
	}
	return p.src[start:p.pos]
}

// quoted reads a "double-quoted" string (with Go's escapes), a
// 'single-quoted' or a `backquoted` one (as written).
func (p *parser) quoted() (string, error) {
	start, q := p.pos, p.peek()
	p.pos++
	for !p.eof() && p.peek() != q {
		if q == '"' && p.peek() == '\\' {
			p.pos++
		}
		p.pos++
	}
	if p.eof() {
		return "", p.errorf(start, "%c is never closed", q)
	}
	p.pos++
	raw := p.src[start:p.pos]
	if q != '"' {
		return raw[1 : len(raw)-1], nil
	}
	s, err := strconv.Unquote(raw)
	if err != nil {
		return "", p.errorf(start, "bad escape in %s", raw)
	}
	return s, nil
}

// value reads a quoted string or a bare value.
func (p *parser) value(what string) (string, error) {
	if !p.eof() && strings.IndexByte("\"'`", p.peek()) >= 0 {
		return p.quoted()
	}
	if v := p.bare(stopsValue); v != "" {
		return v, nil
	}
	return "", p.errorf(p.pos, "want %s here", what)
}

func (p *parser) regex(start int, field string) (Filter, error) {
	at := p.pos
	pattern, err := p.value("a regular expression")
	if err != nil {
		return nil, err
	}
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, p.errorf(at, "%v", err)
	}
	return &Regex{Pos: start, Field: field, Pattern: pattern}, nil
}

// validField reports whether name is a bare field name: letters, digits,
// '_', '.', '-', '@', '/', not starting with a digit or '-'.
func validField(name string) bool {
	if name == "" || name[0] == '-' || ('0' <= name[0] && name[0] <= '9') {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.-@/", c) >= 0) {
			return false
		}
	}
	return true
}
