package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// exprEvents are events with typed fields, enough of them for sealed
// blocks as well as unsealed ones.
func exprEvents(base time.Time, n int) []schema.Event {
	rng := rand.New(rand.NewPCG(7, 7))
	services := []string{"api", "db", "web-front"}
	users := []string{"alice", "bob", "Carol", "dave smith"}
	words := []string{"timeout", "refused", "served", "slow", "retry"}
	out := make([]schema.Event, n)
	for i := range out {
		ev := schema.Event{
			Time:      base.Add(time.Duration(i) * time.Second),
			Service:   services[rng.IntN(len(services))],
			Level:     schema.Levels()[rng.IntN(6)],
			Host:      fmt.Sprintf("h%d", rng.IntN(3)),
			Publisher: "p1",
			Message:   fmt.Sprintf("request %s %d for %s", words[rng.IntN(len(words))], i, users[rng.IntN(len(users))]),
			Fields:    schema.Fields{"duration_ms": int64(rng.IntN(1000)), "user": users[rng.IntN(len(users))], "path": fmt.Sprintf("/api/v%d/items", rng.IntN(3))},
		}
		ev.Labels = schema.Labels{"env": []string{"prod", "dev"}[i%2], "team": []string{"a", "b", "c"}[i%3], "rack": fmt.Sprint(i % 4)}
		switch i % 5 {
		case 0:
			ev.Fields["status"] = "404" // a number as a string compares as one
		case 1:
			ev.Fields["status"] = int64(200)
		case 2:
			ev.Fields["ratio"] = rng.Float64()
		}
		if i%7 == 0 {
			ev.Fields["a<b"] = int64(i) // an escaped key: the index stores these fields whole, not as columns
		}
		out[i] = ev
	}
	return out
}

func field(ev *schema.Event, k string) string {
	v, ok := ev.Fields[k]
	if !ok {
		return ""
	}
	return schema.FormatValue(v)
}

func num(ev *schema.Event, k string) (float64, bool) { return number(ev.Fields[k]) }

// TestExprMatchesPlainGo runs each query through the engine (Count and
// Search, stored and as a live event would be matched) and compares with
// a predicate written in plain Go over the events themselves.
func TestExprMatchesPlainGo(t *testing.T) {
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	evs := exprEvents(base, 6000)
	s, err := NewSearcher(writeIndex(t, evs[:2500], evs[2500:5000], evs[5000:]))
	if err != nil {
		t.Fatal(err)
	}
	hasWord := func(text, w string) bool {
		return slicesContainsFold(strings.FieldsFunc(text, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') }), w)
	}
	timeout := regexp.MustCompile(`time.*out`)
	cases := []struct {
		q    string
		want func(ev *schema.Event) bool
	}{
		{`duration_ms:>500`, func(ev *schema.Event) bool { n, _ := num(ev, "duration_ms"); return n > 500 }},
		{`_time:[2026-11-24T00:10:00Z, 2026-11-24T00:20:00Z) duration_ms:>500`, func(ev *schema.Event) bool { // blocks cut by the window
			n, _ := num(ev, "duration_ms")
			return !ev.Time.Before(base.Add(10*time.Minute)) && ev.Time.Before(base.Add(20*time.Minute)) && n > 500
		}},
		{`_time:[2026-11-24T00:10:00Z, 2026-11-24T00:20:00Z) status:!=404`, func(ev *schema.Event) bool {
			return !ev.Time.Before(base.Add(10*time.Minute)) && ev.Time.Before(base.Add(20*time.Minute)) && field(ev, "status") != "404"
		}},
		{`level:error duration_ms:>500`, func(ev *schema.Event) bool { // blocks holding series not wanted
			n, _ := num(ev, "duration_ms")
			return ev.Level == schema.LevelError && n > 500
		}},
		{`duration_ms>=500 duration_ms<=510`, func(ev *schema.Event) bool { n, _ := num(ev, "duration_ms"); return n >= 500 && n <= 510 }},
		{`duration_ms:[100, 200)`, func(ev *schema.Event) bool { n, _ := num(ev, "duration_ms"); return n >= 100 && n < 200 }},
		{`rack:>=2`, func(ev *schema.Event) bool { return ev.Labels["rack"] >= "2" }}, // a label compares as a number
		{`rack:[1, 2] duration_ms:<100`, func(ev *schema.Event) bool {
			n, _ := num(ev, "duration_ms")
			return ev.Labels["rack"] >= "1" && ev.Labels["rack"] <= "2" && n < 100
		}},
		{`status:>=300`, func(ev *schema.Event) bool { n, ok := num(ev, "status"); return ok && n >= 300 }},
		{`status:=404`, func(ev *schema.Event) bool { return field(ev, "status") == "404" }},
		{`status:!=404`, func(ev *schema.Event) bool { return field(ev, "status") != "404" }},
		{`status:*`, func(ev *schema.Event) bool { return field(ev, "status") != "" }},
		{`-status:*`, func(ev *schema.Event) bool { return field(ev, "status") == "" }},
		{`ratio:<0.25`, func(ev *schema.Event) bool { n, ok := num(ev, "ratio"); return ok && n < 0.25 }},
		{`user:alice`, func(ev *schema.Event) bool { return field(ev, "user") == "alice" }},
		{`user:smith`, func(ev *schema.Event) bool { return field(ev, "user") == "dave smith" }},
		{`user:carol`, func(ev *schema.Event) bool { return field(ev, "user") == "Carol" }},
		{`user:="carol"`, func(ev *schema.Event) bool { return false }},
		{`user:="Carol"`, func(ev *schema.Event) bool { return field(ev, "user") == "Carol" }},
		{`user:~"^[A-Z]"`, func(ev *schema.Event) bool { return field(ev, "user") == "Carol" }},
		{`path:~"v[12]/"`, func(ev *schema.Event) bool { return !strings.Contains(field(ev, "path"), "v0") }},
		{`~"time.*out"`, func(ev *schema.Event) bool { return timeout.MatchString(ev.Message) }},
		{`~"Carol"`, func(ev *schema.Event) bool { return strings.Contains(ev.Message, "Carol") }},
		{`timeout`, func(ev *schema.Event) bool { return hasWord(ev.Message, "timeout") }},
		{`-timeout`, func(ev *schema.Event) bool { return !hasWord(ev.Message, "timeout") }},
		{`timeout OR refused`, func(ev *schema.Event) bool { return hasWord(ev.Message, "timeout") || hasWord(ev.Message, "refused") }},
		{`timeout -alice`, func(ev *schema.Event) bool {
			return hasWord(ev.Message, "timeout") && !hasWord(ev.Message, "alice") && field(ev, "user") != "alice"
		}},
		{`(timeout OR slow) duration_ms:>900`, func(ev *schema.Event) bool {
			n, _ := num(ev, "duration_ms")
			return (hasWord(ev.Message, "timeout") || hasWord(ev.Message, "slow")) && n > 900
		}},
		{`alice OR duration_ms:<5`, func(ev *schema.Event) bool { // a word in a condition is looked for in the fields too
			n, _ := num(ev, "duration_ms")
			return hasWord(ev.Message, "alice") || field(ev, "user") == "alice" || n < 5
		}},
		{`timeout OR duration_ms:<5`, func(ev *schema.Event) bool {
			n, _ := num(ev, "duration_ms")
			return hasWord(ev.Message, "timeout") || n < 5
		}},
		{`_msg:alice`, func(ev *schema.Event) bool { return hasWord(ev.Message, "alice") }},
		{`service:api`, func(ev *schema.Event) bool { return ev.Service == "api" }},
		{`service:web*`, func(ev *schema.Event) bool { return strings.HasPrefix(ev.Service, "web") }},
		{`service:api OR host:h1`, func(ev *schema.Event) bool { return ev.Service == "api" || ev.Host == "h1" }},
		{`-service:db level:>=warn`, func(ev *schema.Event) bool { return ev.Service != "db" && ev.Level >= schema.LevelWarn }},
		{`level:error`, func(ev *schema.Event) bool { return ev.Level == schema.LevelError }},
		{`level:<info`, func(ev *schema.Event) bool { return ev.Level < schema.LevelInfo }},
		{`level:error OR duration_ms:>990`, func(ev *schema.Event) bool {
			n, _ := num(ev, "duration_ms")
			return ev.Level == schema.LevelError || n > 990
		}},
		{`_time:[2026-11-24T00:10:00Z, 2026-11-24T00:20:00Z)`, func(ev *schema.Event) bool {
			return !ev.Time.Before(base.Add(10*time.Minute)) && ev.Time.Before(base.Add(20*time.Minute))
		}},
		{`_time:>2026-11-24T01:00:00Z timeout`, func(ev *schema.Event) bool {
			return ev.Time.After(base.Add(time.Hour)) && hasWord(ev.Message, "timeout")
		}},
		{`_time:<2026-11-24T00:01:00Z OR _time:>=2026-11-24T01:39:00Z`, func(ev *schema.Event) bool {
			return ev.Time.Before(base.Add(time.Minute)) || !ev.Time.Before(base.Add(99*time.Minute))
		}},
		{`*`, func(ev *schema.Event) bool { return true }},
		{`_stream:{env="prod"}`, func(ev *schema.Event) bool { return ev.Labels["env"] == "prod" }},
		{`_stream:{env="dev", team="c", service="db"} timeout`, func(ev *schema.Event) bool {
			return ev.Labels["env"] == "dev" && ev.Labels["team"] == "c" && ev.Service == "db" && hasWord(ev.Message, "timeout")
		}},
		{`_stream:{env="prod"} OR level:fatal`, func(ev *schema.Event) bool { return ev.Labels["env"] == "prod" || ev.Level == schema.LevelFatal }},
		{`-_stream:{team="a"}`, func(ev *schema.Event) bool { return ev.Labels["team"] != "a" }},
		{`_stream:{env="nowhere"}`, func(ev *schema.Event) bool { return false }},
	}
	all := Query{Since: base.Add(-time.Hour), Until: base.Add(3 * time.Hour)}
	ownReaders(t, 1) // sealed blocks through the workers' own connections, unsealed ones through the transaction
	for _, c := range cases {
		x, err := ql.Parse(c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		q := all
		q.Expr = x
		var want int64
		for i := range evs {
			if c.want(&evs[i]) {
				want++
			}
		}
		n, err := s.Count(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		found := collect(t, s, q)
		if n != want || int64(len(found)) != want {
			t.Errorf("%s: Count %d, Search %d, want %d", c.q, n, len(found), want)
		}
		p, _ := s.plan(q)
		m, live := newLiveMatcher(p), int64(0)
		for i := range evs {
			if m.matches(&evs[i]) {
				live++
			}
		}
		if live != want {
			t.Errorf("%s: live matcher %d, want %d", c.q, live, want)
		}
	}
}

func slicesContainsFold(words []string, w string) bool {
	for _, x := range words {
		if strings.EqualFold(x, w) {
			return true
		}
	}
	return false
}

func TestExprErrorsHavePositions(t *testing.T) {
	s, err := NewSearcher(writeIndex(t, exprEvents(time.Now(), 10)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ q, at string }{
		{`timeout level:loud`, "position 9"},
		{`_time:5x`, "position 1"},
		{`a _time:[yesterdayish, now]`, "position 3"},
	} {
		x, err := ql.Parse(c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		_, err = s.Count(context.Background(), Query{Expr: x})
		if !errors.Is(err, ErrBadQuery) || !errors.Is(err, ql.ErrSyntax) || !strings.Contains(err.Error(), c.at) {
			t.Errorf("%s: got %v, want a query error at %s", c.q, err, c.at)
		}
	}
}

// TestPipesMatchPlainGo checks each pipe's answer against the same
// computed in plain Go over the events.
func TestPipesMatchPlainGo(t *testing.T) {
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	evs := exprEvents(base, 3000)
	s, err := NewSearcher(writeIndex(t, evs))
	if err != nil {
		t.Fatal(err)
	}
	run := func(src string) *Table {
		t.Helper()
		x, err := ql.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := s.Run(context.Background(), Query{Since: base.Add(-time.Hour), Until: base.Add(2 * time.Hour), Expr: x})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return tab
	}
	// stats count() by (service), against a map.
	perService := map[string]int64{}
	var errDur []float64
	perMinute := map[int64]int64{}
	for i := range evs {
		ev := &evs[i]
		perService[ev.Service]++
		perMinute[ev.Time.Unix()/60]++
		if ev.Level == schema.LevelError {
			n, _ := num(ev, "duration_ms")
			errDur = append(errDur, n)
		}
	}
	tab := run(`* | stats count() by (service)`)
	if !slices.Equal(tab.Columns, []string{"service", "count()"}) || len(tab.Rows) != len(perService) {
		t.Fatalf("stats by service: %+v", tab)
	}
	for _, r := range tab.Rows {
		if r[1] != perService[r[0].(string)] {
			t.Errorf("stats by service %v: %v, want %d", r[0], r[1], perService[r[0].(string)])
		}
	}
	// quantile, max, avg of errors' durations.
	slices.Sort(errDur)
	var sum float64
	for _, d := range errDur {
		sum += d
	}
	tab = run(`level:error | stats count() as n, quantile(0.99, duration_ms) p99, max(duration_ms), avg(duration_ms), count_uniq(user)`)
	want := []any{int64(len(errDur)), errDur[int(math.Ceil(0.99*float64(len(errDur))))-1], errDur[len(errDur)-1], sum / float64(len(errDur)), int64(4)}
	if len(tab.Rows) != 1 || fmt.Sprint(tab.Rows[0]) != fmt.Sprint(want) {
		t.Errorf("error durations: %v %v, want %v", tab.Columns, tab.Rows, want)
	}
	// per-minute buckets, in time order, aligned to the minute.
	tab = run(`| stats by (_time:1m) count()`)
	if len(tab.Rows) != len(perMinute) {
		t.Fatalf("per minute: %d rows, want %d", len(tab.Rows), len(perMinute))
	}
	for i, r := range tab.Rows {
		at := r[0].(time.Time)
		if at.Second() != 0 || at.Nanosecond() != 0 || r[1] != perMinute[at.Unix()/60] || (i > 0 && !at.After(tab.Rows[i-1][0].(time.Time))) {
			t.Fatalf("per minute row %d: %v", i, r)
		}
	}
	// top, sort, fields, uniq, limit.
	tab = run(`| top 2 by (user)`)
	if len(tab.Rows) != 2 || tab.Columns[1] != "hits" || tab.Rows[0][1].(int64) < tab.Rows[1][1].(int64) {
		t.Errorf("top 2 users: %+v", tab)
	}
	tab = run(`service:db | sort by (duration_ms desc) | fields duration_ms, service | limit 3`)
	if len(tab.Rows) != 3 || !slices.Equal(tab.Columns, []string{"duration_ms", "service"}) || tab.Rows[0][0].(int64) < tab.Rows[2][0].(int64) {
		t.Errorf("sorted db durations: %+v", tab)
	}
	tab = run(`| uniq by (service) | sort by (service)`)
	if fmt.Sprint(tab.Rows) != "[[api] [db] [web-front]]" {
		t.Errorf("uniq services: %v", tab.Rows)
	}
	if _, err := s.Run(context.Background(), Query{Expr: mustParse(t, `| stats by (user:1m) count()`)}); !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), "position 13") {
		t.Errorf("bucket of a field: %v", err)
	}
}

func mustParse(t *testing.T, src string) *ql.Query {
	t.Helper()
	x, err := ql.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestStatsFromSummariesAgree: counts by series fields and time buckets,
// answered from block summaries, equal the same stats over every event.
func TestStatsFromSummariesAgree(t *testing.T) {
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	evs := exprEvents(base, 9000)
	s, err := NewSearcher(writeIndex(t, evs[:4000], evs[4000:8500], evs[8500:]))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		"| stats count() by (service)",
		"| stats by (_time:10m, level) count() as n",
		"timeout | stats by (_time:1h, service) count()",
		"duration_ms:>500 | stats count() by (host)",
		"level:>=warn -service:db | stats by (_time:7m) count(), count() as again",
		"| stats count()",
	} {
		x := mustParse(t, src)
		q := Query{Since: base.Add(90 * time.Second), Until: base.Add(2*time.Hour + 17*time.Second), Expr: x}
		steps, err := compilePipes(x)
		if err != nil {
			t.Fatal(err)
		}
		st := steps[0].(*statsStep)
		if !st.countsBySeries() {
			t.Fatalf("%s: not answered from summaries", src)
		}
		fast, err := s.countBySeries(context.Background(), q, st)
		if err != nil {
			t.Fatal(err)
		}
		var recs []record
		for _, ev := range collect(t, s, q) {
			recs = append(recs, eventRecord(&ev))
		}
		slow, _ := st.apply(recs, nil)
		if fmt.Sprint(fast) != fmt.Sprint(slow) || len(slow) == 0 {
			t.Errorf("%s:\nsummaries %v\n   events %v", src, fast, slow)
		}
	}
}

// TestRunBoundsKeptEvents: a sort over more events than maxKept is
// refused with a clear error; a leading limit reads only what it keeps.
func TestRunBoundsKeptEvents(t *testing.T) {
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	s, err := NewSearcher(writeIndex(t, exprEvents(base, 500)))
	if err != nil {
		t.Fatal(err)
	}
	defer func(n int) { maxKept = n }(maxKept)
	maxKept = 100
	q := Query{Since: base.Add(-time.Hour), Until: base.Add(time.Hour)}
	q.Expr = mustParse(t, "| sort by (duration_ms)")
	if _, err := s.Run(context.Background(), q); !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), "more than 100 events") {
		t.Errorf("sort over 500 events with a bound of 100: %v", err)
	}
	q.Expr = mustParse(t, "| limit 3 | sort by (duration_ms desc)")
	tab, err := s.Run(context.Background(), q)
	if err != nil || len(tab.Rows) != 3 {
		t.Fatalf("limit 3 then sort: %v %v", tab, err)
	}
	if tab.Rows[0][slices.Index(tab.Columns, "duration_ms")].(int64) < tab.Rows[2][slices.Index(tab.Columns, "duration_ms")].(int64) {
		t.Errorf("limit 3 then sort desc: %v", tab.Rows)
	}
}

// TestRunBoundsHeldGroups: stats, top and count_uniq over more distinct
// values than maxHeld are refused with a clear error; under it they run.
func TestRunBoundsHeldGroups(t *testing.T) {
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	s, err := NewSearcher(writeIndex(t, exprEvents(base, 3000)))
	if err != nil {
		t.Fatal(err)
	}
	defer func(n int) { maxHeld = n }(maxHeld)
	maxHeld = 200 // the events have 3000 distinct messages, 1000 durations
	q := Query{Since: base.Add(-time.Hour), Until: base.Add(2 * time.Hour)}
	for _, src := range []string{"| top 5 by (_msg)", "| uniq by (duration_ms)", "| stats by (_msg) count()", "| stats count_uniq(_msg)", "| stats by (service) count_uniq(duration_ms)"} {
		q.Expr = mustParse(t, src)
		if _, err := s.Run(context.Background(), q); !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), "more than 200 groups") {
			t.Errorf("%s with a bound of 200: %v", src, err)
		}
	}
	for _, src := range []string{"| top 5 by (user)", "| stats by (service, level) count_uniq(user)"} {
		q.Expr = mustParse(t, src)
		if _, err := s.Run(context.Background(), q); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}
