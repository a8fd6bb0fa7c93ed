package ql

import (
	"strconv"
	"strings"
)

// statsFuncs are the functions of "| stats", with how many arguments
// each takes.
var statsFuncs = map[string]int{
	"count": -1, "count_uniq": 1, "sum": 1, "avg": 1, "min": 1, "max": 1, "median": 1, "quantile": 2,
}

func (p *parser) parsePipe() (Pipe, error) {
	p.skipSpace()
	start := p.pos
	name := strings.ToLower(p.bare(stopsBare))
	p.skipSpace()
	switch name {
	case "stats":
		return p.parseStats(start)
	case "top":
		return p.parseTop(start)
	case "sort":
		return p.parseSort(start)
	case "fields":
		names, err := p.nameList(false)
		return &Fields{Pos: start, Names: names}, err
	case "uniq":
		if !p.keyword("by") {
			return nil, p.errorf(p.pos, "want \"by (field, …)\" after uniq")
		}
		names, err := p.nameList(true)
		return &Uniq{Pos: start, By: names}, err
	case "limit", "head":
		n, err := p.count()
		return &Limit{Pos: start, N: n}, err
	case "field_names":
		return &FieldNames{Pos: start}, nil
	case "":
		return nil, p.errorf(start, "want a pipe after \"|\": stats, top, sort, fields, uniq, limit or field_names")
	}
	return nil, p.errorf(start, "unknown pipe %q: want stats, top, sort, fields, uniq, limit or field_names", name)
}

// parseStats reads "stats [by (…)] f(…) [as name], … [by (…)]".
func (p *parser) parseStats(start int) (Pipe, error) {
	s := &Stats{Pos: start}
	var err error
	if p.keyword("by") {
		if s.By, err = p.byList(); err != nil {
			return nil, err
		}
	}
	for {
		p.skipSpace()
		f, err := p.statsFunc()
		if err != nil {
			return nil, err
		}
		s.Funcs = append(s.Funcs, f)
		p.skipSpace()
		if p.eof() || p.peek() != ',' {
			break
		}
		p.pos++
	}
	p.skipSpace()
	if p.keyword("by") {
		if s.By != nil {
			return nil, p.errorf(p.pos, "stats has two \"by\" lists")
		}
		if s.By, err = p.byList(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (p *parser) statsFunc() (StatsFunc, error) {
	start := p.pos
	name := strings.ToLower(p.bare(stopsBare))
	want, ok := statsFuncs[name]
	if !ok {
		return StatsFunc{}, p.errorf(start, "want a stats function here: count(), count_uniq(f), sum(f), avg(f), min(f), max(f), median(f), quantile(phi, f)")
	}
	if p.eof() || p.peek() != '(' {
		return StatsFunc{}, p.errorf(p.pos, "want \"(\" after %s", name)
	}
	p.pos++
	args, err := p.names(")")
	if err != nil {
		return StatsFunc{}, err
	}
	f := StatsFunc{Pos: start, Name: name}
	switch {
	case want == -1 && len(args) <= 1:
		if len(args) == 1 && args[0] != "*" {
			f.Field = args[0]
		}
	case len(args) != want:
		return StatsFunc{}, p.errorf(start, "%s takes %d argument(s), not %d", name, want, len(args))
	case name == "quantile":
		if phi, err := strconv.ParseFloat(args[0], 64); err != nil || phi < 0 || phi > 1 {
			return StatsFunc{}, p.errorf(start, "quantile's first argument is a number from 0 to 1, not %q", args[0])
		}
		f.Phi, f.Field = args[0], args[1]
	default:
		f.Field = args[0]
	}
	f.As = f.Call()
	return f, p.statsName(&f)
}

// statsName reads the optional "[as] name" after a stats function.
func (p *parser) statsName(f *StatsFunc) error {
	p.skipSpace()
	hadAs := p.keyword("as")
	p.skipSpace()
	if p.eof() || p.peek() == ',' || p.peek() == '|' || p.peek() == ')' || (!hadAs && p.atKeyword("by")) {
		if hadAs {
			return p.errorf(p.pos, "want a name after \"as\"")
		}
		return nil
	}
	name, err := p.name()
	f.As = name
	return err
}

// byList reads "(field[:bucket], …)", or one field without parentheses.
func (p *parser) byList() ([]By, error) {
	p.skipSpace()
	paren := !p.eof() && p.peek() == '('
	if paren {
		p.pos++
	}
	var out []By
	for {
		p.skipSpace()
		start := p.pos
		field, err := p.name()
		if err != nil {
			return nil, err
		}
		b := By{Pos: start, Field: field}
		if !p.eof() && p.peek() == ':' {
			p.pos++
			if b.Bucket = p.bare(stopsBare); b.Bucket == "" {
				return nil, p.errorf(p.pos, "want a bucket size after %q, like 1m", field+":")
			}
		}
		out = append(out, b)
		p.skipSpace()
		if !paren || p.eof() || p.peek() != ',' {
			break
		}
		p.pos++
	}
	if paren {
		if p.eof() || p.peek() != ')' {
			return nil, p.errorf(p.pos, "want \")\" to close the by list")
		}
		p.pos++
	}
	return out, nil
}
