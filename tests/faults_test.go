package tests

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/tests/harness"
)

// checkExactlyOnce asserts the index holds "event 0" … "event n-1" of
// service exactly once each, by count and by a checksum of the sorted messages.
func checkExactlyOnce(t *testing.T, data, service string, n int) {
	t.Helper()
	evs, _ := logqJSON(t, data, "--service", service, "--since", "1h", "--limit", "0")
	got := make([]string, 0, len(evs))
	seen := make(map[string]bool, len(evs))
	for _, ev := range evs {
		if seen[ev.Message] {
			t.Fatalf("%q stored twice", ev.Message)
		}
		seen[ev.Message] = true
		got = append(got, ev.Message)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = "event " + strconv.Itoa(i)
	}
	sum := func(msgs []string) string {
		sort.Strings(msgs)
		h := sha256.New()
		for _, m := range msgs {
			fmt.Fprintln(h, m)
		}
		return fmt.Sprintf("%x", h.Sum(nil))
	}
	if len(got) != n || sum(got) != sum(want) {
		t.Fatalf("index holds %d events (checksum %s), want %d (checksum %s)", len(got), sum(got)[:12], n, sum(want)[:12])
	}
}

// startLoad publishes n numbered events of service at rate/s from one publisher.
func startLoad(t *testing.T, work, xsub, service string, n, rate int) *harness.Proc {
	return harness.Start(t, work, "loadgen", filepath.Join(binDir, "zlog-loadgen"), "--collector", xsub,
		"--count", strconv.Itoa(n), "--rate", strconv.Itoa(rate), "--service", service, "--now", "--close-timeout", "120s")
}

// waitLoadgenOK waits for a clean exit and returns how many events the
// publisher had to resend.
func waitLoadgenOK(t *testing.T, gen *harness.Proc) int {
	t.Helper()
	m := gen.WaitLine(t, regexp.MustCompile(`^\{.*"resent":(\d+)`), 2*time.Minute)
	harness.Eventually(t, 30*time.Second, "loadgen exits 0", func() (bool, string) {
		return !gen.Running() && gen.Cmd.ProcessState.ExitCode() == 0, gen.Output()
	})
	t.Logf("publisher: %s", m[0])
	resent, _ := strconv.Atoi(m[1])
	return resent
}

// (a) The collector is SIGKILLed three times while 200k events stream; the
// publisher resends what was not acknowledged and the index ends up with
// every event exactly once.
func TestCollectorKilledThreeTimes(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	xsub := col.XSub
	const n = 200000
	gen := startLoad(t, work, xsub, "crash", n, 40000)
	for kill := 1; kill <= 3; kill++ {
		// Kill once this incarnation has taken in a good share of events.
		harness.Eventually(t, time.Minute, "collector receiving", func() (bool, string) {
			got := col.Metric(t, "zlog_collector_received_total")
			return got >= 20000, fmt.Sprint(got)
		})
		col.Signal(t, syscall.SIGKILL, 10*time.Second)
		col = harness.StartCollector(t, binDir, work, data, "--xsub", xsub)
	}
	if resent := waitLoadgenOK(t, gen); resent == 0 {
		t.Fatal("three collector crashes and nothing was resent: the test did not exercise recovery")
	}
	checkExactlyOnce(t, data, "crash", n)
	if got := col.Metric(t, "zlog_collector_malformed_total{reason=\"envelope\"}"); got != 0 {
		t.Fatalf("malformed after restarts: %v", got)
	}
}

// (b) The collector is stopped (SIGSTOP) for 10 s mid-stream: publishers are
// pushed back, nothing is lost or doubled once it continues.
func TestCollectorStoppedTenSeconds(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	const n = 100000
	gen := startLoad(t, work, col.XSub, "paused", n, 20000)
	harness.Eventually(t, time.Minute, "collector receiving", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_received_total")
		return got >= 10000, fmt.Sprint(got)
	})
	col.Cmd.Process.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	time.Sleep(10 * time.Second) // the fault itself: a 10 s stall
	col.Cmd.Process.Signal(syscall.SIGCONT)
	t.Logf("collector stopped for %v", time.Since(stopped))
	waitLoadgenOK(t, gen)
	checkExactlyOnce(t, data, "paused", n)
}

// (f) A subscriber that subscribes to everything and never reads must not
// stop ingestion or grow the collector's memory without bound.
func TestStuckSubscriber(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	stuck, err := zmq.NewSocket(zmq.SUB)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	stuck.SetLinger(0)
	stuck.SetRcvhwm(100)
	stuck.Connect(col.XPub)
	stuck.SetSubscribe("")
	harness.Eventually(t, 10*time.Second, "subscriber registered", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_subscriptions_total")
		return got >= 1, fmt.Sprint(got)
	})
	const n = 200000
	gen := startLoad(t, work, col.XSub, "stuck", n, 0)
	waitLoadgenOK(t, gen)
	checkExactlyOnce(t, data, "stuck", n)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", col.Cmd.Process.Pid))
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if kb, _ := strconv.Atoi(string(m[1])); kb > 200*1024 {
		t.Fatalf("collector peak RSS %d MiB with a stuck subscriber, bound is 200 MiB", kb/1024)
	}
}
