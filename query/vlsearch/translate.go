package vlsearch

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/collector/vlstore"
	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// logsQL is a query's filter in LogsQL. It matches at least what the
// query matches, so that checking each row as the index would (query.Over)
// gives the index's answer; exact says it matches no more, so that
// VictoriaLogs may count and limit by itself.
type logsQL struct {
	text  string
	exact bool
}

// translator turns zlog's query language into LogsQL over the rows
// vlstore writes. fields are the stored field names a word without a
// field must be looked for in (zlog matches the message and every
// field's value; LogsQL only the message).
type translator struct {
	fields []string
	bare   bool // a word without a field was met: it needs fields
}

// anything is LogsQL's filter that matches every row.
const anything = "*"

func inexact() logsQL { return logsQL{anything, false} }

// query is q's whole filter: its window, its flags and its expression.
func (t *translator) query(q query.Query, lo, hi int64) logsQL {
	var parts []logsQL
	if w := window(lo, hi); w != "" {
		parts = append(parts, logsQL{w, true})
	}
	if len(q.Services) > 0 {
		parts = append(parts, logsQL{"service:in(" + quoteAll(q.Services) + ")", true})
	}
	if q.TopicPrefix != "" {
		parts = append(parts, logsQL{"topic:=" + strconv.Quote(q.TopicPrefix) + "*", true})
	}
	if q.Host != "" {
		parts = append(parts, exactly("host", q.Host))
	}
	for k, v := range q.Labels {
		parts = append(parts, exactly(vlstore.StoredName(k), v))
	}
	if q.MinLevel > schema.Levels()[0] {
		parts = append(parts, levelsWhere(func(l schema.Level) bool { return l >= q.MinLevel }))
	}
	for _, w := range q.Words {
		parts = append(parts, t.bareWord(w, strings.Contains(w, " "), false))
	}
	if strings.TrimSpace(q.FTS) != "" {
		parts = append(parts, inexact()) // FTS5's syntax is checked on each row
	}
	if q.Expr != nil && q.Expr.Filter != nil {
		items := []ql.Filter{q.Expr.Filter}
		if and, ok := q.Expr.Filter.(*ql.And); ok {
			items = and.Items
		}
		for _, x := range items {
			if isTime(x) { // the window has it, as the index's plan does
				continue
			}
			parts = append(parts, t.filter(x))
		}
	}
	return and(parts)
}

// window is the time filter of [lo, hi] in Unix ns, "" for all time.
func window(lo, hi int64) string {
	if lo == math.MinInt64 && hi == math.MaxInt64 {
		return ""
	}
	ts := func(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
	switch {
	case lo == math.MinInt64:
		return "_time:<=" + ts(hi)
	case hi == math.MaxInt64:
		return "_time:>=" + ts(lo)
	}
	return "_time:[" + ts(lo) + ", " + ts(hi) + "]"
}

func isTime(x ql.Filter) bool { return ql.FieldOf(x) == ql.Time }

func (t *translator) filter(x ql.Filter) logsQL {
	switch x := x.(type) {
	case *ql.And:
		parts := make([]logsQL, len(x.Items))
		for i, it := range x.Items {
			parts[i] = t.filter(it)
		}
		return and(parts)
	case *ql.Or:
		parts := make([]logsQL, len(x.Items))
		for i, it := range x.Items {
			parts[i] = t.filter(it)
		}
		return or(parts)
	case *ql.Not:
		inner := t.filter(x.X)
		if !inner.exact {
			return inexact() // NOT of more than the query matches is less
		}
		return logsQL{"!(" + inner.text + ")", true}
	case *ql.Any:
		return logsQL{anything, true}
	case *ql.Stream:
		parts := make([]logsQL, len(x.Pairs))
		for i, p := range x.Pairs {
			parts[i] = t.leaf(&ql.Exact{Field: p.Key, Value: p.Value})
		}
		return and(parts)
	}
	if isTime(x) {
		return inexact() // under OR or NOT: checked on each row
	}
	return t.leaf(x)
}

func (t *translator) leaf(x ql.Filter) logsQL {
	field := ql.FieldOf(x)
	switch {
	case field == "level":
		return levelFilter(x)
	case field == "" || field == ql.Message:
		return t.message(x)
	case field == "seq" || field == "service" || field == "host" || field == "publisher" || field == "topic":
		return builtin(field, x)
	}
	name := strconv.Quote(vlstore.StoredName(field))
	switch x := x.(type) {
	case *ql.Word:
		return logsQL{name + ":" + anyCase(x.Text, x.Prefix), true}
	case *ql.Exact:
		return exactly(vlstore.StoredName(field), x.Value)
	case *ql.Compare:
		if _, err := strconv.ParseFloat(x.Value, 64); err != nil {
			return inexact() // text comparisons are checked on each row
		}
		return logsQL{name + ":" + x.Op + x.Value, true}
	case *ql.Range:
		return numericRange(name, x)
	case *ql.Regex:
		return logsQL{name + ":~" + strconv.Quote(x.Pattern), true}
	case *ql.Exists:
		return logsQL{name + ":*", true}
	}
	return inexact()
}

// message is a filter with no field, or on _msg.
func (t *translator) message(x ql.Filter) logsQL {
	switch x := x.(type) {
	case *ql.Word:
		if x.Field == "" {
			return t.bareWord(x.Text, x.Phrase, x.Prefix)
		}
		return logsQL{ql.Message + ":" + anyCase(x.Text, x.Prefix), true}
	case *ql.Exact:
		return exactly(ql.Message, x.Value)
	case *ql.Regex:
		return logsQL{ql.Message + ":~" + strconv.Quote(x.Pattern), true}
	case *ql.Exists:
		return logsQL{ql.Message + ":*", true}
	}
	return inexact()
}

// bareWord is a word in the message or in any field's value.
func (t *translator) bareWord(text string, phrase, prefix bool) logsQL {
	if !hasWordChar(text) {
		return inexact() // a substring without words: checked on each row
	}
	t.bare = true
	w := anyCase(text, prefix)
	alts := []logsQL{{ql.Message + ":" + w, true}}
	for _, f := range t.fields {
		alts = append(alts, logsQL{strconv.Quote(f) + ":" + w, true})
	}
	return or(alts)
}

func hasWordChar(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r > 127
	}) >= 0
}

// anyCase is LogsQL's case-insensitive word, phrase or prefix.
func anyCase(text string, prefix bool) string {
	if prefix {
		return "i(" + strconv.Quote(text) + "*)"
	}
	return "i(" + strconv.Quote(text) + ")"
}

// builtin is a filter on a part of the event every row has: words on it
// match its whole value (or, with *, its start).
func builtin(field string, x ql.Filter) logsQL {
	switch x := x.(type) {
	case *ql.Word:
		if x.Prefix {
			return logsQL{field + ":=" + strconv.Quote(x.Text) + "*", true}
		}
		return exactly(field, x.Text)
	case *ql.Exact:
		return exactly(field, x.Value)
	case *ql.Regex:
		return logsQL{field + ":~" + strconv.Quote(x.Pattern), true}
	case *ql.Exists:
		if field == "seq" {
			return logsQL{"seq:*", true}
		}
		return logsQL{anything, true}
	case *ql.Compare:
		if field == "seq" {
			if _, err := strconv.ParseUint(x.Value, 10, 64); err == nil {
				return logsQL{"seq:" + x.Op + x.Value, true}
			}
		}
	case *ql.Range:
		if field == "seq" {
			return numericRange("seq", x)
		}
	}
	return inexact()
}

func numericRange(name string, x *ql.Range) logsQL {
	for _, v := range []string{x.Lo, x.Hi} {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return inexact()
		}
	}
	lo, hi := "(", ")"
	if x.LoIncl {
		lo = "["
	}
	if x.HiIncl {
		hi = "]"
	}
	return logsQL{name + ":range" + lo + x.Lo + ", " + x.Hi + hi, true}
}

// levelFilter: levels compare by severity, so a comparison is the set of
// levels it admits.
func levelFilter(x ql.Filter) logsQL {
	op, name, all, ok := ql.LevelCondition(x)
	switch {
	case all:
		return logsQL{anything, true}
	case !ok:
		return inexact()
	}
	want, err := schema.ParseLevel(name)
	if err != nil {
		return inexact() // the query's own compile refuses it
	}
	return levelsWhere(func(l schema.Level) bool { return query.LevelHolds(op, l, want) })
}

func levelsWhere(ok func(schema.Level) bool) logsQL {
	var names []string
	for _, l := range schema.Levels() {
		if ok(l) {
			names = append(names, l.String())
		}
	}
	if len(names) == 0 {
		return logsQL{"!*", true}
	}
	return logsQL{"level:in(" + quoteAll(names) + ")", true}
}

func exactly(field, value string) logsQL {
	return logsQL{strconv.Quote(field) + ":=" + strconv.Quote(value), true}
}

func quoteAll(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// and joins filters; a part that matches everything is left out.
func and(parts []logsQL) logsQL {
	out := logsQL{exact: true}
	var texts []string
	for _, p := range parts {
		out.exact = out.exact && p.exact
		if p.text != anything {
			texts = append(texts, "("+p.text+")")
		}
	}
	if len(texts) == 0 {
		out.text = anything
		return out
	}
	out.text = strings.Join(texts, " ")
	return out
}

// or joins alternatives; one that matches everything makes all of it.
func or(parts []logsQL) logsQL {
	out := logsQL{exact: true}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		out.exact = out.exact && p.exact
		if p.text == anything { // matches everything (exactly, or more than the query)
			return logsQL{anything, p.exact}
		}
		texts = append(texts, "("+p.text+")")
	}
	out.text = strings.Join(texts, " OR ")
	return out
}
