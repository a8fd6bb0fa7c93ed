package query

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

// TestFoldsOverFieldsAgree: top, uniq and stats by a field equal plain
// Go's counts, in windows that cut through blocks (whose edges are read
// row by row, the rest without their heads), in a partition where the
// field's name is also a label of some series (which answers for events
// without the field, so that partition is read with its series) and in
// one where it is not. team's values are all strings and code's all
// numbers, so that their blocks are added a column at a time, but for the
// rows whose fields are stored whole (an escaped key).
func TestFoldsOverFieldsAgree(t *testing.T) {
	base := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC) // two days: two partitions
	var evs []schema.Event
	for i := range 12000 {
		ev := schema.Event{
			Time: base.Add(time.Duration(i) * 700 * time.Millisecond), Service: []string{"api", "db"}[i%2],
			Level: schema.LevelInfo, Host: fmt.Sprintf("h%d", i%3), Publisher: "p1",
			Message: fmt.Sprintf("event %d", i), Fields: schema.Fields{},
		}
		switch {
		case i%7 == 0:
		case i%11 == 0: // a number, read from the stored text as one
			ev.Fields["user"] = int64((i * i) % 37)
		case i%13 == 0: // stored escaped: \u003c
			ev.Fields["user"] = fmt.Sprintf("<u%d>", (i*i)%37)
		default:
			ev.Fields["user"] = fmt.Sprintf("u%d", (i*i)%37)
		}
		if i%3 != 0 {
			ev.Fields["team"] = fmt.Sprintf("t%d", i%5)
		}
		if i%5 != 0 {
			ev.Fields["code"] = int64(i % 4 * 100)
		}
		if i%17 == 0 {
			ev.Fields["a<b"] = true // stored whole, not as columns
		}
		if ev.Host == "h2" && ev.Time.Day() == 24 { // a label answers where the field is absent
			ev.Labels = schema.Labels{"user": "from-label"}
		}
		evs = append(evs, ev)
	}
	s, err := NewSearcher(writeIndex(t, evs))
	if err != nil {
		t.Fatal(err)
	}
	windows := [][2]time.Time{
		{base.Add(-time.Hour), base.Add(4 * time.Hour)},                         // everything
		{base.Add(17*time.Minute + 3*time.Second), base.Add(83 * time.Minute)},  // cuts blocks
		{base.Add(70*time.Minute + 3*time.Second), base.Add(133 * time.Minute)}, // in the second day
	}
	for _, own := range []int{ownReaderJobs, 1} { // workers read sealed blocks through their own connections too
		ownReaders(t, own)
		for _, w := range windows {
			for _, field := range []string{"user", "team", "code"} {
				foldsAgree(t, s, evs, w, field)
			}
		}
	}
}

// ownReaders sets ownReaderJobs until the test ends.
func ownReaders(t *testing.T, jobs int) {
	old := ownReaderJobs
	ownReaderJobs = jobs
	t.Cleanup(func() { ownReaderJobs = old })
}

func foldsAgree(t *testing.T, s *Searcher, evs []schema.Event, w [2]time.Time, field string) {
	want := map[string]int64{}
	for i := range evs {
		ev := &evs[i]
		if ev.Time.Before(w[0]) || ev.Time.After(w[1]) {
			continue
		}
		if v, ok := ev.Fields[field]; ok {
			want[schema.FormatValue(v)]++
		} else if v, ok := ev.Labels[field]; ok {
			want[v]++
		}
	}
	for _, src := range []string{`| top 1000 by (` + field + `)`, `| stats by (` + field + `) count() as hits`, `| uniq by (` + field + `)`} {
		x := mustParse(t, src)
		tab, err := s.Run(context.Background(), Query{Since: w[0], Until: w[1], Expr: x})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got := map[string]int64{}
		for _, r := range tab.Rows {
			if r[0] == nil {
				continue // stats' group of events without the field
			}
			k := schema.FormatValue(r[0])
			got[k] = want[k] // uniq: present
			if len(r) > 1 {
				got[k] = r[1].(int64)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s over %v: got %v, want %v", src, w, got, want)
		}
	}
}
