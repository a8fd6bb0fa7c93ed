package query

import (
	"cmp"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// fieldCond tests one field's value; an event without the field has
// absent's answer.
type fieldCond struct {
	field  string
	test   func(v any) bool
	absent bool
	// num, for a comparison of a field (no built-in: see withNum) with
	// a number, is test of a value read as a number: stored fields are
	// read for it from their text, with no value made per event (that
	// was a third of a count of a field comparison, measured).
	num func(float64) bool
}

func (c fieldCond) eval(e *evalCtx) bool {
	if c.num != nil && !e.parsed {
		if tok, ok, _ := jsonToken(e.raw, c.field); ok {
			if n, isNumber, plain := tokenNumber(tok); plain {
				return isNumber && c.num(n)
			}
		}
	}
	v, ok := e.value(c.field)
	if !ok {
		return c.absent
	}
	return c.test(v)
}

// wordsIn is a phrase in a value's words, as in the message.
func wordsIn(p *phrase) func(any) bool {
	return func(v any) bool {
		var words []string
		block.Words(schema.FormatValue(v), func(w string) { words = append(words, w) })
		return p.in(words)
	}
}

// valueIs is an exact match, or with prefix, a value that starts so.
func valueIs(want string, prefix bool) func(any) bool {
	return func(v any) bool {
		s := schema.FormatValue(v)
		if prefix {
			return strings.HasPrefix(s, want)
		}
		return s == want
	}
}

// compare is the condition of a comparison of field with want: as
// numbers when want is one (a value that is no number then fails), else
// as strings.
func compare(field, op, want string) fieldCond {
	test, num := compareTo(op, want)
	return fieldCond{field: field, test: test}.withNum(num)
}

// withNum is c with num, unless c's field is a built-in.
func (c fieldCond) withNum(num func(float64) bool) fieldCond {
	if !shadowsFields(c.field) {
		c.num = num
	}
	return c
}

// compareTo is compare's test, and num when want is a number.
func compareTo(op, want string) (test func(any) bool, num func(float64) bool) {
	if n, ok := parseNumber(want); ok {
		num = func(x float64) bool { return holds(op, cmp.Compare(x, n)) }
		return func(v any) bool {
			x, ok := number(v)
			return ok && num(x)
		}, num
	}
	return func(v any) bool { return holds(op, strings.Compare(schema.FormatValue(v), want)) }, nil
}

// inRange is field's lo < v < hi, each bound included or not, as numbers
// when both bounds are.
func inRange(field, lo, hi string, loIncl, hiIncl bool) fieldCond {
	loOp, hiOp := ">", "<"
	if loIncl {
		loOp = ">="
	}
	if hiIncl {
		hiOp = "<="
	}
	above, aboveNum := compareTo(loOp, lo)
	below, belowNum := compareTo(hiOp, hi)
	c := fieldCond{field: field, test: func(v any) bool { return above(v) && below(v) }}
	if aboveNum == nil || belowNum == nil {
		return c
	}
	return c.withNum(func(x float64) bool { return aboveNum(x) && belowNum(x) })
}

// shadowsFields reports whether name is a built-in that an event's
// fields of that name cannot answer for (the message, time, seq, or what
// its series knows).
func shadowsFields(name string) bool {
	return name == ql.Message || name == ql.Time || name == seqField || seriesFields[name]
}

// matchesRegex tests a value with re, first checking that it holds the
// literals every match holds: strings.Contains skips most values that
// cannot match for less than the regexp's own setup per value costs
// (measured: a third of a regex over an hour of 10M events).
func matchesRegex(re *regexp.Regexp) func(any) bool {
	test := regexTest(re, requiredLiterals(re))
	return func(v any) bool { return test(schema.FormatValue(v)) }
}

// regexTest tests a text with re once it holds lits (requiredLiterals).
func regexTest(re *regexp.Regexp, lits []string) func(string) bool {
	return func(s string) bool {
		for _, l := range lits {
			if !strings.Contains(s, l) {
				return false
			}
		}
		return re.MatchString(s)
	}
}

// messageCond tests the message itself, which every event has, without
// boxing it per event as a fieldCond on _msg does.
type messageCond struct {
	test func(string) bool
	lits []string // literals every message it keeps holds (requiredLiterals)
}

func (c messageCond) eval(e *evalCtx) bool { return c.test(e.msg) }

// requiredLiterals are case-sensitive literal strings that any match of re
// contains: those of a concatenation at its top (through groups).
func requiredLiterals(re *regexp.Regexp) []string {
	x, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	x = x.Simplify()
	for x.Op == syntax.OpCapture {
		x = x.Sub[0]
	}
	parts := []*syntax.Regexp{x}
	if x.Op == syntax.OpConcat {
		parts = x.Sub
	}
	var out []string
	for _, p := range parts {
		for p.Op == syntax.OpCapture {
			p = p.Sub[0]
		}
		if p.Op == syntax.OpLiteral && p.Flags&syntax.FoldCase == 0 && len(p.Rune) > 0 {
			out = append(out, string(p.Rune))
		}
	}
	return out
}

func nonEmpty(v any) bool { return schema.FormatValue(v) != "" }

// levelTest compares an event's level (its name) with want.
func levelTest(op string, want schema.Level) func(any) bool {
	return func(v any) bool {
		l, err := schema.ParseLevel(schema.FormatValue(v))
		return err == nil && LevelHolds(op, l, want)
	}
}

// LevelHolds reports whether level l compares with want as op (= > >= <
// <=) does, by severity.
func LevelHolds(op string, l, want schema.Level) bool { return holds(op, int(l)-int(want)) }

// holds reports whether a comparison's result c (<0, 0, >0) satisfies op.
func holds(op string, c int) bool {
	switch op {
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	}
	return c == 0
}

// parseNumber reads a number as a value's text shows one.
func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}
