package query

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// statsStep is "| stats": one record per group of by, with each
// function's result under its name.
type statsStep struct {
	by     []ql.By
	bucket []time.Duration // per by key; 0 for a plain field
	funcs  []ql.StatsFunc
	phi    []float64
}

func compileStats(p *ql.Stats, src string) (*statsStep, error) {
	s := &statsStep{by: p.By, funcs: p.Funcs, bucket: make([]time.Duration, len(p.By)), phi: make([]float64, len(p.Funcs))}
	for i, b := range p.By {
		if b.Bucket == "" {
			continue
		}
		if b.Field != ql.Time {
			return nil, badQuery(src, b.Pos, "only _time is cut into buckets (by (_time:1m)), not %s", b.Field)
		}
		d, err := ParseDuration(b.Bucket)
		if err != nil || d <= 0 {
			return nil, badQuery(src, b.Pos, "bucket %q: want a duration, like 1m, 5m, 1h", b.Bucket)
		}
		s.bucket[i] = d
	}
	for i, f := range p.Funcs {
		switch f.Name {
		case "median":
			s.phi[i] = 0.5
		case "quantile":
			s.phi[i], _ = strconv.ParseFloat(f.Phi, 64) // checked by the parser
		}
	}
	return s, nil
}

func badQuery(src string, pos int, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrBadQuery, ql.Errorf(src, pos, format, args...))
}

// statsGroup accumulates one group's functions.
type statsGroup struct {
	key  record
	accs []statsAccum
}

type statsAccum struct {
	n        int64
	sum      float64
	min, max float64
	values   []float64
	uniq     map[string]bool
}

func (s *statsStep) apply(in []record, _ []string) ([]record, []string) { return foldAll(s, in) }
func (s *statsStep) newFold() fold                                      { return s.newAcc() }

// fields are what the step reads of an event: its keys and arguments.
func (s *statsStep) fields() []string {
	out := s.keyNames()
	for _, f := range s.funcs {
		if f.Field != "" && !slices.Contains(out, f.Field) {
			out = append(out, f.Field)
		}
	}
	return out
}

func (a *statsGroups) records() ([]record, []string) { return a.result(), a.s.columns() }

// merge adds another worker's groups.
func (a *statsGroups) merge(other fold) {
	for _, k := range other.(*statsGroups).order {
		o := other.(*statsGroups).groups[k]
		g, ok := a.groups[k]
		if !ok {
			a.groups[k] = o
			a.order = append(a.order, k)
			for i := range o.accs {
				a.uniqHeld += len(o.accs[i].uniq)
			}
			continue
		}
		for i := range g.accs {
			before := len(g.accs[i].uniq)
			g.accs[i].merge(&o.accs[i])
			a.uniqHeld += len(g.accs[i].uniq) - before
		}
	}
}

// statsGroups gathers a stats step's groups.
type statsGroups struct {
	s      *statsStep
	groups map[string]*statsGroup
	order  []string
	keyBuf []byte
	// last is the group of the previous event, whose key is lastKey.
	last    *statsGroup
	lastKey []byte
	// uniqHeld is the distinct values count_uniq holds, over all groups.
	uniqHeld int
	// atGroup is the group of groupAt's last bucket, atBucket.
	atGroup  *statsGroup
	atBucket int64
}

func (s *statsStep) newAcc() *statsGroups {
	return &statsGroups{s: s, groups: map[string]*statsGroup{}}
}

func (a *statsGroups) add(get getter) { a.addEvent(get, 1, 0, false) }

// addAt is add for an event whose time the caller has: _time keys are cut
// from timeNs instead of read through get, which boxes a time.Time each
// time (with the group lookup, half of a stats by (_time:1m) over a
// million events, measured).
func (a *statsGroups) addAt(get getter, timeNs int64) { a.addEvent(get, 1, timeNs, true) }

// addN adds an event, standing for n events with its values: n > 1 only
// when every function is count().
func (a *statsGroups) addN(get getter, n int64) { a.addEvent(get, n, 0, false) }

func (a *statsGroups) addEvent(get getter, n int64, timeNs int64, timed bool) {
	s := a.s
	a.keyBuf = a.appendKey(a.keyBuf[:0], get, timeNs, timed)
	g := a.last
	if g == nil || !bytes.Equal(a.keyBuf, a.lastKey) { // events of a group come in runs
		g = a.group(get)
		a.last, a.lastKey = g, append(a.lastKey[:0], a.keyBuf...)
	}
	for i := range s.funcs {
		f := &s.funcs[i]
		if f.Field == "" {
			g.accs[i].n += n
			continue
		}
		var v any
		var ok bool
		if f.Field == ql.Time {
			v, ok = s.bucketed(get)(f.Field)
		} else {
			v, ok = get(f.Field)
		}
		before := len(g.accs[i].uniq)
		g.accs[i].add(f, v, ok)
		a.uniqHeld += len(g.accs[i].uniq) - before
	}
}

// appendKey appends the event's group key: its by values, each followed
// by a 0 byte, with _time cut to the start of its bucket. Events without
// the keys form their own group, as in LogsQL.
func (a *statsGroups) appendKey(b []byte, get getter, timeNs int64, timed bool) []byte {
	s := a.s
	for i, by := range s.by {
		switch {
		case by.Field == ql.Time && timed:
			if d := s.bucket[i]; d > 0 {
				timeNs = bucketStart(timeNs, d)
			}
			b = appendTimeKey(b, timeNs)
		default:
			if v, ok := get(by.Field); ok {
				if t, isTime := v.(time.Time); isTime && by.Field == ql.Time && s.bucket[i] > 0 {
					v = time.Unix(0, bucketStart(t.UnixNano(), s.bucket[i])).UTC()
				}
				b = appendKeyValue(b, v)
			}
		}
		b = append(b, 0)
	}
	return b
}

// group is the group of the key in keyBuf, made from the event's values
// if it is the first.
func (a *statsGroups) group(get getter) *statsGroup {
	if g, ok := a.groups[string(a.keyBuf)]; ok {
		return g
	}
	s := a.s
	get = s.bucketed(get)
	key := make(record, len(s.by)+len(s.funcs))
	for _, b := range s.by {
		if v, ok := get(b.Field); ok {
			key[b.Field] = kept(v)
		}
	}
	g := &statsGroup{key: key, accs: make([]statsAccum, len(s.funcs))}
	for i := range g.accs {
		g.accs[i].min, g.accs[i].max = math.Inf(1), math.Inf(-1)
	}
	k := string(a.keyBuf)
	a.groups[k] = g
	a.order = append(a.order, k)
	return g
}

func (a *statsGroups) held() int { return len(a.groups) + a.uniqHeld }

// bucketed is get with _time cut to the start of its bucket.
func (s *statsStep) bucketed(get getter) getter {
	d := s.timeBucket()
	if d == 0 {
		return get
	}
	return func(name string) (any, bool) {
		v, ok := get(name)
		if t, isTime := v.(time.Time); ok && isTime && name == ql.Time {
			v = time.Unix(0, bucketStart(t.UnixNano(), d)).UTC()
		}
		return v, ok
	}
}

func (a *statsGroups) result() []record {
	s := a.s
	if len(s.by) == 0 && len(a.groups) == 0 { // stats over nothing is one row of zeros
		a.groups[""] = &statsGroup{key: record{}, accs: make([]statsAccum, len(s.funcs))}
		a.order = append(a.order, "")
	}
	out := make([]record, 0, len(a.order))
	for _, k := range a.order {
		g := a.groups[k]
		for i, f := range s.funcs {
			g.key[f.As] = g.accs[i].result(f.Name, s.phi[i])
		}
		out = append(out, g.key)
	}
	s.sortByKeys(out)
	return out
}

func (s *statsStep) keyNames() []string {
	names := make([]string, len(s.by))
	for i, b := range s.by {
		names[i] = b.Field
	}
	return names
}

func (s *statsStep) columns() []string {
	cols := s.keyNames()
	for _, f := range s.funcs {
		cols = append(cols, f.As)
	}
	return cols
}

// sortByKeys puts groups in the order of their keys: time buckets in time
// order, as a chart reads them, and the same order however they were
// counted.
func (s *statsStep) sortByKeys(out []record) {
	names := s.keyNames()
	slices.SortStableFunc(out, func(a, b record) int {
		for _, k := range names {
			if c := compareValues(a[k], b[k]); c != 0 {
				return c
			}
		}
		return 0
	})
}

func (a *statsAccum) add(f *ql.StatsFunc, v any, ok bool) {
	if !ok || blank(v) {
		return
	}
	switch f.Name {
	case "count":
		a.n++
	case "count_uniq":
		if a.uniq == nil {
			a.uniq = map[string]bool{}
		}
		if s := schema.FormatValue(v); !a.uniq[s] {
			a.uniq[strings.Clone(s)] = true // see kept
		}
	default:
		x, ok := number(v)
		if !ok {
			return
		}
		a.n++
		a.sum += x
		a.min, a.max = min(a.min, x), max(a.max, x)
		if f.Name == "median" || f.Name == "quantile" {
			a.values = append(a.values, x)
		}
	}
}

// addNumber is add of a number, which is never blank.
func (a *statsAccum) addNumber(f *ql.StatsFunc, x float64) {
	a.n++
	if f.Name == "count" {
		return
	}
	a.sum += x
	a.min, a.max = min(a.min, x), max(a.max, x)
	if f.Name == "median" || f.Name == "quantile" {
		a.values = append(a.values, x)
	}
}

func (a *statsAccum) merge(o *statsAccum) {
	a.n += o.n
	a.sum += o.sum
	a.min, a.max = min(a.min, o.min), max(a.max, o.max)
	a.values = append(a.values, o.values...)
	for v := range o.uniq {
		if a.uniq == nil {
			a.uniq = map[string]bool{}
		}
		a.uniq[v] = true
	}
}

// blank is FormatValue(v) == "", without formatting a number.
func blank(v any) bool {
	switch v := v.(type) {
	case string:
		return v == ""
	case int64, float64, bool, time.Time:
		return false
	}
	return schema.FormatValue(v) == ""
}

// result is the function's value; nil where there was no number.
func (a *statsAccum) result(name string, phi float64) any {
	switch name {
	case "count":
		return a.n
	case "count_uniq":
		return int64(len(a.uniq))
	}
	if a.n == 0 {
		return nil
	}
	switch name {
	case "sum":
		return a.sum
	case "avg":
		return a.sum / float64(a.n)
	case "min":
		return a.min
	case "max":
		return a.max
	}
	slices.Sort(a.values) // numbers from JSON: never NaN
	// nearest rank: the smallest value with at least phi of them at or below it
	i := int(math.Ceil(phi*float64(len(a.values)))) - 1
	return a.values[max(i, 0)]
}

// countsBySeries reports whether the step only counts events, grouped by
// what a series knows and by _time buckets: then block summaries answer it.
func (s *statsStep) countsBySeries() bool {
	for _, f := range s.funcs {
		if f.Name != "count" || f.Field != "" {
			return false
		}
	}
	for i, b := range s.by {
		if b.Field == ql.Time && s.bucket[i] > 0 || seriesFields[b.Field] {
			continue
		}
		return false
	}
	return true
}

// byServiceOnly reports whether the groups are services (and time
// buckets) alone.
func (s *statsStep) byServiceOnly() bool {
	for _, b := range s.by {
		if b.Field != "service" && b.Field != ql.Time {
			return false
		}
	}
	return true
}

// timeBucket is the step's _time bucket, 0 without one.
func (s *statsStep) timeBucket() time.Duration {
	for i, b := range s.by {
		if b.Field == ql.Time {
			return s.bucket[i]
		}
	}
	return 0
}

// countBySeries answers the step (countsBySeries) from the counts of
// each series per bucket, never making an event.
func (s *Searcher) countBySeries(ctx context.Context, q Query, st *statsStep) ([]record, error) {
	p, err := s.plan(q)
	if err != nil {
		return nil, err
	}
	d := st.timeBucket()
	bucket := func(int64) int64 { return 0 }
	if d > 0 {
		bucket = func(t int64) int64 { return bucketStart(t, d) / int64(d) } // fits: a minute's is 2.9e7 now
	}
	// A group's record is made once; rows are counted per group number.
	var ids groupIDs
	var recs []record
	sums := map[int64]int64{} // groupBucket(group, bucket) → count
	var key []byte
	groupOf := func(se *index.Series) int64 {
		key = key[:0]
		for _, b := range st.by {
			v, _ := seriesValue(se, b.Field)
			key = append(append(key, v...), 0)
		}
		id := ids.id(string(key))
		if int(id) == len(recs) {
			r := record{}
			for _, b := range st.by {
				if v, ok := seriesValue(se, b.Field); ok {
					r[b.Field] = v
				}
			}
			recs = append(recs, r)
		}
		return id
	}
	err = p.countSeriesParts(ctx, p.parts, bucket, groupOf, st.byServiceOnly(), func(group, at int64, c seriesCount) {
		sums[groupBucket(group, at)] += c.n
	}, s.skipDamaged)
	if err != nil {
		return nil, err
	}
	acc := st.newAcc()
	for k, n := range sums {
		group, at := unpackGroupBucket(k)
		r := maps.Clone(recs[group])
		r[ql.Time] = time.Unix(0, at*int64(d)).UTC()
		acc.addN(recordGetter(r), n)
	}
	return acc.result(), nil
}
