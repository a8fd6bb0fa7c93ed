package tests

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
)

// The query API answers exactly what local mode answers: the same events,
// counts, stats and topics, and the same kind of error for bad input.
func TestQueryAPIMatchesLocal(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	api := "http://" + col.HTTP
	var b strings.Builder
	for i := 0; i < 400; i++ {
		fmt.Fprintf(&b, `{"level":%q,"msg":"request %d %s","user":"u%d"}`+"\n",
			[]string{"info", "warn", "error", "debug"}[i%4], i, []string{"ok", "timeout talking to db", "connection refused by peer", "done"}[i%4], i%7)
	}
	agentPipe(t, col.XSub, "api", b.String())
	agentPipe(t, col.XSub, "web", "ERROR upstream timeout\nINFO served / in 3ms\nWARN slow: 1200ms\n")
	waitStored(t, data, 403)
	// Absolute times, so both sides ask about the same window.
	since := time.Now().Add(-time.Hour).Format(time.RFC3339)
	until := time.Now().Add(time.Minute).Format(time.RFC3339)
	window := []string{"--since", since, "--until", until}
	for _, args := range [][]string{
		{"search"},
		{"search", "timeout", "--service", "api", "-o", "json"},
		{"search", "--level", "error", "--count"},
		{"search", `"connection refused"`, "--order", "oldest", "--limit", "0", "-o", "json"},
		{"search", "--fts", "time* NOT db", "-o", "raw"},
		{"search", "u3", "--topic", "api.w", "--limit", "5"},
		{"search", "nothing-like-this"},
		{"stats", "--by", "service", "-o", "json"},
		{"stats", "--by", "level", "--every", "10m", "-o", "json"},
		{"stats", "--by", "topic", "--chart", "ascii"},
		{"topics", "-o", "json"},
		{"search", "--fts", "AND AND"},
		{"stats", "--by", "colour"},
		{"search", "--service", "Not A Service"},
		{"search", "user:u3 level:>=warn", "-o", "json"},
		{"search", `~"time.*out" -service:web`, "-o", "raw"},
		{"search", "* | stats count() by (service, level) | sort by (service, level)"},
		{"search", "service:api | top 3 by (user)", "-o", "json"},
		{"search", "| stats by (_time:10m) count(), count_uniq(user) users"},
		{"search", "level:loud"},
		{"search", "user:u3 | stats avg("},
	} {
		full := append(append([]string{}, args...), window...)
		local := harness.Logq(t, binDir, append(full, "--data", data, "--direct")...)
		remote := harness.Logq(t, binDir, append(full, "--collector", api)...)
		if local.Code != remote.Code || local.Stdout != remote.Stdout {
			t.Errorf("logq %q: local exit %d, API exit %d\nlocal:\n%s%s\nAPI:\n%s%s", args, local.Code, remote.Code,
				local.Stdout, local.Stderr, remote.Stdout, remote.Stderr)
		}
		// Without --direct, logq asks the collector through its socket.
		if socket := harness.Logq(t, binDir, append(full, "--data", data)...); socket.Code != local.Code || socket.Stdout != local.Stdout {
			t.Errorf("logq %q: local exit %d, through the socket %d\nlocal:\n%s%s\nsocket:\n%s%s", args, local.Code, socket.Code,
				local.Stdout, local.Stderr, socket.Stdout, socket.Stderr)
		}
		if local.Code == 2 && (!strings.HasPrefix(remote.Stderr, "logq: ") || !strings.Contains(remote.Stderr, "invalid query")) {
			t.Errorf("logq %q over the API: stderr %q, want the reason", args, remote.Stderr)
		}
		if local.Code == 0 && strings.TrimSpace(local.Stdout) == "" {
			t.Errorf("logq %q printed nothing; the comparison proves nothing", args)
		}
	}
	// Raw HTTP clients get a clear 400 for an unknown parameter or a bad time.
	for _, q := range []string{"search?colour=red", "search?since=yesterday-ish", "count?fts=AND%20AND", "stats?by=colour"} {
		out, err := exec.Command("curl", "-s", "-w", "\n%{http_code}", api+"/api/v1/"+q).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		text := strings.TrimSpace(string(out))
		body, code := text[:strings.LastIndex(text, "\n")+1], text[strings.LastIndex(text, "\n")+1:]
		if code != "400" || !strings.Contains(body, `"error":"invalid query: `) {
			t.Errorf("GET %s: %s %s; want 400 and the reason", q, code, body)
		}
	}
	// Tail over the API: topic filtering at the source, as with --xpub.
	tail := harness.Start(t, work, "api-tail", filepath.Join(binDir, "logq"), "tail", "--collector", api,
		"--service", "web", "--level", "warn", "--limit", "10", "-o", "json")
	tailed := publishUntilExit(t, tail, func(int) {
		agentPipe(t, col.XSub, "web", "INFO quiet\nWARN loud\n")
		agentPipe(t, col.XSub, "api", "ERROR other service\n")
	})
	for _, ev := range tailed {
		if ev.Service != "web" || ev.Level != schema.LevelWarn {
			t.Errorf("tail over the API printed %s %q", ev.Topic(), ev.Message)
		}
	}
	if len(tailed) != 10 {
		t.Errorf("tail over the API printed %d events, want 10", len(tailed))
	}
}

// search --follow prints what the index holds and then live events, while
// two publishers keep sending through the switch: every event exactly once,
// locally and over the API.
func TestSearchFollowSeam(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	followSeam(t, work, col, []string{"--data", data})
}

// The same on a collector storing into VictoriaLogs: the seam joins live
// events to what VictoriaLogs holds by its stream marks. While events wait
// for the cluster's confirmation the heartbeat counts them as the
// collector's backlog, so publishers wait instead of resending them
// (before, a 20,000-event load was resent whole).
func TestSearchFollowSeamOnVictoriaLogs(t *testing.T) {
	work := harness.WorkDir(t)
	_, vl := startVictoriaLogs(t, work)
	col := harness.StartCollector(t, binDir, work, filepath.Join(work, "data"),
		"--store", "victorialogs", "--vl-insert", vl, "--vl-select", vl, "--vl-flush-interval", "1s")
	if resent := followSeam(t, work, col, []string{"--store", "victorialogs", "--vl-select", vl}); resent != 0 {
		t.Errorf("publishers resent %d events to a healthy collector", resent)
	}
}

// followSeam follows two publishers' streams through the switch, with
// logq reading the store that store names and over col's API, and returns
// how many events the publishers resent.
func followSeam(t *testing.T, work string, col *harness.Collector, store []string) (resent int) {
	const perStream = 20000
	loadA := startLoad(t, work, col.XSub, "seam-a", perStream, 4000)
	loadB := startLoad(t, work, col.XSub, "seam-b", perStream, 4000)
	// Start following while both streams are mid-flight.
	harness.Eventually(t, 30*time.Second, "some events indexed", func() (bool, string) {
		res := harness.Logq(t, binDir, append([]string{"search", "--count", "--service", "seam-a"}, store...)...)
		var n int
		fmt.Sscan(res.Stdout, &n)
		return n >= 3000, res.Stdout
	})
	followArgs := []string{"search", "--follow", "--service", "seam-a", "--service", "seam-b", "--since", "1h", "--limit", "0", "-o", "json"}
	local := harness.Start(t, work, "follow-local", filepath.Join(binDir, "logq"), append(append(followArgs, store...), "--xpub", col.XPub)...)
	remote := harness.Start(t, work, "follow-api", filepath.Join(binDir, "logq"), append(followArgs, "--collector", "http://"+col.HTTP)...)
	resent = waitLoadgenOK(t, loadA) + waitLoadgenOK(t, loadB)
	// A last event after both loads: once a follower prints it, it has
	// printed everything before it that it ever will from the seam.
	agentPipe(t, col.XSub, "seam-a", "marker after the load\n")
	for _, f := range []*harness.Proc{local, remote} {
		f.WaitLine(t, regexp.MustCompile(`marker after the load`), 30*time.Second)
		seen := map[string]bool{}
		counts := map[string]int{}
		for _, line := range strings.Split(f.Output(), "\n") {
			if !strings.HasPrefix(line, "{") {
				if strings.TrimSpace(line) != "" {
					t.Errorf("%s printed %q", f.Name, line)
				}
				continue
			}
			var ev schema.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%s: %q: %v", f.Name, line, err)
			}
			key := ev.Service + "/" + ev.Message
			if seen[key] {
				t.Errorf("%s printed %s twice", f.Name, key)
			}
			seen[key] = true
			counts[ev.Service]++
		}
		if counts["seam-a"] != perStream+1 || counts["seam-b"] != perStream {
			t.Errorf("%s printed seam-a %d, seam-b %d; want %d and %d", f.Name, counts["seam-a"], counts["seam-b"], perStream+1, perStream)
		}
		for i := 0; i < perStream; i++ {
			for _, svc := range []string{"seam-a", "seam-b"} {
				if !seen[fmt.Sprintf("%s/event %d", svc, i)] {
					t.Fatalf("%s never printed %s event %d", f.Name, svc, i)
				}
			}
		}
	}
	return resent
}

// A local search --follow survives a collector crash: its subscription
// reconnects, and the events it missed meanwhile are filled from the index
// by their sequence numbers. Exactly once, still.
func TestSearchFollowAcrossCollectorRestart(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	xsub, xpub := col.XSub, col.XPub
	const n = 30000
	load := startLoad(t, work, xsub, "phoenix", n, 5000)
	harness.Eventually(t, 30*time.Second, "some events indexed", func() (bool, string) {
		res := harness.Logq(t, binDir, "search", "--data", data, "--count", "--service", "phoenix")
		var got int
		fmt.Sscan(res.Stdout, &got)
		return got >= 2000, res.Stdout
	})
	follow := harness.Start(t, work, "follow", filepath.Join(binDir, "logq"), "search", "--follow", "--service", "phoenix",
		"--since", "1h", "--limit", "0", "-o", "raw", "--data", data, "--xpub", xpub)
	harness.Eventually(t, 30*time.Second, "follower printing live events", func() (bool, string) {
		return strings.Count(follow.Output(), "\n") > 12000, ""
	})
	col.Signal(t, syscall.SIGKILL, 10*time.Second)
	harness.StartCollector(t, binDir, work, data, "--xsub", xsub, "--xpub", xpub)
	if resent := waitLoadgenOK(t, load); resent == 0 {
		t.Fatal("nothing was resent: the crash did not hit the stream")
	}
	agentPipe(t, xsub, "phoenix", "marker after the crash\n")
	follow.WaitLine(t, regexp.MustCompile(`^marker after the crash$`), 30*time.Second)
	seen := map[string]int{}
	for _, line := range strings.Split(follow.Output(), "\n") {
		if strings.HasPrefix(line, "event ") {
			seen[line]++
		}
	}
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf("event %d", i)]; c != 1 {
			t.Fatalf("event %d printed %d times (%d distinct of %d)", i, c, len(seen), n)
		}
	}
}
