package query

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// A count by service over a window that cuts blocks adds SQLite's sums of
// the blocks inside it to the decoded rows of those across its edges, and
// gives what counting the events one by one gives.
func TestCountByServiceOverWindowsCuttingBlocks(t *testing.T) {
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	evs := exprEvents(base, 9000)
	var batches [][]schema.Event
	for i := 0; i < len(evs); i += 500 { // blocks of a few hundred events a service
		batches = append(batches, evs[i:min(i+500, len(evs))])
	}
	s, err := NewSearcher(writeIndex(t, batches...))
	if err != nil {
		t.Fatal(err)
	}
	x, err := ql.Parse(`* | stats count() by (service)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range [][2]time.Duration{{0, 9000 * time.Second}, {-time.Hour, 3 * time.Hour}, {777 * time.Second, 5123 * time.Second}, {4000 * time.Second, 4000 * time.Second}} {
		since, until := base.Add(w[0]), base.Add(w[1])
		want := map[string]int64{}
		for i := range evs {
			if !evs[i].Time.Before(since) && !evs[i].Time.After(until) {
				want[evs[i].Service]++
			}
		}
		tab, err := s.Run(context.Background(), Query{Since: since, Until: until, Expr: x})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, r := range tab.Rows {
			got[r[0].(string)] = r[1].(int64)
		}
		if !maps.Equal(got, want) {
			t.Errorf("window %v: %v, want %v", w, got, want)
		}
	}
}
