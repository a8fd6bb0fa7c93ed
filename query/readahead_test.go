package query

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/schema"
)

// A search that decodes blocks ahead hands out the same events, in the
// same order, as one that decodes each block when it loads it: newest or
// oldest first, cut by a limit or not, with words that rule out some
// blocks and rows. Blocks of two services overlap in time, so the
// iterator loads them interleaved.
func TestReadAheadKeepsOrder(t *testing.T) {
	base := time.Date(2026, 11, 24, 22, 0, 0, 0, time.UTC) // two days: two partitions
	var evs []schema.Event
	for i := range 12 * index.FullBlock {
		evs = append(evs, schema.Event{
			Time:    base.Add(time.Duration(i) * 331 * time.Millisecond),
			Service: []string{"api", "db", "web"}[i%3], Level: schema.LevelInfo, Host: "h1", Publisher: "p1",
			Seq:     uint64(i/3 + 1),
			Message: fmt.Sprintf("event %d %s", i, []string{"alpha", "beta", "gamma", "delta"}[(i/97)%4]),
		})
	}
	s, err := NewSearcher(writeIndex(t, evs))
	if err != nil {
		t.Fatal(err)
	}
	old := maxAhead
	t.Cleanup(func() { maxAhead = old })
	for _, q := range []Query{
		{}, {Limit: 7}, {Limit: 5000, OldestFirst: true}, {Words: []string{"gamma"}},
		{Words: []string{"delta"}, Limit: 333}, {Services: []string{"db"}, OldestFirst: true},
		{Since: base.Add(17 * time.Minute), Until: base.Add(3 * time.Hour), Words: []string{"beta"}},
	} {
		maxAhead = 0
		want := collect(t, s, q)
		maxAhead = 3
		got := collect(t, s, q)
		if len(want) == 0 || !slices.EqualFunc(got, want, func(a, b schema.Event) bool {
			return a.Time.Equal(b.Time) && a.Message == b.Message && a.Service == b.Service
		}) {
			t.Errorf("%+v: %d events ahead, %d loading each block (first ahead %v)", q, len(got), len(want), got[:min(1, len(got))])
		}
	}
}
