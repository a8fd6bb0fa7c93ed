package tests

import (
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

	"github.com/zlog/zlog/tests/harness"
)

// numberedLines is "event 0\n" … "event n-1\n".
func numberedLines(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "event %d\n", i)
	}
	return b.String()
}

// Fault 5: four bytes of garbage in the middle of a spool segment used to end
// the segment there: 485 events dropped, counted as "1 record", and the
// agent exited 0. Reading must resume after the damage, count the events
// lost, keep a copy of the damaged segment, and not exit 0.
func TestFaultCorruptSpoolRecord(t *testing.T) {
	work := harness.WorkDir(t)
	spool := filepath.Join(work, "spool")
	const n = 1000
	// No collector: every line stays in the spool.
	first := exec.Command(filepath.Join(binDir, "zlog-agent"), "--service", "damaged", "--collector", "tcp://127.0.0.1:1",
		"--spool", spool, "--close-timeout", "1s")
	first.Stdin = strings.NewReader(numberedLines(n))
	if out, err := first.CombinedOutput(); !strings.Contains(string(out), "kept in the spool") {
		t.Fatalf("first run (%v) did not keep its events in the spool:\n%s", err, out)
	}
	segs, _ := filepath.Glob(filepath.Join(spool, "seg-*.log"))
	if len(segs) != 1 {
		t.Fatalf("want one spool segment, got %v", segs)
	}
	data, _ := os.ReadFile(segs[0])
	mid := len(data) / 2
	damaged := append(append(append([]byte(nil), data[:mid]...), 0xde, 0xad, 0xbe, 0xef), data[mid:]...)
	if err := os.WriteFile(segs[0], damaged, 0o640); err != nil {
		t.Fatal(err)
	}

	data2 := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data2)
	second := exec.Command(filepath.Join(binDir, "zlog-agent"), "--service", "damaged", "--collector", col.XSub,
		"--spool", spool, "--close-timeout", "20s")
	second.Stdin = strings.NewReader("")
	out, _ := second.CombinedOutput()
	if code := second.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("agent that lost spooled events exited %d, want 1:\n%s", code, out)
	}
	m := regexp.MustCompile(`damaged records skipped.* events=(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("agent did not report the events lost:\n%s", out)
	}
	lost, _ := strconv.Atoi(string(m[1]))
	evs, _ := logqJSON(t, data2, "--service", "damaged", "--since", "1h", "--limit", "0")
	seen := map[string]bool{}
	for _, ev := range evs {
		if seen[ev.Message] {
			t.Fatalf("%q stored twice", ev.Message)
		}
		seen[ev.Message] = true
	}
	if len(evs) < n-1 || len(evs)+lost != n {
		t.Fatalf("stored %d and reported %d lost, of %d: four bytes of garbage should cost at most one event", len(evs), lost, n)
	}
	copies, _ := filepath.Glob(filepath.Join(spool, "damaged", "seg-*"))
	if len(copies) != 1 {
		t.Fatalf("no copy of the damaged segment kept: %v", copies)
	}
	if kept, _ := os.ReadFile(copies[0]); string(kept) != string(damaged) {
		t.Fatal("the kept copy is not the damaged segment as found")
	}
}

// mountTmpfs mounts a small tmpfs at dir, or skips the test without root.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	os.MkdirAll(dir, 0o750)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("needs root to mount a small tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// Fault 6: with the collector down and the spool's disk full, stdin dropped
// 19,889 of 30,000 lines and exited 0; a file source dropped lines, then
// exited on "save positions: no space left on device" and could not start
// again. A full spool disk must make the source wait, never drop; when the
// collector returns and acknowledges, space returns and everything drains.
func TestFaultSpoolDiskFull(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	const n = 30000
	t.Run("stdin", func(t *testing.T) {
		spool := filepath.Join(work, "spool-stdin")
		mountTmpfs(t, spool, "2m")
		agent := harness.StartIn(t, work, "agent-stdin", strings.NewReader(numberedLines(n)), filepath.Join(binDir, "zlog-agent"),
			"--service", "fullstdin", "--collector", "tcp://127.0.0.1:"+harness.FreePort(t), "--spool", spool, "--close-timeout", "60s")
		agent.WaitLine(t, regexp.MustCompile(`spool has no room`), 30*time.Second)
		time.Sleep(time.Second) // the fault itself: the disk stays full a while
		if !agent.Running() {
			t.Fatalf("agent stopped while its spool disk was full:\n%s", agent.Output())
		}
		col := harness.StartCollector(t, binDir, work, data, "--xsub", agentCollector(agent))
		if code := agent.Wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("agent exited %d:\n%s", code, agent.Output())
		}
		checkExactlyOnce(t, data, "fullstdin", n)
		col.Signal(t, syscall.SIGTERM, 30*time.Second)
	})
	t.Run("file", func(t *testing.T) {
		spool := filepath.Join(work, "spool-file")
		mountTmpfs(t, spool, "2m")
		logPath := filepath.Join(work, "app.log")
		if err := os.WriteFile(logPath, []byte(numberedLines(n)), 0o644); err != nil {
			t.Fatal(err)
		}
		port := harness.FreePort(t)
		args := []string{"--service", "fullfile", "--file", logPath, "--from-beginning", "--collector", "tcp://127.0.0.1:" + port,
			"--spool", spool}
		agent := harness.Start(t, work, "agent-file", filepath.Join(binDir, "zlog-agent"), append(args, "--close-timeout", "1s")...)
		agent.WaitLine(t, regexp.MustCompile(`spool has no room`), 30*time.Second)
		// Stopped and started again while the disk is full: it must start.
		agent.Signal(t, syscall.SIGTERM, 30*time.Second)
		agent = harness.Start(t, work, "agent-file-2", filepath.Join(binDir, "zlog-agent"), append(args, "--close-timeout", "60s")...)
		agent.WaitLine(t, regexp.MustCompile(`agent ready`), 30*time.Second)
		col := harness.StartCollector(t, binDir, work, data, "--xsub", "tcp://127.0.0.1:"+port)
		harness.Eventually(t, 2*time.Minute, "every line indexed", func() (bool, string) {
			got := col.Metric(t, "zlog_collector_indexed_total")
			return got >= n, fmt.Sprint(got)
		})
		if code := agent.Signal(t, syscall.SIGTERM, 60*time.Second); code != 0 {
			t.Fatalf("agent exited %d:\n%s", code, agent.Output())
		}
		checkExactlyOnce(t, data, "fullfile", n)
	})
}

// agentCollector is the collector endpoint an agent was started with.
func agentCollector(p *harness.Proc) string {
	args := p.Cmd.Args
	for i, a := range args {
		if a == "--collector" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
