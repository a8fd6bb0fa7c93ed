package query

import (
	"context"
	"errors"
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
	if q.Since.IsZero() || q.Until.IsZero() {
		return nil, fmt.Errorf("%w: stats needs --since and --until", ErrBadQuery)
	}
	if every < 0 {
		return nil, fmt.Errorf("%w: --every %s is negative; want a bucket length such as 1h", ErrBadQuery, every)
	}
	span := q.Until.Sub(q.Since)
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
	q.Limit = 0
	plan, err := s.plan(q)
	if err != nil {
		return nil, err
	}
	plan.grouped, plan.bucketBase, plan.bucketNs = true, q.Since.UnixNano(), bucketNs
	rows := map[string]*StatsRow{}
	for _, p := range plan.parts {
		if err := statsPartition(ctx, plan, p, by, int(nb), every > 0, rows); err != nil && !s.skipDamaged(p.Path, err) {
			return nil, err
		}
	}
	st := &Stats{By: by, Since: q.Since, Until: q.Until, Every: every}
	for _, r := range rows {
		st.Rows = append(st.Rows, *r)
		st.Total += r.Count
	}
	sort.Slice(st.Rows, func(i, j int) bool {
		if st.Rows[i].Count != st.Rows[j].Count {
			return st.Rows[i].Count > st.Rows[j].Count
		}
		return st.Rows[i].Key < st.Rows[j].Key
	})
	return st, nil
}

func statsPartition(ctx context.Context, plan *plan, p index.Partition, by GroupBy, nb int, bucketed bool, rows map[string]*StatsRow) error {
	db, err := index.OpenReadOnly(p.Path)
	if errors.Is(err, index.ErrNotReady) || plan.s.skipDamaged(p.Path, err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer db.Close()
	keys := map[int64]string{} // series id → group key
	srows, err := db.QueryContext(ctx, "SELECT id, service, level, host, labels FROM series")
	if err != nil {
		return plan.wrapErr(p.Path, err)
	}
	for srows.Next() {
		var id int64
		var ev schema.Event
		var lvl int
		var labels string
		if err := srows.Scan(&id, &ev.Service, &lvl, &ev.Host, &labels); err != nil {
			srows.Close()
			return err
		}
		ev.Level = schema.Level(lvl)
		if ev.Labels, err = index.ParseLabelsColumn(labels); err != nil {
			srows.Close()
			return err
		}
		keys[id] = by.key(&ev)
	}
	srows.Close()
	match, ok, err := plan.match(ctx, db)
	if err != nil || !ok {
		if err != nil {
			return plan.wrapErr(p.Path, err)
		}
		return nil
	}
	sqlText, args := plan.query(match, false, 0)
	res, err := db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return plan.wrapErr(p.Path, err)
	}
	defer res.Close()
	for res.Next() {
		var series, bucket, n, last int64
		if err := res.Scan(&series, &bucket, &n, &last); err != nil {
			return fmt.Errorf("read stats: %w", err)
		}
		key := keys[series]
		r := rows[key]
		if r == nil {
			r = &StatsRow{Key: key}
			if bucketed {
				r.Buckets = make([]int64, nb)
			}
			rows[key] = r
		}
		r.Count += n
		if t := time.Unix(0, last).UTC(); t.After(r.Last) {
			r.Last = t
		}
		if bucketed {
			// Until is inclusive: an event at exactly Until ends the last bucket.
			r.Buckets[min(max(bucket, 0), int64(nb)-1)] += n
		}
	}
	if err := res.Err(); err != nil {
		return plan.wrapErr(p.Path, err)
	}
	return nil
}
