package ql

import "strings"

// fieldFilter reads what follows "field:": a word, "phrase" or prefix*,
// =exact, !=exact, ~"regex", !~"regex", >N, >=N, <N, <=N, [lo, hi],
// range(lo, hi], * (exists), (group), or for _time a duration.
func (p *parser) fieldFilter(start int, field string) (Filter, error) {
	if !validField(field) && p.src[start] != '"' && p.src[start] != '\'' && p.src[start] != '`' {
		return nil, p.errorf(start, "%q is not a field name (quote it, or quote the whole word to search for it)", field)
	}
	p.pos++ // ':'
	if p.eof() || isSpace(p.peek()) || p.peek() == ')' || p.peek() == '|' {
		return nil, p.errorf(p.pos, "want a value after %q", field+":")
	}
	if field == StreamField {
		return p.streamFilter(start)
	}
	rest := p.src[p.pos:]
	for _, op := range []string{">=", "<=", "!=", "!~", ">", "<", "=", "~"} {
		if strings.HasPrefix(rest, op) {
			p.pos += len(op)
			return p.operator(start, field, op)
		}
	}
	switch {
	case p.peek() == '*' && p.endsAfter(1):
		p.pos++
		return &Exists{Pos: start, Field: field}, nil
	case p.peek() == '[':
		return p.rangeFilter(start, field)
	case strings.HasPrefix(rest, "range[") || strings.HasPrefix(rest, "range("):
		p.pos += len("range")
		return p.rangeFilter(start, field)
	case p.peek() == '(' && p.halfOpenRange():
		return p.rangeFilter(start, field)
	case p.peek() == '(':
		outer := p.field
		p.field = field
		x, err := p.parseGroup()
		p.field = outer
		return x, err
	case strings.IndexByte("\"'`", p.peek()) >= 0:
		text, err := p.quoted()
		if err != nil {
			return nil, err
		}
		if field == Time {
			return &Last{Pos: start, Duration: text}, nil
		}
		return p.word(start, field, text, true), nil
	}
	return p.wordOf(start, field, p.bare(stopsValue)), nil
}

// operator reads the value after field:op.
func (p *parser) operator(start int, field, op string) (Filter, error) {
	switch op {
	case "~", "!~":
		x, err := p.regex(start, field)
		if err != nil || op == "~" {
			return x, err
		}
		return &Not{Pos: start, X: x}, nil
	case "=", "!=":
		v, err := p.value("a value to match exactly")
		if err != nil {
			return nil, err
		}
		var x Filter = &Exact{Pos: start, Field: field, Value: v}
		if op == "!=" {
			x = &Not{Pos: start, X: x}
		}
		return x, nil
	}
	v, err := p.value("a value to compare with")
	return &Compare{Pos: start, Field: field, Op: op, Value: v}, err
}

// rangeFilter reads [lo, hi] with '[' or '(' and ']' or ')' saying
// whether each bound is in the range.
func (p *parser) rangeFilter(start int, field string) (Filter, error) {
	r := &Range{Pos: start, Field: field, LoIncl: p.peek() == '['}
	p.pos++
	var err error
	if r.Lo, err = p.bound(); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.eof() || p.peek() != ',' {
		return nil, p.errorf(p.pos, "want \",\" between the bounds of a range, like [1, 5]")
	}
	p.pos++
	if r.Hi, err = p.bound(); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.eof() || (p.peek() != ']' && p.peek() != ')') {
		return nil, p.errorf(p.pos, "want \"]\" or \")\" to close the range")
	}
	r.HiIncl = p.peek() == ']'
	p.pos++
	return r, nil
}

func (p *parser) bound() (string, error) {
	p.skipSpace()
	if !p.eof() && strings.IndexByte("\"'`", p.peek()) >= 0 {
		return p.quoted()
	}
	v := p.bare(func(c byte) bool { return isSpace(c) || c == ',' || c == ']' || c == ')' })
	if v == "" {
		return "", p.errorf(p.pos, "want a bound of the range here")
	}
	return v, nil
}

// halfOpenRange tells field:(lo, hi] from a group field:(a OR b): a
// comma comes before any closing bracket.
func (p *parser) halfOpenRange() bool {
	i := strings.IndexAny(p.src[p.pos:], ",)]")
	return i >= 0 && p.src[p.pos+i] == ','
}

// streamFilter reads {key="value", …} after _stream:.
func (p *parser) streamFilter(start int) (Filter, error) {
	if p.peek() != '{' {
		return nil, p.errorf(p.pos, "want {key=\"value\", …} after _stream:")
	}
	p.pos++
	f := &Stream{Pos: start}
	for {
		p.skipSpace()
		if !p.eof() && p.peek() == '}' && len(f.Pairs) == 0 {
			return nil, p.errorf(p.pos, "want at least one key=\"value\" in _stream:{…}")
		}
		at := p.pos
		key := p.bare(func(c byte) bool { return stopsBare(c) || c == '=' || c == '}' || c == '{' })
		if !validField(key) {
			return nil, p.errorf(at, "want a label or stream field name here")
		}
		p.skipSpace()
		if p.eof() || p.peek() != '=' {
			return nil, p.errorf(p.pos, "want = after %q (stream selectors match exactly)", key)
		}
		p.pos++
		p.skipSpace()
		if p.eof() || strings.IndexByte("\"'`", p.peek()) < 0 {
			return nil, p.errorf(p.pos, "want a quoted value, like %s=\"prod\"", key)
		}
		v, err := p.quoted()
		if err != nil {
			return nil, err
		}
		f.Pairs = append(f.Pairs, Pair{key, v})
		p.skipSpace()
		if !p.eof() && p.peek() == ',' {
			p.pos++
			continue
		}
		if p.eof() || p.peek() != '}' {
			return nil, p.errorf(p.pos, "want , or } in _stream:{…}")
		}
		p.pos++
		return f, nil
	}
}
