package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
)

// agentPipe publishes lines of stdin as service through a zlog-agent and
// waits for it to have them acknowledged.
func agentPipe(t *testing.T, xsub, service, lines string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "zlog-agent"), "--service", service, "--collector", xsub)
	cmd.Stdin = strings.NewReader(lines)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zlog-agent: %v\n%s", err, out)
	}
}

// waitStored waits until logq counts n events matching the query words
// in the index under data.
func waitStored(t *testing.T, data string, n int, query ...string) {
	t.Helper()
	waitStoredIn(t, []string{"--data", data}, n, query...)
}

// statsJSON is logq stats -o json.
type statsJSON struct {
	Total int64 `json:"total"`
	Rows  []struct {
		Key   string `json:"key"`
		Count int64  `json:"count"`
	} `json:"rows"`
}

// waitStoredIn is waitStored for the store logq reads with src.
func waitStoredIn(t *testing.T, src []string, n int, query ...string) {
	t.Helper()
	want := strconv.Itoa(n)
	harness.Eventually(t, 15*time.Second, fmt.Sprintf("%s events of %q indexed", want, query), func() (bool, string) {
		r := harness.Logq(t, binDir, append(append([]string{"search", "--count"}, src...), query...)...)
		return strings.TrimSpace(r.Stdout) == want, r.Stdout + r.Stderr
	})
}

// logq tail subscribes by topic prefix: with --service api --level warn it
// prints only api.warn/api.error/api.fatal, though other services and
// levels flow through the same collector at the same time.
func TestLogqTailFiltersByTopic(t *testing.T) {
	work := harness.WorkDir(t)
	col := harness.StartCollector(t, binDir, work, filepath.Join(work, "data"))
	tail := harness.Start(t, work, "tail", filepath.Join(binDir, "logq"), "tail", "--xpub", col.XPub,
		"--service", "api", "--level", "warn", "--limit", "20", "-o", "json")
	tailed := publishUntilExit(t, tail, func(round int) {
		var b strings.Builder
		for i := 0; i < 5; i++ {
			fmt.Fprintf(&b, "INFO round %d info %d\nERROR round %d error %d\nWARN round %d warn %d\n", round, i, round, i, round, i)
		}
		agentPipe(t, col.XSub, "api", b.String())
		agentPipe(t, col.XSub, "web", b.String())
	})
	for _, ev := range tailed {
		if ev.Service != "api" || ev.Level < schema.LevelWarn {
			t.Errorf("tail printed a non-matching event: %s %s", ev.Topic(), ev.Message)
		}
	}
	if len(tailed) != 20 {
		t.Errorf("tail printed %d events, want 20 (--limit)", len(tailed))
	}
}

// publishUntilExit calls publish with rounds 0, 1, … until tail (a logq
// tail -o json with --limit) exits, and returns what it printed. The
// subscription reaches the collector asynchronously, so the first rounds
// may go unseen.
func publishUntilExit(t *testing.T, tail *harness.Proc, publish func(round int)) []schema.Event {
	t.Helper()
	for round := 0; tail.Running(); round++ {
		if round > 200 {
			t.Fatalf("%s printed too little:\n%s", tail.Name, tail.Output())
		}
		publish(round)
	}
	var out []schema.Event
	for _, line := range strings.Split(tail.Output(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ev schema.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%s printed %q: %v", tail.Name, line, err)
		}
		out = append(out, ev)
	}
	return out
}

// stats agrees with search: the count per level equals search --count with
// that level; and the new-user flow "what broke in the last hour?" works.
func TestLogqStatsMatchSearch(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	var b strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "%s request %d done\n", []string{"INFO", "WARN", "ERROR"}[i%3], i)
	}
	agentPipe(t, col.XSub, "shop", b.String())
	agentPipe(t, col.XSub, "auth", "ERROR token expired\nINFO login ok\n")
	harness.Eventually(t, 10*time.Second, "events indexed", func() (bool, string) {
		res := harness.Logq(t, binDir, "search", "--data", data, "--count", "--since", "1h")
		return strings.TrimSpace(res.Stdout) == "302", res.Stdout
	})
	res := harness.Logq(t, binDir, "stats", "--data", data, "--since", "1h", "--by", "level", "-o", "json")
	var st statsJSON
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil || res.Code != 0 {
		t.Fatalf("stats -o json: exit %d, %v\n%s%s", res.Code, err, res.Stdout, res.Stderr)
	}
	for _, r := range st.Rows {
		// search --level is a minimum; count the exact level via its topic.
		c := harness.Logq(t, binDir, "search", "--data", data, "--since", "1h", "--count", "--topic", "shop."+r.Key)
		c2 := harness.Logq(t, binDir, "search", "--data", data, "--since", "1h", "--count", "--topic", "auth."+r.Key)
		var a, b int64
		fmt.Sscan(c.Stdout, &a)
		fmt.Sscan(c2.Stdout, &b)
		if a+b != r.Count {
			t.Errorf("level %s: stats %d, search %d", r.Key, r.Count, a+b)
		}
	}
	if st.Total != 302 {
		t.Errorf("stats total %d, want 302", st.Total)
	}
	// What broke in the last hour?
	byService := harness.Logq(t, binDir, "stats", "--data", data, "--since", "1h", "--by", "service", "--chart", "ascii")
	if byService.Code != 0 || !strings.Contains(byService.Stdout, "shop") || !strings.Contains(byService.Stdout, "#") {
		t.Errorf("stats --by service:\n%s%s", byService.Stdout, byService.Stderr)
	}
	errs := harness.Logq(t, binDir, "search", "--data", data, "--since", "1h", "--level", "error", "--count")
	if strings.TrimSpace(errs.Stdout) != "101" {
		t.Errorf("errors in the last hour: %q, want 101", errs.Stdout)
	}
	topics := harness.Logq(t, binDir, "topics", "--data", data)
	if !strings.Contains(topics.Stdout, "auth.error") || !strings.Contains(topics.Stdout, "shop.warn") {
		t.Errorf("topics:\n%s", topics.Stdout)
	}
	hist := harness.Logq(t, binDir, "stats", "--data", data, "--since", "1h", "--every", "10m", "--chart", "unicode")
	if !strings.Contains(hist.Stdout, "|") || hist.Code != 0 {
		t.Errorf("stats --every:\n%s%s", hist.Stdout, hist.Stderr)
	}
	// Bad input: a clear message and exit 2.
	for _, args := range [][]string{
		{"stats", "--data", data, "--by", "colour"},
		{"stats", "--data", data, "--since", "yesterday-ish"},
		{"stats", "--data", data, "--since", "1h", "--every", "1ms"},
		{"stats", "--data", data, "--fts", "AND AND"},
		{"topics", "--data", data, "--level", "loud"},
		{"tail", "--level", "loud"},
		{"tail", "--service", "Bad Name"},
	} {
		r := harness.Logq(t, binDir, args...)
		if r.Code != 2 || !strings.HasPrefix(r.Stderr, "logq: ") {
			t.Errorf("logq %q: exit %d, stderr %q; want 2 and a message", args, r.Code, r.Stderr)
		}
	}
}

// Retention removes whole old partitions while ingestion goes on, searches
// keep working, and logq says where the index now starts.
func TestRetentionRemovesOldPartitions(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data, "--retain", "2d", "--retention-interval", "200ms")
	old := time.Now().UTC().Add(-5 * 24 * time.Hour)
	recent := time.Now().UTC().Add(-20 * time.Hour)
	var b strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, `{"ts":%q,"level":"info","msg":"old event %d"}`+"\n", old.Format(time.RFC3339Nano), i)
		fmt.Fprintf(&b, `{"ts":%q,"level":"info","msg":"recent event %d"}`+"\n", recent.Format(time.RFC3339Nano), i)
	}
	agentPipe(t, col.XSub, "kept", b.String())
	oldFile := index.PartitionFile(filepath.Join(data, "index"), old)
	harness.Eventually(t, 15*time.Second, "old partition removed", func() (bool, string) {
		_, err := os.Stat(oldFile)
		return os.IsNotExist(err) && col.Metric(t, "zlog_collector_retention_removed_partitions_total") >= 1, fmt.Sprint(err)
	})
	// Ingestion goes on during and after.
	load := startLoad(t, work, col.XSub, "during", 20000, 5000)
	if waitLoadgenOK(t, load); !col.Running() {
		t.Fatal("collector stopped")
	}
	checkExactlyOnce(t, data, "during", 20000)
	res := harness.Logq(t, binDir, "search", "--data", data, "--service", "kept", "--since", "7d", "--count")
	if strings.TrimSpace(res.Stdout) != "50" {
		t.Errorf("recent events after retention: %q, want 50", res.Stdout)
	}
	if !strings.Contains(res.Stderr, "retention removed events before") {
		t.Errorf("logq did not say where the index starts: %q", res.Stderr)
	}
	if code := col.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("collector exit %d", code)
	}
}

// Live delivery is at most once, but never silently: a tail that falls
// behind (here: stopped while 250k events pass) says how many it missed.
func TestLogqTailReportsMissedEvents(t *testing.T) {
	work := harness.WorkDir(t)
	col := harness.StartCollector(t, binDir, work, filepath.Join(work, "data"))
	tail := harness.Start(t, work, "tail", filepath.Join(binDir, "logq"), "tail", "--xpub", col.XPub, "--service", "flood", "-o", "raw")
	// Wait for the subscription: a first event must come through.
	for round := 0; !strings.Contains(tail.Output(), "hello"); round++ {
		if round > 100 {
			t.Fatalf("tail heard nothing:\n%s", tail.Output())
		}
		agentPipe(t, col.XSub, "flood", "INFO hello\n")
	}
	// Stopped while most of the flood passes, resumed before its end: the
	// events after the hole reveal it.
	tail.Cmd.Process.Signal(syscall.SIGSTOP)
	load := startLoad(t, work, col.XSub, "flood", 400000, 40000)
	harness.Eventually(t, time.Minute, "most of the flood through the collector", func() (bool, string) {
		n := col.Metric(t, "zlog_collector_received_total")
		return n >= 250000, fmt.Sprint(n)
	})
	tail.Cmd.Process.Signal(syscall.SIGCONT)
	waitLoadgenOK(t, load)
	m := tail.WaitLine(t, regexp.MustCompile(`^logq: missed (\d+) live events of publisher \S+ topic flood\.info`), 30*time.Second)
	if n, _ := strconv.Atoi(m[1]); n <= 0 || n >= 400000 {
		t.Errorf("missed %d events, want some but not all of 400000", n)
	}
}
