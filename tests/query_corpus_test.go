package tests

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
	"github.com/zlog/zlog/tests/workload"
)

// TestQueryCorpus runs a corpus of queries of the query language over the
// bench workload, published by the real publisher into a real collector,
// with logq locally and over the collector's API, and compares each
// answer byte for byte with one computed here in plain Go from the
// generator's events: counts, the newest matches, and the rows of pipes.
func TestQueryCorpus(t *testing.T) {
	const count = 40000
	start, evs := corpusEvents(count)
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	loadCorpus(t, col.XSub, count, start)
	// --direct: the engine reading the index in logq, not the socket.
	runCorpus(t, evs, start, []string{"--data", data, "--direct"}, []string{"--collector", "http://" + col.HTTP}, nil)
}

// TestQueryCorpusOnVictoriaLogs runs the same corpus over the same events
// stored by a collector with --store victorialogs in a real VictoriaLogs:
// logq with --store victorialogs and the collector's API must give the
// answers computed here, but for the differences listed (each is
// documented in query/README.md).
func TestQueryCorpusOnVictoriaLogs(t *testing.T) {
	const count = 40000
	start, evs := corpusEvents(count)
	work := harness.WorkDir(t)
	_, vl := startVictoriaLogs(t, work)
	col := harness.StartCollector(t, binDir, work, filepath.Join(work, "data"),
		"--store", "victorialogs", "--vl-insert", vl, "--vl-select", vl, "--vl-flush-interval", "1s")
	loadCorpus(t, col.XSub, count, start)
	runCorpus(t, evs, start, []string{"--store", "victorialogs", "--vl-select", vl}, []string{"--collector", "http://" + col.HTTP}, vlDifferences)
}

// vlDifferences are the corpus queries VictoriaLogs answers otherwise,
// and why.
var vlDifferences = map[string]string{}

func corpusEvents(count int) (time.Time, []schema.Event) {
	start := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Hour)
	wo := workload.Options{Seed: 3, Count: count, Window: 2 * time.Hour, Start: start}
	var evs []schema.Event
	for g := workload.New(wo); !g.Done(); {
		ev, _ := g.Next()
		evs = append(evs, ev)
	}
	return start, evs
}

// loadCorpus publishes the corpus' events with the real publisher.
func loadCorpus(t *testing.T, xsub string, count int, start time.Time) {
	res := harness.Run(t, 120*time.Second, filepath.Join(binDir, "zlog-loadgen"), "--collector", xsub,
		"--count", strconv.Itoa(count), "--window", "2h", "--seed", "3", "--start", start.Format(time.RFC3339Nano))
	if res.Code != 0 {
		t.Fatalf("loadgen: exit %d: %s", res.Code, res.Stderr)
	}
}

// runCorpus waits until the store named by local holds every event, then
// asks each query of local and of api and compares each answer with the
// one computed from evs; differs names the queries expected to differ.
func runCorpus(t *testing.T, evs []schema.Event, start time.Time, local, api []string, differs map[string]string) {
	window := []string{"--since", start.Add(-time.Minute).Format(time.RFC3339), "--until", start.Add(2*time.Hour + time.Minute).Format(time.RFC3339)}
	harness.Eventually(t, 60*time.Second, "events stored", func() (bool, string) {
		r := harness.Logq(t, binDir, append(append([]string{"search", "--count"}, local...), window...)...)
		return strings.TrimSpace(r.Stdout) == strconv.Itoa(len(evs)), r.Stdout + r.Stderr
	})
	checkStats(t, evs, window, local, api)
	cases := corpus(evs, start)
	if len(cases) < 60 {
		t.Fatalf("the corpus has %d queries, want at least 60", len(cases))
	}
	for _, c := range cases {
		if c.want["count"] == "0\n" || c.want["rows"] == "" && c.want["count"] == "" {
			t.Errorf("corpus query %q expects nothing: it would pass on an engine that finds nothing", c.query)
		}
		_, differ := differs[c.query]
		for _, args := range c.runs() {
			want := c.want[args[0]]
			for _, src := range [][]string{local, api} {
				full := append(append(append([]string{"search"}, src...), window...), args[1:]...)
				full = append(full, "--", c.query)
				r := harness.Logq(t, binDir, full...)
				same := r.Code != 2 && r.Stdout == want
				if !same && !differ {
					t.Errorf("logq %s %q (%s): exit %d %s\n got: %q\nwant: %q", src[0], c.query, args[0], r.Code, r.Stderr, clip(r.Stdout), clip(want))
				}
				if same && differ {
					t.Errorf("logq %s %q (%s) is listed as differing (%s) but answers the same", src[0], c.query, args[0], differs[c.query])
				}
			}
		}
	}
}

// checkStats asks logq stats --by service of local and api and compares
// each service's count with the generator's.
func checkStats(t *testing.T, evs []schema.Event, window, local, api []string) {
	want := map[string]int64{}
	for i := range evs {
		want[evs[i].Service]++
	}
	for _, src := range [][]string{local, api} {
		r := harness.Logq(t, binDir, append(append([]string{"stats", "--by", "service", "-o", "json"}, src...), window...)...)
		var st statsJSON
		if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || r.Code != 0 {
			t.Errorf("logq stats %s: exit %d, %v: %s", src[0], r.Code, err, r.Stderr)
			continue
		}
		got := map[string]int64{}
		for _, row := range st.Rows {
			got[row.Key] = row.Count
		}
		if st.Total != int64(len(evs)) || !maps.Equal(got, want) {
			t.Errorf("logq stats %s: total %d, %v; want %d, %v", src[0], st.Total, got, len(evs), want)
		}
	}
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// corpusCase is a query and its expected outputs: for a filter, the
// count ("count") and the newest 5 messages ("newest"); for pipes, the
// JSON rows ("rows").
type corpusCase struct {
	query string
	want  map[string]string
}

func (c corpusCase) runs() [][]string {
	if _, ok := c.want["rows"]; ok {
		return [][]string{{"rows", "-o", "json"}}
	}
	return [][]string{{"count", "--count"}, {"newest", "--limit", "5", "-o", "raw"}}
}

// tokens are a text's words as the index cuts ASCII text: runs of
// letters and digits, in lower case.
func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') })
}

// texts are the message and each field's value: where a word is looked for.
func texts(ev *schema.Event) []string {
	out := []string{ev.Message}
	for _, v := range ev.Fields {
		out = append(out, schema.FormatValue(v))
	}
	return out
}

// phraseIn: the words of p follow each other in one of ev's texts, the
// last one only starting so with prefix.
func phraseIn(ev *schema.Event, p string, prefix bool) bool {
	want := tokens(p)
	for _, text := range texts(ev) {
		toks := tokens(text)
		for i := 0; i+len(want) <= len(toks); i++ {
			ok := true
			for j, w := range want {
				if toks[i+j] != w && !(prefix && j == len(want)-1 && strings.HasPrefix(toks[i+j], w)) {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
	}
	return false
}

func has(w string) func(*schema.Event) bool {
	return func(ev *schema.Event) bool { return phraseIn(ev, w, false) }
}

func fnum(ev *schema.Event, k string) (float64, bool) {
	switch v := ev.Fields[k].(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func numIs(k string, ok func(float64) bool) func(*schema.Event) bool {
	return func(ev *schema.Event) bool { n, present := fnum(ev, k); return present && ok(n) }
}

func filterCase(evs []schema.Event, q string, pred func(*schema.Event) bool) corpusCase {
	var matched []*schema.Event
	for i := range evs {
		if pred(&evs[i]) {
			matched = append(matched, &evs[i])
		}
	}
	var newest strings.Builder
	for i := len(matched) - 1; i >= 0 && i >= len(matched)-5; i-- { // events are generated oldest first
		newest.WriteString(matched[i].Message + "\n")
	}
	return corpusCase{q, map[string]string{"count": fmt.Sprintf("%d\n", len(matched)), "newest": newest.String()}}
}

// kv is one output row's keys and values, in order.
type kv []any

func rowsCase(q string, rows []kv) corpusCase {
	var b strings.Builder
	for _, r := range rows {
		b.WriteByte('{')
		for i := 0; i < len(r); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(r[i])
			v, _ := json.Marshal(r[i+1])
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
		}
		b.WriteString("}\n")
	}
	return corpusCase{q, map[string]string{"rows": b.String()}}
}

func corpus(evs []schema.Event, start time.Time) []corpusCase {
	t1, t2, t3 := start.Add(20*time.Minute), start.Add(50*time.Minute), start.Add(100*time.Minute)
	rfc := func(t time.Time) string { return t.Format(time.RFC3339) }
	exact := evs[1234].Message
	lvl := func(ev *schema.Event) schema.Level { return ev.Level }
	svc := func(s string) func(*schema.Event) bool { return func(ev *schema.Event) bool { return ev.Service == s } }
	not := func(f func(*schema.Event) bool) func(*schema.Event) bool {
		return func(ev *schema.Event) bool { return !f(ev) }
	}
	and := func(fs ...func(*schema.Event) bool) func(*schema.Event) bool {
		return func(ev *schema.Event) bool {
			for _, f := range fs {
				if !f(ev) {
					return false
				}
			}
			return true
		}
	}
	or := func(fs ...func(*schema.Event) bool) func(*schema.Event) bool {
		return func(ev *schema.Event) bool {
			for _, f := range fs {
				if f(ev) {
					return true
				}
			}
			return false
		}
	}
	re := func(field, pattern string) func(*schema.Event) bool {
		r := regexp.MustCompile(pattern)
		return func(ev *schema.Event) bool {
			if field == "" {
				return r.MatchString(ev.Message)
			}
			v, ok := ev.Fields[field]
			return ok && r.MatchString(schema.FormatValue(v))
		}
	}
	status := func(ev *schema.Event) (float64, bool) { return fnum(ev, "status") }
	user := func(ev *schema.Event) string { s, _ := ev.Fields["user"].(string); return s }
	between := func(lo, hi time.Time) func(*schema.Event) bool {
		return func(ev *schema.Event) bool { return !ev.Time.Before(lo) && ev.Time.Before(hi) }
	}
	// A duration's number is in its field alone: the message says "496ms".
	durationFrom := func(i int) string { // the first duration at or after evs[i]
		for ; ; i++ {
			if d, ok := fnum(&evs[i], "duration_ms"); ok {
				return strconv.Itoa(int(d))
			}
		}
	}
	u1, u2 := durationFrom(77), durationFrom(4321)
	filters := []struct {
		q    string
		pred func(*schema.Event) bool
	}{
		{"timeout", has("timeout")},
		{"refused", has("refused")},
		{`"connection refused"`, has("connection refused")},
		{`"refused by"`, has("refused by")},
		{"needle0", has("needle0")},
		{"upstream timeout", and(has("upstream"), has("timeout"))},
		{"timeout OR refused", or(has("timeout"), has("refused"))},
		{"time*", func(ev *schema.Event) bool { return phraseIn(ev, "time", true) }},
		{"NOT timeout", not(has("timeout"))},
		{"slow -service:db", and(has("slow"), not(svc("db")))},
		{"service:api", svc("api")},
		{"service:api OR service:web", or(svc("api"), svc("web"))},
		{"service:pay*", func(ev *schema.Event) bool { return strings.HasPrefix(ev.Service, "pay") }},
		{"host:host-7", func(ev *schema.Event) bool { return ev.Host == "host-7" }},
		{"level:error", func(ev *schema.Event) bool { return lvl(ev) == schema.LevelError }},
		{"level:>=warn", func(ev *schema.Event) bool { return lvl(ev) >= schema.LevelWarn }},
		{"level:<info", func(ev *schema.Event) bool { return lvl(ev) < schema.LevelInfo }},
		{"level:warn service:cart", and(svc("cart"), func(ev *schema.Event) bool { return lvl(ev) == schema.LevelWarn })},
		{"-level:info", func(ev *schema.Event) bool { return lvl(ev) != schema.LevelInfo }},
		{"duration_ms:>500", numIs("duration_ms", func(n float64) bool { return n > 500 })},
		{"duration_ms:>=8000", numIs("duration_ms", func(n float64) bool { return n >= 8000 })},
		{"duration_ms:<10", numIs("duration_ms", func(n float64) bool { return n < 10 })},
		{"duration_ms:[100, 200)", numIs("duration_ms", func(n float64) bool { return n >= 100 && n < 200 })},
		{"duration_ms:(100, 200]", numIs("duration_ms", func(n float64) bool { return n > 100 && n <= 200 })},
		{"duration_ms>850 level:error", and(numIs("duration_ms", func(n float64) bool { return n > 850 }), func(ev *schema.Event) bool { return lvl(ev) == schema.LevelError })},
		{"status:=500", numIs("status", func(n float64) bool { return n == 500 })},
		{"status:>=400", numIs("status", func(n float64) bool { return n >= 400 })},
		{"status:!=200", func(ev *schema.Event) bool { n, ok := status(ev); return !ok || n != 200 }},
		{"status:*", func(ev *schema.Event) bool { _, ok := status(ev); return ok }},
		{"-status:*", func(ev *schema.Event) bool { _, ok := status(ev); return !ok }},
		{"status:(404 OR 500)", numIs("status", func(n float64) bool { return n == 404 || n == 500 })},
		{"user:u123*", func(ev *schema.Event) bool { return strings.HasPrefix(user(ev), "u123") }},
		{`user:~"^u1[0-9]{3}$"`, re("user", `^u1[0-9]{3}$`)},
		{`~"took [0-9]ms"`, re("", `took [0-9]ms`)},
		{`~"SELECT .* tenant=1[0-9]{2} "`, re("", `SELECT .* tenant=1[0-9]{2} `)},
		{`~"(?i)TIMEOUT"`, re("", `(?i)TIMEOUT`)},
		{`_msg:~"^payment"`, re("", `^payment`)},
		{`="` + exact + `"`, func(ev *schema.Event) bool { return ev.Message == exact }},
		{"_time:[" + rfc(t1) + ", " + rfc(t2) + ")", between(t1, t2)},
		{"_time:>=" + rfc(t3) + " refused", and(between(t3, start.Add(3*time.Hour)), has("refused"))},
		{"(timeout OR refused) host:host-1", and(or(has("timeout"), has("refused")), func(ev *schema.Event) bool { return ev.Host == "host-1" })},
		{"item*", func(ev *schema.Event) bool { return phraseIn(ev, "item", true) }},
		{`"logged in"`, has("logged in")},
		{"payment EUR", and(has("payment"), has("eur"))},
		{"orders.47", has("orders 47")},
		{"status:>=300 status:<500", numIs("status", func(n float64) bool { return n >= 300 && n < 500 })},
		{"duration_ms:>100 OR status:=500", or(numIs("duration_ms", func(n float64) bool { return n > 100 }), numIs("status", func(n float64) bool { return n == 500 }))},
		{"NOT (service:api OR level:debug)", not(or(svc("api"), func(ev *schema.Event) bool { return lvl(ev) == schema.LevelDebug }))},
		{"user:u4*", func(ev *schema.Event) bool { return strings.HasPrefix(user(ev), "u4") }},
		// A word mostly only a field holds: found in the field's value.
		{u1, has(u1)},
		{u1 + " OR " + u2, or(has(u1), has(u2))},
		{"service:~\"^(api|web)$\" level:error", and(or(svc("api"), svc("web")), func(ev *schema.Event) bool { return lvl(ev) == schema.LevelError })},
	}
	var out []corpusCase
	for _, f := range filters {
		out = append(out, filterCase(evs, f.q, f.pred))
	}
	return append(out, pipeCases(evs, start)...)
}

// groups counts events by key, for those pred lets through.
func groups(evs []schema.Event, pred func(*schema.Event) bool, key func(*schema.Event) string) map[string]int64 {
	out := map[string]int64{}
	for i := range evs {
		if pred(&evs[i]) {
			out[key(&evs[i])]++
		}
	}
	return out
}

func all(*schema.Event) bool { return true }

// nearestRank is the smallest value with at least phi of them at or
// below it.
func nearestRank(sorted []float64, phi float64) float64 {
	return sorted[max(int(math.Ceil(phi*float64(len(sorted))))-1, 0)]
}

func pipeCases(evs []schema.Event, start time.Time) []corpusCase {
	var out []corpusCase
	bySvc := groups(evs, all, func(ev *schema.Event) string { return ev.Service })
	var rows []kv
	for _, s := range slices.Sorted(maps.Keys(bySvc)) {
		rows = append(rows, kv{"service", s, "count()", bySvc[s]})
	}
	out = append(out, rowsCase("| stats count() by (service) | sort by (service)", rows))

	isErr := func(ev *schema.Event) bool { return ev.Level == schema.LevelError }
	byHost := groups(evs, isErr, func(ev *schema.Event) string { return ev.Host })
	hosts := slices.SortedFunc(maps.Keys(byHost), func(a, b string) int { return cmp.Or(cmp.Compare(byHost[b], byHost[a]), cmp.Compare(a, b)) })
	rows = nil
	for _, h := range hosts[:5] {
		rows = append(rows, kv{"host", h, "count()", byHost[h]})
	}
	out = append(out, rowsCase("level:error | stats count() by (host) | sort by (count() desc, host) | limit 5", rows))

	rows = nil
	for _, l := range []string{"debug", "error", "info", "warn"} {
		hs := map[string]bool{}
		var n int64
		for i := range evs {
			if evs[i].Level.String() == l {
				n++
				hs[evs[i].Host] = true
			}
		}
		rows = append(rows, kv{"level", l, "count()", n, "hosts", len(hs)})
	}
	out = append(out, rowsCase("| stats by (level) count(), count_uniq(host) hosts | sort by (level)", rows))

	var durs []float64
	var sum float64
	for i := range evs {
		if d, ok := fnum(&evs[i], "duration_ms"); ok {
			durs = append(durs, d)
			sum += d
		}
	}
	slices.Sort(durs)
	out = append(out, rowsCase("duration_ms:* | stats avg(duration_ms), max(duration_ms), min(duration_ms), sum(duration_ms)",
		[]kv{{"avg(duration_ms)", sum / float64(len(durs)), "max(duration_ms)", durs[len(durs)-1], "min(duration_ms)", durs[0], "sum(duration_ms)", sum}}))
	out = append(out, rowsCase("| stats quantile(0.5, duration_ms) p50, quantile(0.99, duration_ms) p99, median(duration_ms)",
		[]kv{{"p50", nearestRank(durs, 0.5), "p99", nearestRank(durs, 0.99), "median(duration_ms)", nearestRank(durs, 0.5)}}))

	bucket := func(t time.Time, d time.Duration) time.Time {
		return time.Unix(0, t.UnixNano()-t.UnixNano()%int64(d)).UTC()
	}
	per10 := groups(evs, all, func(ev *schema.Event) string { return bucket(ev.Time, 10*time.Minute).Format(time.RFC3339Nano) })
	rows = nil
	for _, b := range slices.Sorted(maps.Keys(per10)) {
		rows = append(rows, kv{"_time", b, "count()", per10[b]})
	}
	out = append(out, rowsCase("| stats by (_time:10m) count()", rows))

	apiBy := groups(evs, func(ev *schema.Event) bool { return ev.Service == "api" },
		func(ev *schema.Event) string {
			return bucket(ev.Time, 30*time.Minute).Format(time.RFC3339Nano) + " " + ev.Level.String()
		})
	rows = nil
	for _, k := range slices.Sorted(maps.Keys(apiBy)) {
		at, l, _ := strings.Cut(k, " ")
		rows = append(rows, kv{"_time", at, "level", l, "count()", apiBy[k]})
	}
	out = append(out, rowsCase("service:api | stats by (_time:30m, level) count()", rows))

	out = append(out, topCase(evs, "| top 5 by (user)", 5, func(ev *schema.Event) ([]any, bool) {
		u, ok := ev.Fields["user"].(string)
		return []any{"user", u}, ok
	}))
	out = append(out, topCase(evs, "| top 3 by (service, level)", 3, func(ev *schema.Event) ([]any, bool) {
		return []any{"service", ev.Service, "level", ev.Level.String()}, true
	}))
	out = append(out, rowsCase("| uniq by (level) | sort by (level)", []kv{{"level", "debug"}, {"level", "error"}, {"level", "info"}, {"level", "warn"}}))
	out = append(out, rowsCase("status:* | uniq by (status) | sort by (status)", []kv{{"status", 200}, {"status", 300}, {"status", 400}, {"status", 500}}))
	out = append(out, sortedErrorsCase(evs))
	out = append(out, rowsCase("| stats count()", []kv{{"count()", len(evs)}}))
	out = append(out, rowsCase("nosuchword | stats count()", []kv{{"count()", 0}}))
	withStatus := groups(evs, func(ev *schema.Event) bool { _, ok := ev.Fields["status"]; return ok }, func(*schema.Event) string { return "" })
	out = append(out, rowsCase("| stats count(status) with_status, count_uniq(status) statuses", []kv{{"with_status", withStatus[""], "statuses", 4}}))
	return out
}

// topCase is "| top n by (…)": the most frequent keys, ties by their
// values in order.
func topCase(evs []schema.Event, q string, n int, key func(*schema.Event) ([]any, bool)) corpusCase {
	counts := map[string]int64{}
	first := map[string][]any{}
	for i := range evs {
		k, ok := key(&evs[i])
		if !ok {
			continue
		}
		var id []string
		for j := 1; j < len(k); j += 2 {
			id = append(id, k[j].(string))
		}
		s := strings.Join(id, "\x00")
		counts[s]++
		first[s] = k
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	var rows []kv
	for _, k := range keys[:n] {
		rows = append(rows, append(kv(slices.Clone(first[k])), "hits", counts[k]))
	}
	return rowsCase(q, rows)
}

// sortedErrorsCase: the errors' three longest durations, ties newest
// first (the order matches come in), with their times.
func sortedErrorsCase(evs []schema.Event) corpusCase {
	var errs []*schema.Event
	for i := len(evs) - 1; i >= 0; i-- {
		if _, ok := fnum(&evs[i], "duration_ms"); ok && evs[i].Level == schema.LevelError {
			errs = append(errs, &evs[i])
		}
	}
	slices.SortStableFunc(errs, func(a, b *schema.Event) int {
		x, _ := fnum(a, "duration_ms")
		y, _ := fnum(b, "duration_ms")
		return cmp.Compare(y, x)
	})
	var rows []kv
	for _, ev := range errs[:3] {
		d, _ := fnum(ev, "duration_ms")
		rows = append(rows, kv{"_time", ev.Time.UTC().Format(time.RFC3339Nano), "duration_ms", d})
	}
	return rowsCase("level:error duration_ms:* | sort by (duration_ms desc) | fields _time, duration_ms | limit 3", rows)
}
