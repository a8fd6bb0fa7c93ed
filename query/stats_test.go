package query

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

// Stats must agree with Search: per group, its count equals the number of
// events a search with the same filters returns, and buckets sum to it.
func TestStatsAgreeWithSearch(t *testing.T) {
	base := time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC) // spans midnight: two partitions
	var evs []schema.Event
	services := []string{"api", "db", "web"}
	for i := 0; i < 3000; i++ {
		evs = append(evs, schema.Event{
			Time: base.Add(time.Duration(i) * 3 * time.Second), Service: services[i%3], Level: schema.Level(1 + i%6),
			Host: fmt.Sprintf("h%d", i%4), Publisher: "p", Message: fmt.Sprintf("request %d %s", i, map[bool]string{true: "timeout", false: "ok"}[i%7 == 0]),
		})
	}
	s, err := NewSearcher(writeIndex(t, evs))
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Since: base.Add(10 * time.Minute), Until: base.Add(140 * time.Minute), MinLevel: schema.LevelInfo, Words: []string{"timeout"}}
	st, err := s.Stats(context.Background(), q, ByService, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, r := range st.Rows {
		qq := q
		qq.Services = []string{r.Key}
		want := int64(len(collect(t, s, qq)))
		if r.Count != want || want == 0 {
			t.Errorf("%s: stats %d, search %d", r.Key, r.Count, want)
		}
		var sum int64
		for _, b := range r.Buckets {
			sum += b
		}
		if sum != r.Count || len(r.Buckets) != 13 {
			t.Errorf("%s: %d buckets summing to %d, want 13 summing to %d", r.Key, len(r.Buckets), sum, r.Count)
		}
		total += r.Count
	}
	if n, _ := s.Count(context.Background(), q); n != total || total != st.Total {
		t.Errorf("count %d, stats total %d / %d", n, total, st.Total)
	}
	for _, by := range []GroupBy{ByLevel, ByHost, ByTopic} {
		st, err := s.Stats(context.Background(), q, by, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st.Total != total {
			t.Errorf("by %s: total %d, want %d", by, st.Total, total)
		}
	}
	if _, err := ParseGroupBy("colour"); err == nil {
		t.Error("bad --by accepted")
	}
	if _, err := s.Stats(context.Background(), q, ByService, time.Millisecond); err == nil {
		t.Error("a million buckets accepted")
	}
}
