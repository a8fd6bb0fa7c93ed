package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// checkStreamSeqs asserts the index holds seq 1..n of service's one stream,
// each exactly once.
func checkStreamSeqs(t *testing.T, data, service string, n int) {
	t.Helper()
	evs, _ := logqJSON(t, data, "--service", service, "--since", "1h", "--limit", "0")
	seen := make(map[uint64]int, len(evs))
	for _, ev := range evs {
		seen[ev.Seq]++
	}
	var missing, twice []uint64
	for s := uint64(1); s <= uint64(n); s++ {
		switch seen[s] {
		case 0:
			missing = append(missing, s)
		case 1:
		default:
			twice = append(twice, s)
		}
	}
	if len(evs) != n || len(missing) > 0 || len(twice) > 0 {
		t.Fatalf("%s: %d events stored, want %d; missing seqs %s; stored twice %s", service, len(evs), n, seqRanges(missing), seqRanges(twice))
	}
}

// seqRanges prints 1,2,3,7 as "1..3 7".
func seqRanges(s []uint64) string {
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(s[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d..%d", s[i], s[j]))
		}
		i = j + 1
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// curlRequests makes n keep-alive requests of /downcase/?param=req<i> with
// one curl process, as a client would.
func curlRequests(t *testing.T, work, url string, n int) *harness.Proc {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "url = \"%s/downcase/?param=req%d\"\noutput = \"/dev/null\"\n", url, i)
	}
	cfg := filepath.Join(work, "curl.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("needs curl (make deps installs it)")
	}
	return harness.Start(t, work, "curl", curl, "-sS", "--fail", "-K", cfg)
}

// Fault 1: a stream the collector had never committed was accepted from
// whatever seq came first after a restart, so what the killed collector had
// forwarded but not committed was skipped for good (seq 1..405 of both
// streams missing, while the publisher had every event acknowledged). A
// stream's start must be known: the publisher says which events it still
// holds, and the collector accepts a new stream only from there.
func TestFaultCollectorKilledBeforeFirstCommit(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data, "--commit-interval", "10s")
	xsub := col.XSub
	dc, url := harness.StartDowncase(t, binDir, work, xsub, "--spool", filepath.Join(work, "spool"))
	const n = 6000
	curl := curlRequests(t, work, url, n)
	harness.Eventually(t, 30*time.Second, "collector receiving", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_received_total")
		return got >= 500, fmt.Sprint(got)
	})
	if got := col.Metric(t, "zlog_collector_indexed_total"); got != 0 {
		t.Fatalf("%v events committed before the kill; the fault needs none", got)
	}
	col.Signal(t, syscall.SIGKILL, 10*time.Second)
	col = harness.StartCollector(t, binDir, work, data, "--commit-interval", "10s", "--xsub", xsub)
	if code := curl.Wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("curl exited %d: %s", code, curl.Output())
	}
	harness.Eventually(t, time.Minute, "publisher has every event acknowledged", func() (bool, string) {
		got := harness.ScrapeMetric(t, url+"/metrics", "zlog_publisher_acked_total")
		return got >= 2*n, fmt.Sprint(got)
	})
	if code := dc.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("downcase exited %d (not everything acknowledged):\n%s", code, dc.Output())
	}
	checkStreamSeqs(t, data, "downcase", n)
	checkStreamSeqs(t, data, "downcase-access", n)
}

// Fault 9: an event the collector refuses (over its --max-event-bytes) was
// resent every 3 s for ever, kept in the spool across restarts, and blocked
// its stream: 1 of 51 lines stored, the agent exited 1 with no reason. The
// collector must acknowledge it as rejected, with the reason, so the stream
// moves on; both sides count it.
func TestFaultRejectedEventDoesNotBlockItsStream(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data, "--max-event-bytes", "2000")
	spool := filepath.Join(work, "spool")
	var in strings.Builder
	in.WriteString("big " + strings.Repeat("x", 3000) + "\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&in, "event %d\n", i)
	}
	agent := exec.Command(filepath.Join(binDir, "zlog-agent"), "--service", "rejects", "--collector", col.XSub,
		"--spool", spool, "--close-timeout", "20s")
	agent.Stdin = strings.NewReader(in.String())
	out, err := agent.CombinedOutput()
	if code := agent.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("agent exited %d (%v), want 1: it dropped an event\n%s", code, err, out)
	}
	if !strings.Contains(string(out), "rejected by the collector") || !strings.Contains(string(out), "too large") {
		t.Fatalf("agent log does not give the collector's reason:\n%s", out)
	}
	checkExactlyOnce(t, data, "rejects", 50)
	if got := col.Metric(t, `zlog_collector_rejected_total{reason="too_large"}`); got != 1 {
		t.Errorf("collector rejected_total = %v, want 1", got)
	}
	// Nothing of it stays in the spool: a restart resends nothing.
	again := exec.Command(filepath.Join(binDir, "zlog-agent"), "--service", "rejects", "--collector", col.XSub,
		"--spool", spool, "--close-timeout", "20s")
	again.Stdin = strings.NewReader("")
	if out, err := again.CombinedOutput(); err != nil || strings.Contains(string(out), "resending") {
		t.Fatalf("restart with the same spool: %v\n%s", err, out)
	}
}

// Fault 11: in a stall the agent resent all its unacknowledged events every
// 3 s (2.3M duplicates for 460k events), multiplying the load of a collector
// that was only slow. On a live connection nothing is lost in transit:
// a collector that is stopped, and reports nothing, gets no resends.
func TestFaultNoResendsIntoAStalledCollector(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	const n = 100000
	gen := startLoad(t, work, col.XSub, "stalled", n, 20000)
	harness.Eventually(t, time.Minute, "collector receiving", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_received_total")
		return got >= 10000, fmt.Sprint(got)
	})
	col.Cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(8 * time.Second) // the fault itself: an 8 s stall with the connection up
	col.Cmd.Process.Signal(syscall.SIGCONT)
	if resent := waitLoadgenOK(t, gen); resent != 0 {
		t.Fatalf("the publisher resent %d events into a collector that was only stalled", resent)
	}
	checkExactlyOnce(t, data, "stalled", n)
	if dup := col.Metric(t, `zlog_collector_sequence_total{verdict="duplicate"}`); dup != 0 {
		t.Fatalf("collector saw %v duplicates", dup)
	}
}
