package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	resent, _ := waitLoadgenStats(t, gen)
	return resent
}

// waitLoadgenStats waits for a clean exit and returns how many events the
// publisher resent and how many it published in this run.
func waitLoadgenStats(t *testing.T, gen *harness.Proc) (resent, published int) {
	t.Helper()
	m := gen.WaitLine(t, regexp.MustCompile(`^\{.*\}$`), 2*time.Minute)
	harness.Eventually(t, 30*time.Second, "loadgen exits 0", func() (bool, string) {
		return !gen.Running() && gen.Cmd.ProcessState.ExitCode() == 0, gen.Output()
	})
	t.Logf("publisher: %s", m[0])
	var st struct{ Resent, Published int }
	if err := json.Unmarshal([]byte(m[0]), &st); err != nil {
		t.Fatalf("loadgen stats %q: %v", m[0], err)
	}
	return st.Resent, st.Published
}

// settledMetric waits until a collector metric stops moving (unchanged
// over half a second) and returns it.
func settledMetric(t *testing.T, col *harness.Collector, name string) float64 {
	t.Helper()
	last := -1.0
	harness.Eventually(t, 30*time.Second, name+" settled", func() (bool, string) {
		v := col.Metric(t, name)
		settled := v == last
		last = v
		if !settled {
			time.Sleep(500 * time.Millisecond)
		}
		return settled, fmt.Sprint(v)
	})
	return last
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

// cutProxy forwards TCP between publishers and the collector until cut.
type cutProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	tap    *bytes.Buffer // when set, every byte in either direction
}

// newTapProxy is a cutProxy that also records all traffic, as a capture of
// the wire would.
func newTapProxy(t *testing.T, target string) *cutProxy {
	p := &cutProxy{t: t, target: target, tap: &bytes.Buffer{}}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

// captured returns a copy of the traffic recorded so far.
func (p *cutProxy) captured() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.tap.Bytes())
}

// pipe copies src to dst, recording into the tap.
func (p *cutProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	if p.tap == nil {
		io.Copy(dst, src)
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			p.tap.Write(buf[:n])
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	p := &cutProxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) listen(addr string) {
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ { // the port was ours a moment ago
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}()
}

// cut closes the listener and every connection: the network is gone.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// (d) The network between publisher and collector is cut for 10 s.
func TestNetworkCutTenSeconds(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	proxy := newCutProxy(t, strings.TrimPrefix(col.XSub, "tcp://"))
	const n = 100000
	gen := startLoad(t, work, "tcp://"+proxy.addr, "netcut", n, 20000)
	harness.Eventually(t, time.Minute, "collector receiving", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_received_total")
		return got >= 10000, fmt.Sprint(got)
	})
	addr := proxy.addr
	proxy.cut()
	time.Sleep(10 * time.Second) // the fault itself: 10 s without a network
	proxy.listen(addr)
	if resent := waitLoadgenOK(t, gen); resent == 0 {
		t.Fatal("the cut connection lost nothing in flight: the test did not exercise recovery")
	}
	checkExactlyOnce(t, data, "netcut", n)
}

// (e) The collector's data directory runs out of space: it reports the
// error, stops taking in (publishers keep their events), and stores
// everything exactly once when space returns.
func TestDiskFull(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	os.MkdirAll(data, 0o750)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", data).CombinedOutput(); err != nil {
		t.Skipf("needs root to mount a small tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })
	col := harness.StartCollector(t, binDir, work, data)
	// 60,000 lines take about 3.6 MB in the log files alone (the index
	// takes a third of that): well over the 2 MB there is.
	const n = 60000
	gen := startLoad(t, work, col.XSub, "diskfull", n, 0)
	// SQLite says "database or disk is full", the log files "no space left on device".
	col.WaitLine(t, regexp.MustCompile(`sink write failed.*(no space left on device|disk is full)`), time.Minute)
	retries := col.Metric(t, `zlog_collector_sink_retries_total{sink="files"}`) + col.Metric(t, `zlog_collector_sink_retries_total{sink="index"}`)
	if retries == 0 {
		t.Fatal("disk full but no sink retries counted")
	}
	t.Logf("sink retries while full: files %v, index %v", col.Metric(t, `zlog_collector_sink_retries_total{sink="files"}`), col.Metric(t, `zlog_collector_sink_retries_total{sink="index"}`))
	if !gen.Running() {
		t.Fatalf("publisher finished although the disk is full: %s", gen.Output())
	}
	// Fault 15: /healthz said ok while the disk was full. It names the
	// failing sink now.
	resp, err := http.Get("http://" + col.HTTP + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !regexp.MustCompile(`"failing":\{"(files|index)"`).Match(body) {
		t.Fatalf("/healthz while the disk is full: %d %s", resp.StatusCode, body)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=256m", data).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v %s", err, out)
	}
	waitLoadgenOK(t, gen)
	checkExactlyOnce(t, data, "diskfull", n)
	if resp, err := http.Get("http://" + col.HTTP + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz after the disk recovered: %v %v", resp, err)
	}
	// Files are at least once, but never hold a torn line.
	re := regexp.MustCompile(`^\S+Z \S+\s+diskfull \S+: event \d+$`)
	lines := readLogLines(t, filepath.Join(data, "logs"), "diskfull")
	for _, l := range lines {
		if !re.MatchString(l) {
			t.Fatalf("torn line in the log file: %q", l)
		}
	}
	if len(lines) < n {
		t.Fatalf("log files hold %d lines, want at least %d", len(lines), n)
	}
	if !col.Running() {
		t.Fatal("collector exited")
	}
}

// (c) The publisher is SIGKILLed mid-stream and started again with its
// spool: it resends what was not acknowledged, carries on after the last
// event it had taken, and the index holds every event once.
func TestPublisherKilledRestartsFromSpool(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	spoolDir := filepath.Join(work, "spool")
	col := harness.StartCollector(t, binDir, work, data)
	const n = 100000
	args := []string{"--collector", col.XSub, "--count", strconv.Itoa(n), "--rate", "20000", "--service", "spooled",
		"--now", "--spool", spoolDir, "--close-timeout", "120s"}
	first := harness.Start(t, work, "loadgen-1", filepath.Join(binDir, "zlog-loadgen"), args...)
	harness.Eventually(t, time.Minute, "collector receiving", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_received_total")
		return got >= 30000, fmt.Sprint(got)
	})
	// Stop the collector so that the publisher certainly holds events it
	// sent and spooled but never had acknowledged when it dies: killed
	// right after an acknowledgement it might hold none.
	col.Cmd.Process.Signal(syscall.SIGSTOP)
	size0 := dirSize(spoolDir)
	// Past what the kernel's socket buffers can take in, most of what is
	// spooled never left the publisher.
	harness.Eventually(t, 30*time.Second, "publisher spooling while the collector is stopped", func() (bool, string) {
		size := dirSize(spoolDir)
		return size > size0+4<<20, fmt.Sprint(size0, size)
	})
	first.Signal(t, syscall.SIGKILL, 10*time.Second)
	col.Cmd.Process.Signal(syscall.SIGCONT)
	// What was in the sockets reaches the collector; once it has settled,
	// the rest of what the first run took exists only in its spool.
	stored := settledMetric(t, col, "zlog_collector_indexed_total")
	if stored >= n {
		t.Fatalf("publisher finished before it was killed (%v stored)", stored)
	}
	second := harness.Start(t, work, "loadgen-2", filepath.Join(binDir, "zlog-loadgen"), args...)
	resent, published := waitLoadgenStats(t, second)
	if !strings.Contains(second.Output(), "resending unacknowledged events from the last run") {
		t.Fatalf("no spool recovery logged:\n%s", second.Output())
	}
	// The first run took n - published events; the collector had stored
	// some; the others can only have come from the spool.
	if needed := n - published - int(stored); needed > 0 && resent < needed {
		t.Fatalf("%d events of the first run were only in its spool, but the restarted publisher resent %d", needed, resent)
	} else {
		t.Logf("%d events of the first run were only in its spool; %d resent", needed, resent)
	}
	checkExactlyOnce(t, data, "spooled", n)
}

// dirSize is the total size of the files under dir.
func dirSize(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}
