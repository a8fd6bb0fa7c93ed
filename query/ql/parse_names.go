package ql

import (
	"strconv"
	"strings"
)

func (p *parser) parseTop(start int) (Pipe, error) {
	t := &Top{Pos: start, N: 10}
	if !p.eof() && '0' <= p.peek() && p.peek() <= '9' {
		n, err := p.count()
		if err != nil {
			return nil, err
		}
		t.N = n
		p.skipSpace()
	}
	if !p.keyword("by") {
		return nil, p.errorf(p.pos, "want \"by (field, …)\" in top, like top 10 by (user)")
	}
	var err error
	t.By, err = p.nameList(true)
	return t, err
}

// parseSort reads "sort by (f [desc], …) [desc]".
func (p *parser) parseSort(start int) (Pipe, error) {
	s := &Sort{Pos: start}
	if !p.keyword("by") {
		return nil, p.errorf(p.pos, "want \"by (field [desc], …)\" after sort")
	}
	p.skipSpace()
	if p.eof() || p.peek() != '(' {
		return nil, p.errorf(p.pos, "want \"(\" after sort by")
	}
	p.pos++
	for {
		p.skipSpace()
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		k := SortKey{Field: name}
		p.skipSpace()
		if p.keyword("desc") {
			k.Desc = true
		} else {
			p.keyword("asc")
		}
		s.Keys = append(s.Keys, k)
		p.skipSpace()
		if p.eof() || p.peek() != ',' {
			break
		}
		p.pos++
	}
	if p.eof() || p.peek() != ')' {
		return nil, p.errorf(p.pos, "want \")\" to close the sort keys")
	}
	p.pos++
	p.skipSpace()
	if p.keyword("desc") {
		for i := range s.Keys {
			s.Keys[i].Desc = !s.Keys[i].Desc
		}
	}
	return s, nil
}

// nameList reads "(a, b)" or, unless paren is required, "a, b".
func (p *parser) nameList(paren bool) ([]string, error) {
	p.skipSpace()
	if !p.eof() && p.peek() == '(' {
		p.pos++
		return p.names(")")
	}
	if paren {
		return nil, p.errorf(p.pos, "want \"(\" and a list of fields")
	}
	return p.names("")
}

// names reads field names separated by commas, up to and past close
// (none for a list that ends where the pipe does).
func (p *parser) names(close string) ([]string, error) {
	var out []string
	for {
		p.skipSpace()
		if close != "" && !p.eof() && p.src[p.pos:p.pos+1] == close && len(out) == 0 {
			p.pos++
			return out, nil
		}
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		out = append(out, name)
		p.skipSpace()
		if !p.eof() && p.peek() == ',' {
			p.pos++
			continue
		}
		if close == "" {
			return out, nil
		}
		if p.eof() || p.src[p.pos:p.pos+1] != close {
			return nil, p.errorf(p.pos, "want \",\" or %q", close)
		}
		p.pos++
		return out, nil
	}
}

// name reads a field name, bare or quoted; a bare one may be "*" or a
// number (quantile's phi).
func (p *parser) name() (string, error) {
	if !p.eof() && (p.peek() == '"' || p.peek() == '\'' || p.peek() == '`') {
		return p.quoted()
	}
	start := p.pos
	name := p.bare(stopsBare)
	if name == "" {
		return "", p.errorf(start, "want a field name here")
	}
	if _, isFunc := statsFuncs[name]; isFunc && !p.eof() && p.peek() == '(' {
		// a stats result by its default name: count(), quantile(0.9, f)
		end := strings.IndexByte(p.src[p.pos:], ')')
		if end < 0 {
			return "", p.errorf(p.pos, "\"(\" is never closed")
		}
		p.pos += end + 1
		return canonicalCall(p.src[start:p.pos]), nil
	}
	return name, nil
}

func (p *parser) count() (int, error) {
	p.skipSpace()
	start := p.pos
	tok := p.bare(stopsBare)
	n, err := strconv.Atoi(tok)
	if err != nil || n < 0 {
		return 0, p.errorf(start, "want a count (0 or more) here, not %q", tok)
	}
	return n, nil
}

// canonicalCall writes a function call as StatsFunc.Call does: one space
// after each comma, none elsewhere.
func canonicalCall(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, ",") {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strings.Join(strings.Fields(part), ""))
	}
	return b.String()
}
