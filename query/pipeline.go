package query

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// Table is what a query with pipes answers: rows of named values, with
// the columns in the order they are shown.
type Table struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// maxKept bounds the events a query holds in memory for pipes that need
// them all (sort, fields): past it the query is refused, not the
// collector's or logq's memory exhausted.
var maxKept = 1_000_000

// record is one row between pipes.
type record map[string]any

// HasPipes reports whether the query's Expr has pipes, which Run answers
// (Search and Count answer its filter alone).
func (q *Query) HasPipes() bool { return q.Expr != nil && len(q.Expr.Pipes) > 0 }

// Run answers a query as a table: the events its filter matches (in the
// query's order, the newest Limit of them when it has no pipes),
// reshaped by each pipe in turn.
func (s *Searcher) Run(ctx context.Context, q Query) (*Table, error) {
	var steps []step
	if q.HasPipes() {
		var err error
		if steps, err = compilePipes(q.Expr); err != nil {
			return nil, err
		}
		q.Limit = 0 // pipes see every match
		if st, ok := steps[0].(*statsStep); ok && st.countsBySeries() {
			recs, err := s.countBySeries(ctx, q, st)
			if err != nil {
				return nil, err
			}
			return applySteps(recs, st.columns(), steps[1:]), nil
		}
		if f, ok := steps[0].(folder); ok {
			recs, cols, err := s.foldEvents(ctx, q, f)
			if err != nil {
				return nil, err
			}
			return applySteps(recs, cols, steps[1:]), nil
		}
	}
	if len(steps) > 0 {
		if n, ok := steps[0].(limitStep); ok { // the first N matches need no more read
			q.Limit, steps = int(n), steps[1:]
		}
	}
	it, err := s.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var recs []record
	cols := eventColumns
	for it.Next() {
		if len(recs) == maxKept {
			return nil, fmt.Errorf("%w: the query keeps more than %d events for its pipes (sort, fields); narrow the time or the filter, or start the pipes with stats, top or limit", ErrBadQuery, maxKept)
		}
		ev := it.At()
		recs = append(recs, eventRecord(&ev))
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return applySteps(recs, cols, steps), nil
}

func applySteps(recs []record, cols []string, steps []step) *Table {
	for _, st := range steps {
		recs, cols = st.apply(recs, cols)
	}
	return toTable(recs, cols)
}

// eventColumns are an event's columns before its labels and fields.
var eventColumns = []string{ql.Time, "service", "level", "host", "publisher", "seq", ql.Message}

// eventRecord is an event as a record: the built-ins, labels and fields,
// looked up as filters look them up.
func eventRecord(ev *schema.Event) record {
	r := make(record, len(eventColumns)+len(ev.Labels)+len(ev.Fields))
	for k, v := range ev.Labels {
		r[k] = v
	}
	for k, v := range ev.Fields {
		r[k] = v
	}
	s := index.Series{Service: ev.Service, Level: ev.Level, Host: ev.Host, Publisher: ev.Publisher, Labels: ev.Labels}
	e := evalCtx{s: &s, time: ev.Time.UnixNano(), seq: ev.Seq, msg: ev.Message, fields: ev.Fields, parsed: true}
	for _, c := range eventColumns[1:] {
		if v, ok := e.value(c); ok {
			r[c] = v
		}
	}
	r[ql.Time] = ev.Time // a time, not its text: it sorts and buckets as one
	return r
}

// toTable lays records out in cols, then any other keys they have, sorted.
func toTable(recs []record, cols []string) *Table {
	known := make(map[string]bool, len(cols))
	for _, c := range cols {
		known[c] = true
	}
	extra := map[string]bool{}
	for _, r := range recs {
		for k := range r {
			if !known[k] {
				extra[k] = true
			}
		}
	}
	t := &Table{Columns: append(slices.Clone(cols), slices.Sorted(maps.Keys(extra))...), Rows: [][]any{}}
	for _, r := range recs {
		row := make([]any, len(t.Columns))
		for i, c := range t.Columns {
			row[i] = r[c]
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// step is a compiled pipe.
type step interface {
	apply(in []record, cols []string) ([]record, []string)
}

func compilePipes(x *ql.Query) ([]step, error) {
	var out []step
	for _, p := range x.Pipes {
		var st step
		switch p := p.(type) {
		case *ql.Stats:
			s, err := compileStats(p, x.Src)
			if err != nil {
				return nil, err
			}
			st = s
		case *ql.Top:
			st = topStep{n: p.N, by: p.By}
		case *ql.Sort:
			st = sortStep(p.Keys)
		case *ql.Fields:
			st = fieldsStep(p.Names)
		case *ql.Uniq:
			st = uniqStep(p.By)
		case *ql.Limit:
			st = limitStep(p.N)
		case *ql.FieldNames:
			st = fieldNamesStep{}
		default:
			return nil, fmt.Errorf("%w: %w", ErrBadQuery, ql.Errorf(x.Src, p.Position(), "unknown pipe %s", p))
		}
		out = append(out, st)
	}
	return out, nil
}

type limitStep int

func (n limitStep) apply(in []record, cols []string) ([]record, []string) {
	return in[:min(len(in), int(n))], cols
}

type fieldsStep []string

func (f fieldsStep) apply(in []record, _ []string) ([]record, []string) {
	out := make([]record, len(in))
	for i, r := range in {
		out[i] = make(record, len(f))
		for _, k := range f {
			if v, ok := r[k]; ok {
				out[i][k] = v
			}
		}
	}
	return out, f
}

type sortStep []ql.SortKey

func (keys sortStep) apply(in []record, cols []string) ([]record, []string) {
	slices.SortStableFunc(in, func(a, b record) int {
		for _, k := range keys {
			c := compareValues(a[k.Field], b[k.Field])
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return in, cols
}

// compareValues orders values: absent first, numbers as numbers, the
// rest by their text.
func compareValues(a, b any) int {
	if a == nil || b == nil {
		return cmp.Compare(boolInt(a != nil), boolInt(b != nil))
	}
	if x, ok := a.(time.Time); ok {
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	}
	x, xok := number(a)
	y, yok := number(b)
	if xok && yok {
		return cmp.Compare(x, y)
	}
	return cmp.Compare(schema.FormatValue(a), schema.FormatValue(b))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// appendKeyValue appends a value as part of a group key: times by their
// nanoseconds (formatting a time per event would cost more than the rest
// of a stats by _time), the rest as they are shown.
func appendKeyValue(b []byte, v any) []byte {
	if t, ok := v.(time.Time); ok {
		return strconv.AppendInt(append(b, 't'), t.UnixNano(), 10)
	}
	return schema.AppendValue(b, v)
}

// uniqStep is the distinct combinations of its fields, in their order.
type uniqStep []string

func (by uniqStep) apply(in []record, _ []string) ([]record, []string) { return foldAll(by, in) }
func (by uniqStep) fields() []string                                   { return by }
func (by uniqStep) newFold() fold                                      { return &tally{by: by} }

// topStep is the n most frequent combinations of by, with their counts
// as "hits"; ties in the order of their values.
type topStep struct {
	n  int
	by []string
}

func (t topStep) apply(in []record, _ []string) ([]record, []string) { return foldAll(t, in) }
func (t topStep) fields() []string                                   { return t.by }
func (t topStep) newFold() fold                                      { return &tally{by: t.by, top: t.n, hits: true} }

// tally counts the combinations of by's values: top and uniq.
type tally struct {
	by     []string
	top    int  // the most frequent this many; 0 = all, in key order
	hits   bool // with their counts
	counts map[string]int64
	first  map[string]record
	key    []byte // reused
}

func (t *tally) add(get getter) {
	key, any := appendKey(t.key[:0], get, t.by)
	t.key = key
	if !any {
		return
	}
	if t.counts == nil {
		t.counts, t.first = map[string]int64{}, map[string]record{}
	}
	if n, ok := t.counts[string(key)]; ok { // no allocation for a known key
		t.counts[string(key)] = n + 1
		return
	}
	u := record{}
	for _, f := range t.by {
		if v, ok := get(f); ok {
			u[f] = v
		}
	}
	t.first[string(key)] = u
	t.counts[string(key)] = 1
}

// appendKey appends the values of fields, each ended by a NUL: a group's
// key, as groupKey makes it of a record; any says whether one was there.
func appendKey(b []byte, get getter, fields []string) (key []byte, any bool) {
	for _, f := range fields {
		if v, ok := get(f); ok {
			b = appendKeyValue(b, v)
			any = true
		}
		b = append(b, 0)
	}
	return b, any
}

func (t *tally) merge(other fold) {
	o := other.(*tally)
	for k, n := range o.counts {
		if _, ok := t.first[k]; !ok {
			if t.counts == nil {
				t.counts, t.first = map[string]int64{}, map[string]record{}
			}
			t.first[k] = o.first[k]
		}
		t.counts[k] += n
	}
}

func (t *tally) records() ([]record, []string) {
	keys := slices.Collect(maps.Keys(t.counts))
	if t.top > 0 {
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Or(cmp.Compare(t.counts[b], t.counts[a]), cmp.Compare(a, b))
		})
		keys = keys[:min(t.top, len(keys))]
	} else {
		slices.SortFunc(keys, func(a, b string) int { return compareRecords(t.first[a], t.first[b], t.by) })
	}
	out := make([]record, 0, len(keys))
	for _, k := range keys {
		r := t.first[k]
		if t.hits {
			r["hits"] = t.counts[k]
		}
		out = append(out, r)
	}
	if t.hits {
		return out, append(slices.Clone(t.by), "hits")
	}
	return out, t.by
}

// compareRecords orders records by the values of fields, in turn.
func compareRecords(a, b record, fields []string) int {
	for _, f := range fields {
		if c := compareValues(a[f], b[f]); c != 0 {
			return c
		}
	}
	return 0
}

// bucketStart is the start of the bucket of t, buckets every d from the
// Unix epoch: round times in UTC.
func bucketStart(t int64, d time.Duration) int64 {
	b := t - t%int64(d)
	if t < 0 && t%int64(d) != 0 {
		b -= int64(d)
	}
	return b
}
