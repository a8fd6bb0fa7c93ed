package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index"

	"github.com/zlog/zlog/schema"
)

// writeIndex stores evs through the collector's real index writer, in the
// given batches, and returns the index directory.
func writeIndex(t *testing.T, batches ...[]schema.Event) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "index")
	w, err := index.New(index.Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := w.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func collect(t *testing.T, s *Searcher, q Query) []schema.Event {
	t.Helper()
	it, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []schema.Event
	for it.Next() {
		out = append(out, it.At())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSearchRoundTrip(t *testing.T) {
	day1 := time.Date(2026, 11, 23, 23, 59, 59, 0, time.UTC)
	day2 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	ev := func(at time.Time, svc string, lvl schema.Level, host, msg string) schema.Event {
		return schema.Event{Time: at, Service: svc, Level: lvl, Host: host, Message: msg, Publisher: "p1"}
	}
	b1 := []schema.Event{
		ev(day2, "api", schema.LevelError, "h1", "upstream timeout after 30s item:123"),
		ev(day2.Add(time.Second), "api", schema.LevelInfo, "h2", "request served in 12ms"),
		ev(day1, "db", schema.LevelWarn, "h1", "slow query took 2s"),
		ev(day2.Add(2*time.Second), "downcase", schema.LevelInfo, "h1", "lower case of Hello is hello"),
	}
	b1[3].Fields = schema.Fields{"param": "Hello", "answer": "hello"}
	// Late and colliding events in a second batch: same timestamps as stored rows.
	var b2 []schema.Event
	for i := 0; i < 300; i++ {
		b2 = append(b2, ev(day2, "api", schema.LevelDebug, "h3", fmt.Sprintf("burst %d at the same nanosecond", i)))
	}
	b2 = append(b2, ev(day2.Add(-time.Hour), "api", schema.LevelError, "h2", "late timeout from an hour ago"))
	s, err := NewSearcher(writeIndex(t, b1, b2))
	if err != nil {
		t.Fatal(err)
	}
	all := Query{Since: day1.Add(-time.Hour), Until: day2.Add(time.Hour)}

	count := func(q Query) int64 {
		t.Helper()
		n, err := s.Count(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if got := int64(len(collect(t, s, q))); got != n && q.Limit == 0 {
			t.Fatalf("Count = %d but Search returned %d for %+v", n, got, q)
		}
		return n
	}
	with := func(f func(*Query)) Query { q := all; f(&q); return q }

	if n := count(all); n != 305 {
		t.Fatalf("all events: got %d, want 305", n)
	}
	// Word counts are cut into id ranges counted at once; windows whose
	// edges fall inside the same-nanosecond burst (ids bumped past their
	// time) must still agree with Search, with any number of ranges.
	for _, procs := range []int{1, 2, 7} {
		prev := runtime.GOMAXPROCS(procs)
		for _, c := range []struct {
			since, until time.Time
			want         int64
		}{
			{day2, day2, 300}, {day2.Add(-time.Nanosecond), day2, 300}, {day2.Add(time.Nanosecond), day2.Add(time.Hour), 0},
			{day1.Add(-time.Hour), day2.Add(time.Hour), 300},
		} {
			if n := count(with(func(q *Query) { q.Words, q.Since, q.Until = []string{"burst"}, c.since, c.until })); n != c.want {
				t.Errorf("GOMAXPROCS %d: burst between %v and %v: %d, want %d", procs, c.since, c.until, n, c.want)
			}
		}
		runtime.GOMAXPROCS(prev)
	}
	// Same-nanosecond events keep their exact time.
	for _, e := range collect(t, s, with(func(q *Query) { q.Words = []string{"burst"} })) {
		if !e.Time.Equal(day2) {
			t.Fatalf("burst event time %v, want %v", e.Time, day2)
		}
	}
	checks := []struct {
		name string
		q    Query
		want int64
	}{
		{"word", with(func(q *Query) { q.Words = []string{"timeout"} }), 2},
		{"word in field value", with(func(q *Query) { q.Words = []string{"hello"} }), 1},
		{"two words", with(func(q *Query) { q.Words = []string{"timeout", "upstream"} }), 1},
		{"phrase in order", with(func(q *Query) { q.Words = []string{"upstream timeout"} }), 1},
		{"phrase out of order", with(func(q *Query) { q.Words = []string{"timeout upstream"} }), 0},
		{"punctuated word", with(func(q *Query) { q.Words = []string{"item:123"} }), 1},
		{"substring only", with(func(q *Query) { q.Words = []string{":"} }), 1},
		{"service", with(func(q *Query) { q.Services = []string{"db"} }), 1},
		{"two services", with(func(q *Query) { q.Services = []string{"db", "downcase"} }), 2},
		{"host", with(func(q *Query) { q.Host = "h2" }), 2},
		{"min level", with(func(q *Query) { q.MinLevel = schema.LevelWarn }), 3},
		{"topic prefix service", with(func(q *Query) { q.TopicPrefix = "api" }), 303},
		{"topic prefix level", with(func(q *Query) { q.TopicPrefix = "api.e" }), 2},
		{"time window", with(func(q *Query) { q.Since = day2.Add(-time.Minute); q.Until = day2 }), 301},
		{"word + window + level", with(func(q *Query) {
			q.Words = []string{"timeout"}
			q.Since = day2.Add(-time.Minute)
			q.MinLevel = schema.LevelError
		}), 1},
		{"raw fts", with(func(q *Query) { q.FTS = "time*" }), 2},
	}
	for _, c := range checks {
		if got := count(c.q); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}

	// Order and limit across partitions.
	newest := collect(t, s, with(func(q *Query) { q.Limit = 2 }))
	if len(newest) != 2 || newest[0].Service != "downcase" || !newest[1].Time.Equal(day2.Add(time.Second)) {
		t.Fatalf("newest two: %+v", newest)
	}
	oldest := collect(t, s, with(func(q *Query) { q.Limit = 2; q.OldestFirst = true }))
	if len(oldest) != 2 || oldest[0].Service != "db" || oldest[1].Message != "late timeout from an hour ago" {
		t.Fatalf("oldest two: %+v", oldest)
	}
	if f := collect(t, s, with(func(q *Query) { q.Services = []string{"downcase"} }))[0].Fields; f["param"] != "Hello" {
		t.Fatalf("fields not returned: %v", f)
	}

	if _, err := s.Count(context.Background(), with(func(q *Query) { q.FTS = "AND AND" })); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("bad fts: got %v, want ErrBadQuery", err)
	}
	if _, err := s.Count(context.Background(), with(func(q *Query) { q.Services = []string{"Bad Name"} })); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("bad service: got %v, want ErrBadQuery", err)
	}
	if _, err := s.Count(context.Background(), with(func(q *Query) { q.Until = day1.Add(-48 * time.Hour) })); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("until before since: got %v, want ErrBadQuery", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestNoIndex(t *testing.T) {
	if _, err := NewSearcher(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("got %v, want ErrNoIndex", err)
	}
}

// A partition file the collector has created but not yet migrated holds no
// events; searching must not fail on it.
func TestUninitialisedPartitionIsEmpty(t *testing.T) {
	dir := writeIndex(t, []schema.Event{{Time: time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC), Service: "a", Level: schema.LevelInfo, Message: "hello"}})
	fresh := index.PartitionFile(dir, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	if err := os.WriteFile(fresh, nil, 0o640); err != nil { // SQLite reads an empty file as version 0
		t.Fatal(err)
	}
	s, _ := NewSearcher(dir)
	q := Query{Since: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
	if n, err := s.Count(context.Background(), q); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v; want 1", n, err)
	}
	if evs := collect(t, s, q); len(evs) != 1 {
		t.Fatalf("Search returned %d events, want 1", len(evs))
	}
}

// Source labels are stored with the series, filter searches and stats,
// and come back on the events; typed fields keep their types.
func TestLabelsAndTypedFields(t *testing.T) {
	at := time.Date(2026, 11, 29, 23, 40, 0, 0, time.UTC)
	ev := func(i int, labels schema.Labels) schema.Event {
		return schema.Event{Time: at.Add(time.Duration(i) * time.Second), Service: "web", Level: schema.LevelInfo, Host: "h1",
			Message: fmt.Sprintf("request %d", i), Publisher: "p1", Labels: labels,
			Fields: schema.Fields{"duration_ms": int64(100 * i), "ratio": 0.25, "cached": i%2 == 0, "path": "/x"}}
	}
	prod := schema.Labels{"env": "prod", "cluster": "eu-1"}
	stage := schema.Labels{"env": "staging", "cluster": "eu-1"}
	s, err := NewSearcher(writeIndex(t, []schema.Event{ev(1, prod), ev(2, stage), ev(3, nil), ev(4, prod)}))
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Since: at, Until: at.Add(time.Minute), OldestFirst: true}
	all := collect(t, s, q)
	if len(all) != 4 || !maps.Equal(all[0].Labels, prod) || all[2].Labels != nil {
		t.Fatalf("events: %+v", all)
	}
	if f := all[0].Fields; f["duration_ms"] != int64(100) || f["ratio"] != 0.25 || f["cached"] != false || f["path"] != "/x" {
		t.Errorf("typed fields came back as %#v", f)
	}
	for _, c := range []struct {
		labels schema.Labels
		want   []string
	}{
		{schema.Labels{"env": "prod"}, []string{"request 1", "request 4"}},
		{schema.Labels{"cluster": "eu-1"}, []string{"request 1", "request 2", "request 4"}},
		{schema.Labels{"cluster": "eu-1", "env": "staging"}, []string{"request 2"}},
		{schema.Labels{"env": "dev"}, nil},
	} {
		q.Labels = c.labels
		var got []string
		for _, e := range collect(t, s, q) {
			got = append(got, e.Message)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("label filter %v: %q, want %q", c.labels, got, c.want)
		}
	}
	q.Labels = nil
	for by, want := range map[GroupBy]map[string]int64{
		"label:env": {"prod": 2, "staging": 1, "-": 1},
		ByLabels:    {"{cluster=eu-1,env=prod}": 2, "{cluster=eu-1,env=staging}": 1, "{}": 1},
		ByTopic:     {"web.info{cluster=eu-1,env=prod}": 2, "web.info{cluster=eu-1,env=staging}": 1, "web.info": 1},
	} {
		st, err := s.Stats(context.Background(), q, by, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, r := range st.Rows {
			got[r.Key] = r.Count
		}
		if !maps.Equal(got, want) {
			t.Errorf("stats by %s: %v, want %v", by, got, want)
		}
	}
	if _, err := ParseGroupBy("label:bad key"); !errors.Is(err, ErrBadQuery) {
		t.Errorf("--by label:bad key: %v", err)
	}
}

// Over many blocks (sealed and unsealed, their filters grouped or not,
// services overlapping in time, late events), Search in both orders, Count
// from block summaries and from decoded blocks, and Stats all agree with a
// brute-force answer.
func TestBlocksAgreeWithBruteForce(t *testing.T) {
	start := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	services := []string{"api", "db", "web"}
	var all []schema.Event
	var batches [][]schema.Event
	for c, size := range []int{5000, 37, 1, 900, 2100, 64, 3000, 70 * index.FullBlock, 700} { // enough for a filter group (index.GroupBlocks sealed blocks) in one day
		var b []schema.Event
		for i := 0; i < size; i++ {
			n := len(all)
			at := start.Add(time.Duration(n) * 250 * time.Millisecond)
			if i%97 == 5 {
				at = start.Add(time.Duration(n/3) * 250 * time.Millisecond) // late
			}
			word := "common"
			switch {
			case n%1000 == 7:
				word = "rare"
			case size == 900: // a word counted exactly in the few blocks it is in
				word = "burst"
			}
			ev := schema.Event{Time: at, Service: services[(n+c)%3], Level: schema.Level(1 + n%6), Host: fmt.Sprintf("h%d", n%4),
				Message: fmt.Sprintf("%s event %d", word, n), Publisher: "p", Seq: uint64(n + 1)}
			all = append(all, ev)
			b = append(b, ev)
		}
		batches = append(batches, b)
	}
	dir := writeIndex(t, batches...)
	s, err := NewSearcher(dir)
	if err != nil {
		t.Fatal(err)
	}
	groups := 0
	for _, part := range must(index.ListPartitions(dir)) {
		db := must(index.OpenReadOnly(part.Path))
		groups += len(must(index.ReadGroups(context.Background(), db, math.MinInt64, math.MaxInt64)))
		db.Close()
	}
	if groups == 0 {
		t.Fatal("no filter group was written: the test needs more blocks")
	}
	window := Query{Since: start.Add(1000 * time.Second), Until: start.Add(30000 * time.Second)}
	queries := map[string]Query{
		"everything":    {},
		"window":        window,
		"common word":   {Words: []string{"common"}},
		"rare word":     {Words: []string{"rare"}},
		"word + window": {Words: []string{"common"}, Since: window.Since, Until: window.Until},
		"level":         {MinLevel: schema.LevelError},
		"host + window": {Host: "h1", Since: window.Since, Until: window.Until},
		"service":       {Services: []string{"db"}, Words: []string{"event"}},
		"absent word":   {Words: []string{"nowhere"}},
		"few blocks":    {Words: []string{"burst"}},
		"number":        {Words: []string{"123456"}},
		"or":            {FTS: "rare OR 99999", Since: window.Since},
	}
	for name, q := range queries {
		var want []schema.Event
		p, err := s.plan(q)
		if err != nil {
			t.Fatal(err)
		}
		m := newLiveMatcher(p)
		for _, ev := range all {
			if m.matches(&ev) {
				want = append(want, ev)
			}
		}
		n, err := s.Count(context.Background(), q)
		if err != nil || n != int64(len(want)) {
			t.Errorf("%s: Count %d, %v; want %d", name, n, err, len(want))
		}
		for _, oldest := range []bool{false, true} {
			q.OldestFirst = oldest
			got := collect(t, s, q)
			if len(got) != len(want) {
				t.Fatalf("%s (oldest first %v): %d events, want %d", name, oldest, len(got), len(want))
			}
			sorted := slices.IsSortedFunc(got, func(a, b schema.Event) int {
				if oldest {
					return a.Time.Compare(b.Time)
				}
				return b.Time.Compare(a.Time)
			})
			seqs := map[uint64]bool{}
			for _, ev := range got {
				seqs[ev.Seq] = true
			}
			if !sorted || len(seqs) != len(want) {
				t.Fatalf("%s (oldest first %v): sorted %v, %d distinct events", name, oldest, sorted, len(seqs))
			}
		}
		if q.Since.IsZero() {
			q.Since, q.Until = start.Add(-time.Hour), start.Add(48*time.Hour)
		} else if q.Until.IsZero() {
			q.Until = start.Add(48 * time.Hour)
		}
		st, err := s.Stats(context.Background(), q, ByLevel, time.Hour)
		if err != nil || st.Total != int64(len(want)) {
			t.Errorf("%s: Stats total %d, %v; want %d", name, st.Total, err, len(want))
		}
	}
}

// A partition an older zlog wrote, not yet migrated by the collector, is
// skipped with a warning that says how to upgrade it; the others answer.
func TestOlderPartitionIsSkippedWithAWarning(t *testing.T) {
	day1 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	ev := func(at time.Time) schema.Event {
		return schema.Event{Time: at, Service: "s", Level: schema.LevelInfo, Host: "h", Message: "hello", Publisher: "p", Seq: 1}
	}
	dir := writeIndex(t, []schema.Event{ev(day1)}, []schema.Event{ev(day2)})
	db := must(sql.Open("sqlite3", index.PartitionFile(dir, day1)))
	if _, err := db.Exec("PRAGMA user_version = 3"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := must(NewSearcher(dir))
	var warnings []string
	s.Warn = func(msg string) { warnings = append(warnings, msg) }
	q := Query{Words: []string{"hello"}}
	if n, err := s.Count(context.Background(), q); err != nil || n != 1 {
		t.Fatalf("count %d, %v; want the newer partition's 1", n, err)
	}
	if got := collect(t, s, q); len(got) != 1 || !got[0].Time.Equal(day2) {
		t.Fatalf("search: %+v", got)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "older format") || !strings.Contains(warnings[0], "zlog-collector") {
		t.Fatalf("warnings %q", warnings)
	}
	// Its stream marks still count for follow.
	marks := must(index.ReadMarks(context.Background(), dir))
	if marks[schema.Stream{Publisher: "p", Topic: "s.info"}] != 1 {
		t.Fatalf("marks %v", marks)
	}
}

// Events sharing a timestamp (syslog stamps are whole seconds) come back
// in the order they were stored, oldest first, and in exactly the reverse
// newest first, across commits big enough to be cut into several sealed
// blocks of that one time.
func TestEqualTimesKeepTheirOrder(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var batches [][]schema.Event
	n := 0
	for _, size := range []int{700, 5000, 300, 4100} {
		var b []schema.Event
		for i := 0; i < size; i++ {
			n++
			b = append(b, schema.Event{Time: at, Service: "s", Level: schema.LevelInfo, Host: "h", Message: "tick", Publisher: "p", Seq: uint64(n)})
		}
		batches = append(batches, b)
	}
	s := must(NewSearcher(writeIndex(t, batches...)))
	oldest := collect(t, s, Query{OldestFirst: true})
	newest := collect(t, s, Query{})
	if len(oldest) != n || len(newest) != n {
		t.Fatalf("%d and %d events, want %d", len(oldest), len(newest), n)
	}
	for i := range oldest {
		if oldest[i].Seq != uint64(i+1) || newest[n-1-i].Seq != uint64(i+1) {
			t.Fatalf("event %d: oldest first has seq %d, newest first %d; want %d", i, oldest[i].Seq, newest[n-1-i].Seq, i+1)
		}
	}
}

// A block that no longer decodes is skipped with a warning, by search and
// by count alike; the rest of the index answers.
func TestCorruptBlockIsSkippedWithAWarning(t *testing.T) {
	day := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var a, b []schema.Event
	for i := 0; i < 3000; i++ {
		a = append(a, schema.Event{Time: day.Add(time.Duration(i) * time.Millisecond), Service: "a", Level: schema.LevelInfo, Host: "h", Message: "hello a", Publisher: "p"})
		b = append(b, schema.Event{Time: day.Add(time.Duration(i) * time.Millisecond), Service: "b", Level: schema.LevelInfo, Host: "h", Message: "hello b", Publisher: "p"})
	}
	dir := writeIndex(t, a, b)
	db := must(sql.Open("sqlite3", index.PartitionFile(dir, day)))
	if _, err := db.Exec("UPDATE block_data SET data = x'0102030405' WHERE id = (SELECT id FROM blocks WHERE service = 'b')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := must(NewSearcher(dir))
	var warnings []string
	s.Warn = func(msg string) { warnings = append(warnings, msg) }
	if n, err := s.Count(context.Background(), Query{Words: []string{"hello"}, Since: day.Add(time.Millisecond)}); err != nil || n != 2999 {
		t.Fatalf("count %d, %v; want service a's 2999 in the window", n, err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "damaged") {
		t.Fatalf("warnings %q", warnings)
	}
	it, err := s.Search(context.Background(), Query{Services: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
	}
	if err := it.Err(); err != nil {
		t.Fatalf("search over the corrupt block: %v", err)
	}
	it.Close()
}
