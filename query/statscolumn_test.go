package query

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

// TestStatsByTimeFromColumns: stats by _time buckets of one field, which
// blocks answer from their times and the field's column, equal plain
// Go's, in windows that cut blocks, with a level filter (series not
// wanted), events without the field and fields stored whole; quantile
// equals what the rows give.
func TestStatsByTimeFromColumns(t *testing.T) {
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	evs := exprEvents(base, 6000)
	for i := range evs {
		if i%5 == 3 {
			delete(evs[i].Fields, "duration_ms")
		}
	}
	s, err := NewSearcher(writeIndex(t, evs[:2500], evs[2500:5000], evs[5000:]))
	if err != nil {
		t.Fatal(err)
	}
	const by = ` | stats by (_time:10m) count() n, count(duration_ms) c, sum(duration_ms) s, min(duration_ms) lo, max(duration_ms) hi, quantile(0.5, duration_ms) q`
	for _, tc := range []struct {
		filter   string
		from, to time.Time
		keep     func(*schema.Event) bool
	}{
		{"*", base, base.Add(3 * time.Hour), func(*schema.Event) bool { return true }},
		{"*", base.Add(17*time.Minute + 3*time.Second), base.Add(71 * time.Minute), func(*schema.Event) bool { return true }},
		{"level:error", base.Add(5 * time.Minute), base.Add(80 * time.Minute), func(ev *schema.Event) bool { return ev.Level == schema.LevelError }},
	} {
		q := Query{Since: tc.from, Until: tc.to, Expr: mustParse(t, tc.filter+by)}
		tab, err := s.Run(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range tab.Rows {
			got[fmt.Sprint(r[0])] = fmt.Sprint(r[1:6]...)
		}
		if want := plainStatsByTime(evs, tc.from, tc.to, tc.keep); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s over [%v, %v]:\n got %v\nwant %v", tc.filter, tc.from, tc.to, got, want)
		}
		// Quantiles as the rows give them: a condition makes the query read rows.
		q.Expr = mustParse(t, tc.filter+" duration_ms:>=0"+by)
		rows, err := s.Run(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows.Rows {
			if a, b := tab.Rows[i][6], rows.Rows[i][6]; fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%s: quantile of bucket %v is %v, from rows %v", tc.filter, tab.Rows[i][0], a, b)
			}
		}
	}
}

// plainStatsByTime is count, count(duration_ms), sum, min and max of
// duration_ms per 10 minutes, by the events' own values.
func plainStatsByTime(evs []schema.Event, from, to time.Time, keep func(*schema.Event) bool) map[string]string {
	type acc struct {
		n, c        int64
		sum, lo, hi float64
	}
	accs := map[time.Time]*acc{}
	for i := range evs {
		ev := &evs[i]
		if ev.Time.Before(from) || ev.Time.After(to) || !keep(ev) {
			continue
		}
		b := ev.Time.Truncate(10 * time.Minute)
		a := accs[b]
		if a == nil {
			a = &acc{lo: math.Inf(1), hi: math.Inf(-1)}
			accs[b] = a
		}
		a.n++
		if d, ok := ev.Fields["duration_ms"].(int64); ok {
			a.c++
			a.sum += float64(d)
			a.lo, a.hi = min(a.lo, float64(d)), max(a.hi, float64(d))
		}
	}
	out := map[string]string{}
	for b, a := range accs {
		out[fmt.Sprint(b)] = fmt.Sprint(a.n, a.c, a.sum, a.lo, a.hi)
	}
	return out
}
