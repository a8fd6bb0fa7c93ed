// End-to-end tests: the real binaries as processes on loopback, real ZeroMQ
// sockets, real SQLite files and real clients (curl, python3-zmq).
package tests

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index"

	_ "github.com/mattn/go-sqlite3"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
)

var binDir string

func TestMain(m *testing.M) {
	// ZLOG_TEST_BIN runs the tests against binaries built elsewhere, e.g. an
	// older commit's, to see a fault test fail before its fix.
	if dir := os.Getenv("ZLOG_TEST_BIN"); dir != "" {
		binDir = dir
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "zlog-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := harness.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logqJSON runs a logq search over data with --output json and returns the events.
func logqJSON(t *testing.T, data string, args ...string) ([]schema.Event, harness.Result) {
	t.Helper()
	res := harness.Logq(t, binDir, append([]string{"search", "--data", data, "--output", "json"}, args...)...)
	if res.Code == 2 {
		t.Fatalf("logq %q failed: %s", args, res.Stderr)
	}
	return harness.JSONLines[schema.Event](t, res.Stdout), res
}

// readLogLines reads a service's live log file and its rotated backups,
// gzipped or not, once the collector wrote them: each must end with a
// newline.
func readLogLines(t *testing.T, logsDir, service string) []string {
	t.Helper()
	return logLines(t, logsDir, service, false)
}

// pollLogLines is readLogLines while the collector writes: a reader may
// see part of a write(2), so an unfinished last line is not counted yet.
func pollLogLines(t *testing.T, logsDir, service string) []string {
	t.Helper()
	return logLines(t, logsDir, service, true)
}

func logLines(t *testing.T, logsDir, service string, writing bool) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(logsDir, service+"*.log"))
	gzipped, _ := filepath.Glob(filepath.Join(logsDir, service+"*.log.gz"))
	var lines []string
	for _, f := range append(files, gzipped...) {
		if strings.HasSuffix(f, ".gz") && slices.Contains(files, strings.TrimSuffix(f, ".gz")) {
			t.Fatalf("%s exists both plain and gzipped", f)
		}
		data, err := readMaybeGzipped(f)
		if err != nil {
			t.Fatal(err)
		}
		if writing && !strings.HasSuffix(f, ".gz") {
			data = data[:bytes.LastIndexByte(data, '\n')+1]
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Fatalf("%s does not end with a newline: a line was split", f)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

func readMaybeGzipped(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil || !strings.HasSuffix(path, ".gz") {
		return data, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return io.ReadAll(zr)
}

func TestDowncaseEndToEnd(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	_, base := harness.StartDowncase(t, binDir, work, col.XSub)

	// The article's behaviour, corrected: 400 with a message, 414 when too long.
	get := func(rawQuery string) (int, string) {
		resp, err := http.Get(base + "/downcase/" + rawQuery)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(""); code != 400 || !strings.Contains(body, `missing query parameter "param"`) {
		t.Fatalf("missing param: %d %q", code, body)
	}
	if code, _ := get("?param=" + strings.Repeat("A", 5000)); code != 414 {
		t.Fatalf("over-long param: got %d, want 414", code)
	}
	if code, body := get("?param=" + url.QueryEscape("ÀÉÎ Straße ΣΑΣ")); code != 200 || body != "lower case of ÀÉÎ Straße ΣΑΣ is àéî straße σασ" {
		t.Fatalf("unicode: %d %q", code, body)
	}

	// 2,000 requests, 50 at a time.
	const total, parallel = 2000, 50
	var wg sync.WaitGroup
	errs := make(chan error, total)
	jobs := make(chan int)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: parallel}}
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				param := fmt.Sprintf("Load%04dX", i)
				resp, err := client.Get(base + "/downcase/?param=" + param)
				if err != nil {
					errs <- err
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := "lower case of " + param + " is " + strings.ToLower(param); string(body) != want {
					errs <- fmt.Errorf("request %d: got %q, want %q", i, body, want)
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// A unique param sent with curl is found by word within 1 s.
	needle := fmt.Sprintf("Needle%dZ", time.Now().UnixNano())
	res := harness.Run(t, 10*time.Second, "curl", "-sS", "-f", base+"/downcase/?param="+needle)
	if res.Code != 0 || res.Stdout != "lower case of "+needle+" is "+strings.ToLower(needle) {
		t.Fatalf("curl: code %d, %q %s", res.Code, res.Stdout, res.Stderr)
	}
	sent := time.Now()
	harness.Eventually(t, time.Second, "needle searchable within 1 s", func() (bool, string) {
		evs, r := logqJSON(t, data, "--since", "5m", "--service", "downcase", strings.ToLower(needle))
		return len(evs) == 1, fmt.Sprintf("%d events after %v (stderr %q)", len(evs), time.Since(sent), r.Stderr)
	})
	t.Logf("needle searchable %v after its request", time.Since(sent))

	// Exactly the 2,000 load answers, each once, with param and answer fields.
	var evs []schema.Event
	harness.Eventually(t, 15*time.Second, "2,000 answer events indexed", func() (bool, string) {
		evs, _ = logqJSON(t, data, "--service", "downcase", "--since", "5m", "--limit", "0", "--fts", "load*")
		return len(evs) >= total, fmt.Sprintf("%d events", len(evs))
	})
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Service != "downcase" || ev.Level != schema.LevelInfo || ev.Fields["answer"] != strings.ToLower(ev.Fields["param"].(string)) {
			t.Fatalf("bad answer event: %+v", ev)
		}
		if seen[ev.Fields["param"].(string)] {
			t.Fatalf("duplicate event for %s", ev.Fields["param"])
		}
		seen[ev.Fields["param"].(string)] = true
	}
	if len(seen) != total {
		t.Fatalf("got %d distinct answers, want %d", len(seen), total)
	}
	// The plain service filter counts the same: answers only, access events
	// live in downcase-access.
	all, _ := logqJSON(t, data, "--service", "downcase", "--since", "5m", "--limit", "0")
	if want := total + 2; len(all) != want { // + unicode + needle
		t.Fatalf("--service downcase: got %d events, want %d", len(all), want)
	}
	access, _ := logqJSON(t, data, "--service", "downcase-access", "--since", "5m", "--limit", "0", "--level", "warn")
	if len(access) != 2 { // the 400 and the 414
		t.Fatalf("warn-level access events: got %d, want 2", len(access))
	}

	// The service's log file holds every answer.
	lines := readLogLines(t, filepath.Join(data, "logs"), "downcase")
	inFile := map[string]bool{}
	re := regexp.MustCompile(`^\S+Z info  downcase \S+: lower case of (Load\d{4}X) is load\d{4}x answer=load\d{4}x param=Load\d{4}X$`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			inFile[m[1]] = true
		}
	}
	if len(inFile) != total {
		t.Fatalf("downcase.log holds %d of %d answers", len(inFile), total)
	}
}

func TestMalformedInputIsCountedAndSurvived(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3 with python3-zmq (make deps installs it)")
	}
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)

	const good = 700
	res := harness.Run(t, 60*time.Second, "/usr/bin/python3", filepath.Join(harness.ModuleRoot(), "tests", "testdata", "pypub.py"), col.XSub, strconv.Itoa(good), "--malformed")
	if res.Code != 0 {
		t.Fatalf("pypub: %d %s", res.Code, res.Stderr)
	}
	var sentBad map[string]int
	if err := json.Unmarshal([]byte(res.Stdout), &sentBad); err != nil {
		t.Fatalf("pypub output %q: %v", res.Stdout, err)
	}
	// Every malformed message is counted under its reason...
	for reason, n := range sentBad {
		name := fmt.Sprintf(`zlog_collector_malformed_total{reason="%s"}`, reason)
		harness.Eventually(t, 10*time.Second, name, func() (bool, string) {
			got := col.Metric(t, name)
			return got == float64(n), fmt.Sprintf("%v of %d", got, n)
		})
	}
	// ...every good one between them is stored, and the collector still runs.
	harness.Eventually(t, 10*time.Second, "good events indexed", func() (bool, string) {
		evs, _ := logqJSON(t, data, "--service", "pytest", "--since", "5m", "--limit", "0")
		return len(evs) == good, fmt.Sprintf("%d of %d", len(evs), good)
	})
	evs, _ := logqJSON(t, data, "--service", "pytest", "--since", "5m", "--limit", "0")
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Message != "py event "+schema.FormatValue(ev.Fields["i"]) || ev.Host != "pyhost" || ev.Fields["lang"] != "python" || ev.Time.IsZero() || seen[ev.Message] {
			t.Fatalf("bad or repeated event: %+v", ev)
		}
		seen[ev.Message] = true
	}
	if !col.Running() {
		t.Fatal("collector exited")
	}
	if got := col.Metric(t, "zlog_collector_received_total"); got != good {
		t.Fatalf("received_total %v, want %d", got, good)
	}
	// The flood of rejections is logged as summaries, not once per message.
	if n := strings.Count(col.Output(), "dropped malformed messages"); n == 0 || n > 3 {
		t.Fatalf("want 1-3 rate-limited rejection logs, got %d", n)
	}
}

func TestShutdownFlushesRestartsExactlyOnce(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	// A long commit interval: on SIGTERM the events are received but not yet
	// committed, so only the shutdown flush can store them.
	col := harness.StartCollector(t, binDir, work, data, "--commit-interval", "1m")
	const n = 15000
	gen := harness.Start(t, work, "loadgen", filepath.Join(binDir, "zlog-loadgen"), "--collector", col.XSub,
		"--count", strconv.Itoa(n), "--service", "flush", "--now", "--close-timeout", "60s")
	harness.Eventually(t, 10*time.Second, "all lines in the log file", func() (bool, string) {
		l := len(pollLogLines(t, filepath.Join(data, "logs"), "flush"))
		return l == n, fmt.Sprintf("%d lines", l)
	})
	if l := len(readLogLines(t, filepath.Join(data, "logs"), "flush")); l != n {
		t.Fatalf("log file holds %d lines, want %d", l, n)
	}
	if got := col.Metric(t, "zlog_collector_indexed_total"); got != 0 {
		t.Fatalf("indexed before shutdown: %v (the test needs uncommitted events)", got)
	}
	if code := col.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("collector exit code %d after SIGTERM; output:\n%s", code, col.Output())
	}
	evs, _ := logqJSON(t, data, "--service", "flush", "--since", "5m", "--limit", "0")
	if len(evs) != n {
		t.Fatalf("indexed after SIGTERM: %d, want %d", len(evs), n)
	}
	checkIntegrity(t, data, n)

	// The publisher never saw an ack (the collector stopped first), so it
	// resends everything to the restarted collector, which knows from the
	// index that it has it all: it drops the resends, acknowledges, and the
	// publisher finishes. The index still holds each event once.
	col2 := harness.StartCollector(t, binDir, work, data, "--xsub", col.XSub)
	gen.WaitLine(t, regexp.MustCompile(`"published":15000`), 30*time.Second)
	harness.Eventually(t, 10*time.Second, "loadgen exits 0", func() (bool, string) {
		return !gen.Running() && gen.Cmd.ProcessState.ExitCode() == 0, gen.Output()
	})
	// Once the first duplicates are answered with an ack of all 15,000, the
	// publisher stops resending, so up to n arrive.
	if dup := col2.Metric(t, `zlog_collector_sequence_total{verdict="duplicate"}`); dup < 1 || dup > n {
		t.Fatalf("resends dropped as duplicates: %v, want 1..%d", dup, n)
	}
	evs, _ = logqJSON(t, data, "--service", "flush", "--since", "5m", "--limit", "0")
	if len(evs) != n {
		t.Fatalf("indexed after restart: %d, want exactly %d", len(evs), n)
	}
}

// checkIntegrity runs PRAGMA integrity_check on every partition and checks
// the blocks hold n events.
func checkIntegrity(t *testing.T, data string, n int) {
	t.Helper()
	parts, err := index.ListPartitions(filepath.Join(data, "index"))
	if err != nil || len(parts) == 0 {
		t.Fatalf("partitions: %v %v", parts, err)
	}
	stored := 0
	for _, p := range parts {
		db, err := sql.Open("sqlite3", "file:"+p.Path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		var check string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Fatalf("%s integrity_check: %q %v", p.Path, check, err)
		}
		var c int
		if err := db.QueryRow(`SELECT coalesce(sum(rows), 0) FROM blocks`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		stored += c
		db.Close()
	}
	if stored != n {
		t.Fatalf("events in blocks: %d, want %d", stored, n)
	}
}

func TestLogqExitCodesAndErrors(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	res := harness.Run(t, 30*time.Second, filepath.Join(binDir, "zlog-loadgen"), "--collector", col.XSub, "--count", "10", "--service", "codes", "--now")
	if res.Code != 0 {
		t.Fatalf("loadgen: %s", res.Stderr)
	}
	harness.Eventually(t, 10*time.Second, "events indexed", func() (bool, string) {
		evs, _ := logqJSON(t, data, "--data", data, "--since", "5m", "--limit", "0")
		return len(evs) == 10, fmt.Sprint(len(evs))
	})
	d := "--data=" + data
	cases := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"search", d, "event"}, 0, ""},
		{[]string{"search", d, "--since", "1h", "event", "--service", "codes", "--limit", "3"}, 0, ""},
		{[]string{"search", d, "nosuchword"}, 1, "no events matched"},
		{[]string{"search", d, "--since", "yesterdayish"}, 2, "--since"},
		{[]string{"search", d, "--since", "yesterday", "event"}, 0, ""},
		{[]string{"search", d, "-S", "1 hour ago", "-U", "now", "event"}, 0, ""},
		{[]string{"search", d, "--until", "13/13/13"}, 2, "--until"},
		{[]string{"search", d, "--level", "loud"}, 2, "--level"},
		{[]string{"search", d, "--output", "xml"}, 2, "--output"},
		{[]string{"search", d, "--order", "sideways"}, 2, "--order"},
		{[]string{"search", d, "--service", "Bad Name"}, 2, "--service"},
		{[]string{"search", d, "--limit", "-1"}, 2, "--limit"},
		{[]string{"search", d, "--fts", "AND AND"}, 2, "full-text expression"},
		{[]string{"search", d, "--nonsense"}, 2, "-nonsense"},
		{[]string{"search", "--data", filepath.Join(work, "nowhere"), "x"}, 2, "no index"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	}
	for _, c := range cases {
		r := harness.Logq(t, binDir, c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.inStderr) {
			t.Errorf("logq %q: exit %d stderr %q; want exit %d and %q", c.args, r.Code, r.Stderr, c.code, c.inStderr)
		}
	}
	// A listing cut by --limit says so on stderr; a whole one does not.
	for _, c := range []struct {
		limit, note string
	}{{"3", "logq: 3 shown, more match; --limit 0 for all, --count for how many\n"}, {"10", ""}, {"0", ""}} {
		r := harness.Logq(t, binDir, "search", d, "--service", "codes", "--limit", c.limit)
		if r.Code != 0 || r.Stderr != c.note {
			t.Errorf("--limit %s: exit %d, stderr %q, want %q", c.limit, r.Code, r.Stderr, c.note)
		}
	}
	// --count agrees with the listing and keeps grep's exit codes.
	if r := harness.Logq(t, binDir, "search", d, "--count", "--service", "codes", "--limit", "3"); r.Code != 0 || r.Stdout != "10\n" {
		t.Errorf("--count: exit %d, %q", r.Code, r.Stdout)
	}
	if r := harness.Logq(t, binDir, "search", d, "--count", "-o", "json", "nosuchword"); r.Code != 1 || r.Stdout != "{\"count\":0}\n" {
		t.Errorf("--count no match: exit %d, %q", r.Code, r.Stdout)
	}
	// The words are a query: valid ones search, broken ones exit 2 with
	// the error's position and a caret under it, never an FTS5 error.
	for _, c := range []struct {
		query string
		valid bool
	}{
		{"item:123", true}, {"a-b", true}, {"*", true}, {"^", true}, {`"event"`, true}, {"event OR nothing", true},
		{`"`, false}, {"NOT", false}, {"OR", false}, {"AND", false}, {"NEAR(", false}, {"event OR", false}, {`"event`, false},
	} {
		r := harness.Logq(t, binDir, "search", d, c.query)
		switch {
		case strings.Contains(r.Stderr, "fts5"):
			t.Errorf("logq search %q: %q", c.query, r.Stderr)
		case c.valid && r.Code == 2:
			t.Errorf("logq search %q: exit 2 %q", c.query, r.Stderr)
		case !c.valid && (r.Code != 2 || !strings.Contains(r.Stderr, "at position") || !strings.Contains(r.Stderr, "^")):
			t.Errorf("logq search %q: exit %d %q, want exit 2 with the position", c.query, r.Code, r.Stderr)
		}
	}
	// --help goes to stdout with exit 0 and documents every flag.
	r := harness.Logq(t, binDir, "search", "--help")
	for _, flag := range []string{"-since", "-until", "-service", "-topic", "-host", "-level", "-limit", "-order", "-output", "-data", "-fts", "-count"} {
		if r.Code != 0 || !strings.Contains(r.Stdout, flag) {
			t.Errorf("search --help: exit %d, missing %s", r.Code, flag)
		}
	}
}

func TestLogRotationKeepsWholeLines(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data, "--log-max-size", "1", "--log-max-backups", "0")
	logPath := filepath.Join(data, "logs", "rotate.log")
	os.MkdirAll(filepath.Dir(logPath), 0o750)
	os.WriteFile(logPath, nil, 0o640)

	// tail -F, as a user would run it, must see every line across rotations.
	tail := exec.Command("tail", "-n", "+1", "-F", logPath)
	tailOut, _ := tail.StdoutPipe()
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	defer tail.Process.Kill()
	var tailed []string
	var tailMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(tailOut)
		for sc.Scan() {
			tailMu.Lock()
			tailed = append(tailed, sc.Text())
			tailMu.Unlock()
		}
	}()

	const n = 45000 // about 3.4 MB of lines: at least two rotations at 1 MB
	res := harness.Run(t, 60*time.Second, filepath.Join(binDir, "zlog-loadgen"), "--collector", col.XSub,
		"--count", strconv.Itoa(n), "--service", "rotate", "--now", "--rate", "20000")
	if res.Code != 0 {
		t.Fatalf("loadgen: %s", res.Stderr)
	}
	// Rotated files are gzipped by default, in the background: wait until
	// no plain backup is left.
	var backups []string
	harness.Eventually(t, 15*time.Second, "rotated files gzipped", func() (bool, string) {
		plain, _ := filepath.Glob(filepath.Join(filepath.Dir(logPath), "rotate-*.log"))
		backups, _ = filepath.Glob(filepath.Join(filepath.Dir(logPath), "rotate-*.log.gz"))
		return len(plain) == 0 && len(backups) >= 2, fmt.Sprintf("plain %v, gzipped %v", plain, backups)
	})
	var lines []string
	harness.Eventually(t, 15*time.Second, "all lines written", func() (bool, string) {
		lines = pollLogLines(t, filepath.Dir(logPath), "rotate")
		return len(lines) >= n, fmt.Sprint(len(lines))
	})
	lines = readLogLines(t, filepath.Dir(logPath), "rotate") // all written: none may be torn
	checkLines := func(what string, lines []string) {
		t.Helper()
		re := regexp.MustCompile(`^\S+Z \S+\s+rotate \S+: event (\d+)$`)
		seen := make([]bool, n)
		for _, l := range lines {
			m := re.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("%s: malformed or split line %q", what, l)
			}
			i, _ := strconv.Atoi(m[1])
			if seen[i] {
				t.Fatalf("%s: line for event %d twice", what, i)
			}
			seen[i] = true
		}
		if len(lines) != n {
			t.Fatalf("%s: %d lines, want %d", what, len(lines), n)
		}
	}
	checkLines("files", lines)
	harness.Eventually(t, 10*time.Second, "tail -F saw every line", func() (bool, string) {
		tailMu.Lock()
		defer tailMu.Unlock()
		return len(tailed) >= n, fmt.Sprint(len(tailed))
	})
	tailMu.Lock()
	got := append([]string(nil), tailed...)
	tailMu.Unlock()
	sort.Strings(got)
	checkLines("tail -F", got)
}
