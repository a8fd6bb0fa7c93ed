package tests

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// appLog is a log file written the way applications write them: through an
// O_APPEND descriptor that is reopened after a rename (as on SIGHUP).
type appLog struct {
	t    *testing.T
	path string
	f    *os.File
}

func openAppLog(t *testing.T, path string) *appLog {
	l := &appLog{t: t, path: path}
	l.reopen()
	t.Cleanup(func() { l.f.Close() })
	return l
}

func (l *appLog) reopen() {
	if l.f != nil {
		l.f.Close()
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	l.f = f
}

func (l *appLog) line(i int) {
	if _, err := fmt.Fprintf(l.f, "event %d\n", i); err != nil {
		l.t.Fatal(err)
	}
}

// renameRotate is logrotate's default: rename, the app writes a little more
// into the renamed file, then reopens its log.
func (l *appLog) renameRotate(to string, next *int) {
	if err := os.Rename(l.path, to); err != nil {
		l.t.Fatal(err)
	}
	for range 50 {
		l.line(*next)
		*next++
	}
	l.reopen()
}

// copyTruncate is logrotate's copytruncate: copy, then truncate in place
// while the app keeps its descriptor. Lines written between the copy and
// the truncation would be lost by copytruncate itself, whatever reads the
// file; the writer does not write in that window here.
func (l *appLog) copyTruncate(to string) {
	src, err := os.Open(l.path)
	if err != nil {
		l.t.Fatal(err)
	}
	dst, err := os.Create(to)
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		l.t.Fatal(err)
	}
	src.Close()
	dst.Close()
	if err := os.Truncate(l.path, 0); err != nil {
		l.t.Fatal(err)
	}
}

// A writer appends 100k lines while the file is rotated 5 times by rename
// and 5 times by copytruncate, and the agent is SIGKILLed twice (one rename
// and one copytruncate happen while it is down) and restarted with its
// spool: the index holds every line exactly once.
func TestAgentFileRotationAndKillsExactlyOnce(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	logs := filepath.Join(work, "logs")
	os.MkdirAll(logs, 0o755)
	col := harness.StartCollector(t, binDir, work, data)
	path := filepath.Join(logs, "app.log")
	app := openAppLog(t, path)
	args := []string{"--collector", col.XSub, "--service", "rotated", "--file", filepath.Join(logs, "*.log"),
		"--spool", filepath.Join(work, "spool"), "--from-beginning", "--close-timeout", "60s"}
	startAgent := func(name string) *harness.Proc {
		p := harness.Start(t, work, name, filepath.Join(binDir, "zlog-agent"), args...)
		p.WaitLine(t, agentReady, 15*time.Second)
		return p
	}
	agent := startAgent("agent-1")

	const n = 100000
	rotations := map[int]string{} // at line i: how
	for k, at := range []int{8000, 17000, 28000, 36000, 45000, 54000, 62000, 71000, 82000, 91000} {
		rotations[at] = []string{"rename", "copytruncate"}[k%2]
	}
	kills := map[int]bool{24000: true, 58000: true}    // SIGKILL the agent here...
	restarts := map[int]bool{31000: true, 66000: true} // ...and start it again here
	done := map[string]int{}
	for i := 0; i < n; {
		switch {
		case kills[i]:
			agent.Signal(t, syscall.SIGKILL, 10*time.Second)
			delete(kills, i)
		case restarts[i]:
			agent = startAgent(fmt.Sprintf("agent-%d", len(done)+2))
			done["restart"]++
			delete(restarts, i)
		case rotations[i] != "":
			how := rotations[i]
			delete(rotations, i)
			to := fmt.Sprintf("%s.%d", path, i) // not matched by *.log
			if how == "rename" {
				app.renameRotate(to, &i)
			} else {
				app.copyTruncate(to)
			}
			done[how]++
		default:
			app.line(i)
			i++
			if i%500 == 0 {
				time.Sleep(20 * time.Millisecond) // a steady writer: ~25k lines/s
			}
		}
	}
	if done["rename"] != 5 || done["copytruncate"] != 5 || done["restart"] != 2 {
		t.Fatalf("ran %v, want 5 renames, 5 copytruncates, 2 restarts", done)
	}
	harness.Eventually(t, 2*time.Minute, "every line indexed", func() (bool, string) {
		res := harness.Logq(t, binDir, "search", "--data", data, "--service", "rotated", "--since", "1h", "--count")
		return strings.TrimSpace(res.Stdout) == fmt.Sprint(n), res.Stdout + res.Stderr
	})
	if code := agent.Signal(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
	out := agent.Output()
	for _, want := range []*regexp.Regexp{regexp.MustCompile(`rotations=[1-9]`), regexp.MustCompile(`file_lost_bytes=0($|\s)`)} {
		if !want.MatchString(out) {
			t.Errorf("agent's final tally lacks %s:\n%s", want, out)
		}
	}
	checkExactlyOnce(t, data, "rotated", n)
}

// Files through a YAML config with two sources: JSON and logfmt lines keep
// their fields and levels, a Java stack trace arrives as one event, binary
// garbage is repaired and counted, a 10 MB line is cut and marked, and a
// file that cannot be opened is counted and skipped while the rest goes on.
func TestAgentFilesFromConfig(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	logs := filepath.Join(work, "logs")
	os.MkdirAll(logs, 0o755)
	col := harness.StartCollector(t, binDir, work, data)
	if os.Geteuid() == 0 { // root opens anything; a symlink loop it cannot
		os.Symlink("api-broken.log", filepath.Join(logs, "api-broken.log"))
	} else {
		os.WriteFile(filepath.Join(logs, "api-secret.log"), []byte("secret\n"), 0o000)
	}
	config := filepath.Join(work, "agent.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`collector: %s
spool: %s
sources:
  - service: api
    paths: [%s/api*.log]
  - service: worker
    paths: [%s/worker.log]
    multiline: java
`, col.XSub, filepath.Join(work, "spool"), logs, logs)), 0o644)
	check := harness.Run(t, 10*time.Second, filepath.Join(binDir, "zlog-agent"), "--config", config, "--check-config")
	if check.Code != 0 || !strings.Contains(check.Stdout, "source service=worker files="+logs+"/worker.log format=auto multiline=true") {
		t.Fatalf("--check-config: exit %d\n%s%s", check.Code, check.Stdout, check.Stderr)
	}
	agent := harness.Start(t, work, "agent", filepath.Join(binDir, "zlog-agent"), "--config", config, "--http", "127.0.0.1:0")
	agent.WaitLine(t, agentReady, 15*time.Second)
	metrics := "http://" + agent.WaitLine(t, regexp.MustCompile(`msg=metrics http=(\S+)`), 5*time.Second)[1] + "/metrics"

	// Files created after the agent started are read from their start.
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	os.WriteFile(filepath.Join(logs, "api.log"), []byte(
		`{"ts":"`+ts+`","level":"error","msg":"payment failed","order":"o-17"}`+"\n"+
			`level=warn msg="disk almost full" mount=/var`+"\n"+
			"garbage \xff\xfe\x00 bytes\n"+
			"huge "+strings.Repeat("x", 10<<20)+"\n"+
			"INFO after the huge line\n"), 0o644)
	trace := "ERROR job failed\n" +
		"java.lang.IllegalStateException: boom\n" +
		"\tat com.example.Job.run(Job.java:10)\n" +
		"Caused by: java.io.IOException: disk full\n" +
		"\t... 2 more"
	os.WriteFile(filepath.Join(logs, "worker.log"), []byte("INFO job started\n"+trace+"\nINFO next job\n"), 0o644)

	harness.Eventually(t, 15*time.Second, "file events indexed", func() (bool, string) {
		a, _ := logqJSON(t, data, "--service", "api", "--since", "5m", "--limit", "0")
		w, _ := logqJSON(t, data, "--service", "worker", "--since", "5m", "--limit", "0")
		return len(a) == 5 && len(w) == 3, fmt.Sprintf("api %d/5, worker %d/3", len(a), len(w))
	})
	api, _ := logqJSON(t, data, "--service", "api", "--since", "5m", "--limit", "0", "--order", "oldest")
	if e := api[0]; e.Level.String() != "error" || e.Fields["order"] != "o-17" || e.Message != "payment failed" {
		t.Errorf("JSON line: %+v", e)
	}
	if e := api[1]; e.Level.String() != "warn" || e.Fields["mount"] != "/var" {
		t.Errorf("logfmt line: %+v", e)
	}
	if e := api[2]; !strings.Contains(e.Message, "\uFFFD") {
		t.Errorf("garbage line not repaired: %+v", e)
	}
	if e := api[3]; e.Fields["truncated"] != int64(len("huge ")+10<<20) || len(e.Message) > 70<<10 {
		t.Errorf("huge line: truncated=%v, %d bytes kept", e.Fields["truncated"], len(e.Message))
	}
	worker, _ := logqJSON(t, data, "--service", "worker", "--since", "5m", "--limit", "0", "--order", "oldest")
	if worker[1].Message != trace || worker[1].Level.String() != "error" {
		t.Errorf("stack trace event:\n got %q (%s)\nwant %q", worker[1].Message, worker[1].Level, trace)
	}
	for name, min := range map[string]float64{"zlog_agent_file_open_errors_total": 1, "zlog_agent_invalid_utf8_total": 1, "zlog_agent_truncated_total": 1} {
		if v := harness.ScrapeMetric(t, metrics, name); v < min {
			t.Errorf("%s = %v, want >= %v", name, v, min)
		}
	}
	if !strings.Contains(agent.Output(), "cannot open file; skipping it until it can be opened") {
		t.Errorf("no clear message about the unreadable file:\n%s", agent.Output())
	}
	if code := agent.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
	positions, err := os.ReadFile(filepath.Join(work, "spool", "positions.json"))
	if err != nil || !strings.Contains(string(positions), "worker.log") {
		t.Errorf("positions.json after a clean stop: %v\n%s", err, positions)
	}
}
