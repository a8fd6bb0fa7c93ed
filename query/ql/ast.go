// Package ql is zlog's query language: a filter over events, then pipes
// that reshape what matched. Its syntax follows VictoriaLogs' LogsQL
// (words, "phrases", prefix*, field:value, field:>N, field:~"regex",
// | stats … by (…)), so users of LogsQL and of Loki's LogQL read it at
// once; query/README.md documents it. This package only parses and
// prints: the engine in package query decides what each part means for
// the index and for an event.
package ql

import (
	"strconv"
	"strings"
)

// Query is a parsed query: which events, then what to make of them.
type Query struct {
	Filter Filter // nil: every event
	Pipes  []Pipe
	Src    string // the text parsed, which positions point into
}

func (q *Query) String() string {
	var parts []string
	if q.Filter != nil {
		parts = append(parts, q.Filter.String())
	} else {
		parts = append(parts, "*")
	}
	for _, p := range q.Pipes {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, " | ")
}

// Filter is a node of a query's filter. Position is the byte offset in
// the query where it starts, for errors found after parsing.
type Filter interface {
	String() string
	Position() int
}

// Message and Time are the field names of an event's message and time;
// the empty field of a filter means the message and every field's value.
const (
	Message = "_msg"
	Time    = "_time"
)

// And matches what all of Items match; Or what any of them matches.
type (
	And struct {
		Pos   int
		Items []Filter
	}
	Or struct {
		Pos   int
		Items []Filter
	}
	// Not matches what X does not.
	Not struct {
		Pos int
		X   Filter
	}
	// Any matches every event: "*".
	Any struct{ Pos int }
	// Word matches a word, a phrase (words that follow each other) or a
	// prefix of a word, case-insensitively, in Field's value; with no
	// Field, in the message or any field's value.
	Word struct {
		Pos    int
		Field  string
		Text   string
		Phrase bool // quoted: Text may hold several words, matched in order
		Prefix bool // the last word need only start with Text's last word
	}
	// Exact matches a value equal to Value, byte for byte: field:="v".
	Exact struct {
		Pos   int
		Field string
		Value string
	}
	// Compare matches a value that compares so with Value: numbers as
	// numbers, levels by severity, times as times. Op is one of
	// > >= < <=.
	Compare struct {
		Pos   int
		Field string
		Op    string
		Value string
	}
	// Range matches a value between Lo and Hi: field:[lo, hi), brackets
	// include the bound, parentheses exclude it.
	Range struct {
		Pos            int
		Field          string
		Lo, Hi         string
		LoIncl, HiIncl bool
	}
	// Regex matches a value the RE2 Pattern matches (anywhere in it, case
	// sensitive unless the pattern says (?i)); with no Field, the message.
	Regex struct {
		Pos     int
		Field   string
		Pattern string
	}
	// Exists matches an event that has Field, with a non-empty value:
	// field:*.
	Exists struct {
		Pos   int
		Field string
	}
	// Last matches events of the last Duration (raw, such as "5m"):
	// _time:5m.
	Last struct {
		Pos      int
		Duration string
	}
	// Stream matches events of the streams with all of Pairs, exactly:
	// _stream:{env="prod", service="api"}, as LogsQL selects streams. The
	// keys are source labels or service, level, host, publisher, topic.
	Stream struct {
		Pos   int
		Pairs []Pair
	}
	Pair struct{ Key, Value string }
)

// StreamField is the field name of a stream selector.
const StreamField = "_stream"

func (f *And) Position() int     { return f.Pos }
func (f *Or) Position() int      { return f.Pos }
func (f *Not) Position() int     { return f.Pos }
func (f *Any) Position() int     { return f.Pos }
func (f *Word) Position() int    { return f.Pos }
func (f *Exact) Position() int   { return f.Pos }
func (f *Compare) Position() int { return f.Pos }
func (f *Range) Position() int   { return f.Pos }
func (f *Regex) Position() int   { return f.Pos }
func (f *Exists) Position() int  { return f.Pos }
func (f *Last) Position() int    { return f.Pos }
func (f *Stream) Position() int  { return f.Pos }

func (f *And) String() string { return "(" + join(f.Items, " AND ") + ")" }
func (f *Or) String() string  { return "(" + join(f.Items, " OR ") + ")" }
func (f *Not) String() string { return "NOT " + f.X.String() }
func (f *Any) String() string { return "*" }

func (f *Word) String() string {
	text := f.Text
	if f.Phrase || needsQuotes(text) {
		text = strconv.Quote(text)
	}
	if f.Prefix {
		text += "*"
	}
	return fieldPrefix(f.Field) + text
}

func (f *Exact) String() string   { return fieldPrefix(f.Field) + "=" + strconv.Quote(f.Value) }
func (f *Compare) String() string { return fieldPrefix(f.Field) + f.Op + quoteValue(f.Value) }
func (f *Regex) String() string   { return fieldPrefix(f.Field) + "~" + strconv.Quote(f.Pattern) }
func (f *Exists) String() string  { return fieldPrefix(f.Field) + "*" }
func (f *Last) String() string    { return Time + ":" + f.Duration }

func (f *Stream) String() string {
	pairs := make([]string, len(f.Pairs))
	for i, p := range f.Pairs {
		pairs[i] = quoteIfNeeded(p.Key) + "=" + strconv.Quote(p.Value)
	}
	return StreamField + ":{" + strings.Join(pairs, ", ") + "}"
}

func (f *Range) String() string {
	lo, hi := "(", ")"
	if f.LoIncl {
		lo = "["
	}
	if f.HiIncl {
		hi = "]"
	}
	return fieldPrefix(f.Field) + lo + quoteValue(f.Lo) + ", " + quoteValue(f.Hi) + hi
}

func join(items []Filter, sep string) string {
	s := make([]string, len(items))
	for i, x := range items {
		s[i] = x.String()
	}
	return strings.Join(s, sep)
}

func fieldPrefix(field string) string {
	if field == "" {
		return ""
	}
	if !validField(field) || isKeyword(field) {
		return strconv.Quote(field) + ":"
	}
	return field + ":"
}

func quoteIfNeeded(s string) string {
	if needsQuotes(s) {
		return strconv.Quote(s)
	}
	return s
}

// quoteValue quotes a value after an operator when it would not read
// back bare: it may hold ':' and start with '-'.
func quoteValue(s string) string {
	for i := 0; i < len(s); i++ {
		if stopsValue(s[i]) || s[i] == ']' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// needsQuotes reports whether s would not read back as one bare token.
func needsQuotes(s string) bool {
	if s == "" || isKeyword(s) {
		return true
	}
	for i := 0; i < len(s); i++ {
		if stopsBare(s[i]) || s[i] == '*' || (i == 0 && (s[i] == '-' || s[i] == '!' || s[i] == '~' || s[i] == '=')) {
			return true
		}
	}
	return false
}

func isKeyword(s string) bool {
	switch strings.ToUpper(s) {
	case "AND", "OR", "NOT":
		return true
	}
	return false
}

// FieldOf is the field a leaf filter names ("" for the message and every
// field; _time for Last), "" for And, Or, Not, Any and Stream.
func FieldOf(x Filter) string {
	switch x := x.(type) {
	case *Word:
		return x.Field
	case *Exact:
		return x.Field
	case *Compare:
		return x.Field
	case *Range:
		return x.Field
	case *Regex:
		return x.Field
	case *Exists:
		return x.Field
	case *Last:
		return Time
	}
	return ""
}

// LevelCondition reads a filter on the level field: the comparison it
// asks for (=, >, >=, <, <=) and the level's name; all for level:*; ok is
// false for a filter a level cannot take (a regex, a range).
func LevelCondition(x Filter) (op, name string, all, ok bool) {
	switch x := x.(type) {
	case *Word:
		return "=", x.Text, false, true
	case *Exact:
		return "=", x.Value, false, true
	case *Compare:
		return x.Op, x.Value, false, true
	case *Exists:
		return "", "", true, true
	}
	return "", "", false, false
}
