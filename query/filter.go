package query

import (
	"encoding/json"
	"math"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// A query language filter is compiled into what the index can use (the
// time window, the words its filters know, and conditions on series,
// which rule out whole series and so whole blocks) and a condition on
// each decoded event for the rest.

// cond is a compiled filter node.
type cond interface {
	eval(e *evalCtx) bool
}

// evalCtx is one event as conditions see it. Its fields are parsed from
// the stored JSON only when a condition asks for one.
type evalCtx struct {
	s      *index.Series
	time   int64
	seq    uint64
	msg    string
	raw    string // fields as stored (JSON), read one field at a time
	fields schema.Fields
	parsed bool // fields holds them (a live event's), not raw
	doc    *doc
}

// value is a field's value: the built-ins first, then the event's fields,
// then its source labels.
func (e *evalCtx) value(name string) (any, bool) {
	switch name {
	case ql.Message:
		return e.msg, true
	case ql.Time:
		return time.Unix(0, e.time).UTC().Format(time.RFC3339Nano), true
	case seqField:
		return int64(e.seq), e.seq > 0
	}
	if e.s != nil {
		if v, ok := seriesValue(e.s, name); ok {
			return v, true
		}
	}
	if e.parsed {
		if v, ok := e.fields[name]; ok {
			return v, true
		}
	} else if v, ok := fieldOfRaw(e.raw, name); ok {
		return v, true
	}
	if e.s != nil {
		if v, ok := e.s.Labels[name]; ok {
			return v, true
		}
	}
	return nil, false
}

// allFields decodes every field of the event: for field_names, which
// reads them all.
func (e *evalCtx) allFields() schema.Fields {
	if !e.parsed {
		e.parsed = true
		if e.raw != "" && json.Unmarshal([]byte(e.raw), &e.fields) != nil {
			e.fields = nil // index.FieldsColumn wrote it: cannot happen short of damage
		}
	}
	return e.fields
}

// seqField is the built-in field of an event's sequence number in its
// stream.
const seqField = "seq"

// seriesFields are the built-in fields a series has.
var seriesFields = map[string]bool{"service": true, "level": true, "host": true, "publisher": true, "topic": true}

func seriesValue(s *index.Series, name string) (string, bool) {
	switch name {
	case "service":
		return s.Service, true
	case "level":
		return s.Level.String(), true
	case "host":
		return s.Host, s.Host != ""
	case "publisher":
		return s.Publisher, s.Publisher != ""
	case "topic":
		return s.Service + "." + s.Level.String(), true
	}
	return "", false
}

// number reads a value as a number: numbers as they are, strings that
// hold one.
func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case string:
		return parseNumber(v)
	}
	return 0, false
}

type (
	andCond []cond
	orCond  []cond
	notCond struct{ x cond }
	allCond struct{}
)

func (c andCond) eval(e *evalCtx) bool {
	for _, x := range c {
		if !x.eval(e) {
			return false
		}
	}
	return true
}

func (c orCond) eval(e *evalCtx) bool {
	for _, x := range c {
		if x.eval(e) {
			return true
		}
	}
	return false
}

func (c notCond) eval(e *evalCtx) bool { return !c.x.eval(e) }
func (allCond) eval(*evalCtx) bool     { return true }

// timeCond holds an event time in [lo, hi] (ns): _time inside OR or NOT.
type timeCond struct{ lo, hi int64 }

func (c timeCond) eval(e *evalCtx) bool { return e.time >= c.lo && e.time <= c.hi }

// wordsCond is words with no field: the message or any field's value.
type wordsCond struct{ w wordExpr }

func (c wordsCond) eval(e *evalCtx) bool { return c.w.match(e.doc) }

// noBound is an open end of a window.
const noBound = math.MaxInt64

// streamCond is a stream selector: each key is a series field or a source
// label with exactly that value.
type streamCond []ql.Pair

func (c streamCond) eval(e *evalCtx) bool {
	if e.s == nil {
		return false
	}
	for _, p := range c {
		v, ok := seriesValue(e.s, p.Key)
		if !ok || !seriesFields[p.Key] {
			v, ok = e.s.Labels[p.Key]
		}
		if !ok || v != p.Value {
			return false
		}
	}
	return true
}
