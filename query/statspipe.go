package query

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

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

func (s *statsStep) apply(in []record, _ []string) ([]record, []string) {
	groups := map[string]*statsGroup{}
	var order []string
	for _, r := range in {
		key := s.key(r)
		k := groupKey(key, s.keyNames())
		g, ok := groups[k]
		if !ok {
			g = &statsGroup{key: key, accs: make([]statsAccum, len(s.funcs))}
			for i := range g.accs {
				g.accs[i].min, g.accs[i].max = math.Inf(1), math.Inf(-1)
			}
			groups[k] = g
			order = append(order, k)
		}
		for i := range s.funcs {
			g.accs[i].add(&s.funcs[i], r)
		}
	}
	if len(s.by) == 0 && len(groups) == 0 { // stats over nothing is one row of zeros
		groups[""] = &statsGroup{key: record{}, accs: make([]statsAccum, len(s.funcs))}
		order = append(order, "")
	}
	out := make([]record, 0, len(order))
	for _, k := range order {
		g := groups[k]
		for i, f := range s.funcs {
			g.key[f.As] = g.accs[i].result(f.Name, s.phi[i])
		}
		out = append(out, g.key)
	}
	s.sortByBuckets(out)
	return out, s.columns()
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

// key is r's values of the by keys, times cut to their bucket's start.
func (s *statsStep) key(r record) record {
	key := make(record, len(s.by)+len(s.funcs))
	for i, b := range s.by {
		v, ok := r[b.Field]
		if !ok {
			continue
		}
		if t, isTime := v.(time.Time); isTime && s.bucket[i] > 0 {
			v = time.Unix(0, bucketStart(t.UnixNano(), s.bucket[i])).UTC()
		}
		key[b.Field] = v
	}
	return key
}

// sortByBuckets puts groups in time order when grouped by time buckets,
// as a chart reads them.
func (s *statsStep) sortByBuckets(out []record) {
	if !slices.ContainsFunc(s.bucket, func(d time.Duration) bool { return d > 0 }) {
		return
	}
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

func (a *statsAccum) add(f *ql.StatsFunc, r record) {
	if f.Field == "" {
		a.n++
		return
	}
	v, ok := r[f.Field]
	if !ok || schema.FormatValue(v) == "" {
		return
	}
	switch f.Name {
	case "count":
		a.n++
	case "count_uniq":
		if a.uniq == nil {
			a.uniq = map[string]bool{}
		}
		a.uniq[schema.FormatValue(v)] = true
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
	slices.SortFunc(a.values, cmp.Compare)
	// nearest rank: the smallest value with at least phi of them at or below it
	i := int(math.Ceil(phi*float64(len(a.values)))) - 1
	return a.values[max(i, 0)]
}
