package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// TestLogqContext: every event printed with -o json carries an id; logq
// context ID prints it with the events around it from its source (other
// sources' events left out), and search -A/-B/-C does so for each match
// with grep's "--" between groups; locally and over the API alike.
func TestLogqContext(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	var b strings.Builder
	for i := 1; i <= 20; i++ {
		lvl := []string{"INFO", "WARN", "ERROR", "DEBUG"}[i%4]
		fmt.Fprintf(&b, "%s step %d of the job\n", lvl, i)
	}
	agentPipe(t, col.XSub, "ctxjob", b.String())
	agentPipe(t, col.XSub, "other", "INFO step 10 of another job\nINFO step 11 of another job\n")
	waitStored(t, data, 22)
	r := harness.Logq(t, binDir, "search", "--data", data, "-o", "json", "--service", "ctxjob", `"step 10 "`)
	var hit struct{ ID, Message string }
	if err := json.Unmarshal([]byte(r.Stdout), &hit); err != nil || !strings.Contains(hit.ID, "/ctxjob.error/") {
		t.Fatalf("search -o json: %q, id %q: %v", r.Stdout, hit.ID, err)
	}
	steps := func(out string) string {
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "--" {
				got = append(got, "--")
				continue
			}
			_, after, _ := strings.Cut(line, " step ")
			n, _, _ := strings.Cut(after, " ")
			got = append(got, n)
		}
		return strings.Join(got, " ")
	}
	for _, src := range [][]string{{"--data", data}, {"--collector", "http://" + col.HTTP}} {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"context", hit.ID, "-C", "2"}, "8 9 10 11 12"},
			{[]string{"context", "-B", "3", "-A", "0", hit.ID}, "7 8 9 10"},
			{[]string{"context", hit.ID, "-C", "30"}, "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"},
			{[]string{"search", "--service", "ctxjob", "-C", "1", "--order", "oldest", "--", "step 5 OR step 15"}, "4 5 6 -- 14 15 16"},
			{[]string{"search", "--service", "ctxjob", "-A", "1", "level:error"}, "18 19 -- 14 15 -- 10 11 -- 6 7 -- 2 3"},
		} {
			args := append(slices.Clone(c.args), src...)
			if i := slices.Index(c.args, "--"); i >= 0 { // flags before the query
				args = append(append(slices.Clone(c.args[:i]), src...), c.args[i:]...)
			}
			r := harness.Logq(t, binDir, args...)
			if r.Code != 0 || steps(r.Stdout) != c.want {
				t.Errorf("logq %q %s: exit %d %s\n got %s\nwant %s", c.args, src[0], r.Code, r.Stderr, steps(r.Stdout), c.want)
			}
		}
		if r := harness.Logq(t, binDir, append([]string{"context", "nope"}, src...)...); r.Code != 2 || !strings.Contains(r.Stderr, "invalid event id") {
			t.Errorf("context of a bad id %s: exit %d %q", src[0], r.Code, r.Stderr)
		}
		missing := strings.Replace(hit.ID, "/ctxjob.error/", "/ctxjob.fatal/", 1)
		if r := harness.Logq(t, binDir, append([]string{"context", missing}, src...)...); r.Code != 1 || !strings.Contains(r.Stderr, "no such event") {
			t.Errorf("context of a missing id %s: exit %d %q", src[0], r.Code, r.Stderr)
		}
	}
}

// TestLogqTimes: natural times for --since, -S/-U, local time by default
// and --utc, zoneless times in queries read in the user's zone locally
// and over the API, --every buckets on round times with durations
// printed short.
func TestLogqTimes(t *testing.T) {
	if _, err := os.Stat("/usr/share/zoneinfo/Asia/Tokyo"); err != nil {
		t.Skip("no tzdata for Asia/Tokyo")
	}
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agentPipe(t, col.XSub, "clock", "INFO tick\nINFO tock\n")
	waitStored(t, data, 2)
	for _, since := range []string{"yesterday", "today", "-1h", "1 hour ago", "an hour ago", fmt.Sprintf("@%d", time.Now().Add(-time.Hour).Unix())} {
		r := harness.Logq(t, binDir, "search", "--data", data, "--count", "-S", since, "-U", "now")
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "2" {
			t.Errorf("-S %q: exit %d %q %s", since, r.Code, r.Stdout, r.Stderr)
		}
	}
	t.Setenv("TZ", "Asia/Tokyo")
	local := harness.Logq(t, binDir, "search", "--data", data, "tick")
	utc := harness.Logq(t, binDir, "search", "--data", data, "tick", "--utc")
	if !strings.Contains(local.Stdout, "+09:00 info") || !strings.Contains(utc.Stdout, "Z info") {
		t.Errorf("local %q, --utc %q", local.Stdout, utc.Stdout)
	}
	// A zoneless time in a query is the user's local time, here and on
	// a collector elsewhere (which runs in UTC).
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	const zoneless = "2006-01-02T15:04:05"
	now := time.Now().In(tokyo)
	window := fmt.Sprintf("_time:[%s, %s] tick", now.Add(-40*time.Minute).Format(zoneless), now.Add(40*time.Minute).Format(zoneless))
	for _, src := range [][]string{{"--data", data}, {"--collector", "http://" + col.HTTP}} {
		r := harness.Logq(t, binDir, append([]string{"search", "--count", window}, src...)...)
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "1" {
			t.Errorf("%s %s: exit %d %q %s", window, src[0], r.Code, r.Stdout, r.Stderr)
		}
	}
	st := harness.Logq(t, binDir, "stats", "--data", data, "--since", "2h", "--every", "1h", "--chart", "ascii")
	header := strings.SplitN(st.Stdout, "\n", 2)[0]
	if st.Code != 0 || !strings.Contains(header, "per 1h from ") || !strings.HasSuffix(header, ":00") {
		t.Errorf("stats --every 1h: header %q, exit %d %s", header, st.Code, st.Stderr)
	}
}
