package query

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/zlog/zlog/collector/index"

	"github.com/zlog/zlog/schema"
)

// GroupBy names what stats counts by.
type GroupBy string

const (
	ByService GroupBy = "service"
	ByLevel   GroupBy = "level"
	ByHost    GroupBy = "host"
	ByTopic   GroupBy = "topic"  // with the source labels: web.error{env=prod}
	ByLabels  GroupBy = "labels" // the whole label set
	// "label:KEY" groups by one label's value ("-" without it).
	byLabelPrefix = "label:"
)

// ParseGroupBy reads a --by value.
func ParseGroupBy(s string) (GroupBy, error) {
	switch g := GroupBy(s); g {
	case ByService, ByLevel, ByHost, ByTopic, ByLabels:
		return g, nil
	}
	if key, ok := strings.CutPrefix(s, byLabelPrefix); ok {
		if _, _, err := schema.ParseLabel(key + "="); err != nil {
			return "", fmt.Errorf("%w: --by %q: %w", ErrBadQuery, s, err)
		}
		return GroupBy(s), nil
	}
	return "", fmt.Errorf("%w: --by %q: want service, level, host, topic, labels or label:KEY", ErrBadQuery, s)
}

// key is an event's group.
func (g GroupBy) key(ev *schema.Event) string {
	switch g {
	case ByService:
		return ev.Service
	case ByLevel:
		return ev.Level.String()
	case ByHost:
		return ev.Host
	case ByTopic:
		return ev.Topic() + ev.Labels.String()
	case ByLabels:
		if len(ev.Labels) == 0 {
			return "{}"
		}
		return ev.Labels.String()
	}
	if v, ok := ev.Labels[strings.TrimPrefix(string(g), byLabelPrefix)]; ok {
		return v
	}
	return "-"
}

// Stats are counts of the events a query matches, per group and, with
// Every, per time bucket starting at Since.
type Stats struct {
	By    GroupBy       `json:"by"`
	Since time.Time     `json:"since"`
	Until time.Time     `json:"until"`
	Every time.Duration `json:"every_ns,omitempty"`
	Total int64         `json:"total"`
	Rows  []StatsRow    `json:"rows"` // largest count first
}

// StatsRow is one group.
type StatsRow struct {
	Key     string    `json:"key"`
	Count   int64     `json:"count"`
	Last    time.Time `json:"last"`              // newest matching event
	Buckets []int64   `json:"buckets,omitempty"` // with Every: counts per bucket, oldest first
}

// maxBuckets keeps a histogram drawable and its memory bounded.
const maxBuckets = 10000

// Stats counts what q matches (Limit and order ignored) grouped by by, and
// per every-long bucket when every > 0. Since and Until must be set.
func (s *Searcher) Stats(ctx context.Context, q Query, by GroupBy, every time.Duration) (*Stats, error) {
	acc, err := newStatsAcc(q, by, every)
	if err != nil {
		return nil, err
	}
	q.Limit = 0
	plan, err := s.plan(q)
	if err != nil {
		return nil, err
	}
	if err := acc.count(ctx, plan, s.skipDamaged); err != nil {
		return nil, err
	}
	return acc.stats(), nil
}

// newStatsAcc checks a stats request and lays out its buckets.
func newStatsAcc(q Query, by GroupBy, every time.Duration) (*statsAcc, error) {
	if q.Since.IsZero() || q.Until.IsZero() {
		return nil, fmt.Errorf("%w: stats needs --since and --until", ErrBadQuery)
	}
	if every < 0 {
		return nil, fmt.Errorf("%w: --every %s is negative; want a bucket length such as 1h", ErrBadQuery, every)
	}
	start := q.Since // buckets start at round times: 10:00, 10:05, not at since
	if every > 0 {
		start = time.Unix(0, bucketStart(q.Since.UnixNano(), every)).In(q.Since.Location())
	}
	span := q.Until.Sub(start)
	nb := int64(1)
	bucketNs := int64(math.MaxInt64)
	if every > 0 {
		nb = (int64(span) + int64(every) - 1) / int64(every)
		if nb > maxBuckets {
			return nil, fmt.Errorf("%w: --every %s makes %d buckets over %s; at most %d", ErrBadQuery, every, nb, span, maxBuckets)
		}
		nb = max(nb, 1)
		bucketNs = int64(every)
	}
	return &statsAcc{by: by, base: start.UnixNano(), every: bucketNs, nb: int(nb), bucketed: every > 0, rows: map[string]*StatsRow{},
		out: Stats{By: by, Since: start, Until: q.Until, Every: every}}, nil
}

// stats is what the accumulator added up, largest count first.
func (a *statsAcc) stats() *Stats {
	st := a.out
	for _, r := range a.rows {
		st.Rows = append(st.Rows, *r)
		st.Total += r.Count
	}
	sort.Slice(st.Rows, func(i, j int) bool {
		if st.Rows[i].Count != st.Rows[j].Count {
			return st.Rows[i].Count > st.Rows[j].Count
		}
		return st.Rows[i].Key < st.Rows[j].Key
	})
	return &st
}

// statsAcc adds events up per group and time bucket.
type statsAcc struct {
	by       GroupBy
	base     int64 // bucket = (time - base) / every
	every    int64
	nb       int
	bucketed bool
	rows     map[string]*StatsRow
	out      Stats // the request, which the rows are added to
}

func (a *statsAcc) bucket(t int64) int {
	// Until is inclusive: an event at exactly Until ends the last bucket.
	return int(min(max((t-a.base)/a.every, 0), int64(a.nb)-1))
}

func (a *statsAcc) add(key string, bucket int, n int64, last int64) {
	r := a.rows[key]
	if r == nil {
		r = &StatsRow{Key: key}
		if a.bucketed {
			r.Buckets = make([]int64, a.nb)
		}
		a.rows[key] = r
	}
	r.Count += n
	if t := time.Unix(0, last).UTC(); t.After(r.Last) {
		r.Last = t
	}
	if a.bucketed {
		r.Buckets[bucket] += n
	}
}

// count adds the plan's matches, counted per series; skip says whether a
// partition's error leaves it out or ends the count.
func (a *statsAcc) count(ctx context.Context, plan *plan, skip func(path string, err error) bool) error {
	var g groupIDs
	groupOf := func(s *index.Series) int64 {
		ev := schema.Event{Service: s.Service, Level: s.Level, Host: s.Host, Labels: s.Labels}
		return g.id(a.by.key(&ev))
	}
	bucket := func(t int64) int64 { return int64(a.bucket(t)) }
	return plan.countSeriesParts(ctx, plan.parts, bucket, groupOf, a.by == ByService, func(group, b int64, c seriesCount) {
		a.add(g.keys[group], int(b), c.n, c.last)
	}, skip)
}
