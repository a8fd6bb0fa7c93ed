package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// logrotate runs the real logrotate once, forced, with conf.
func logrotate(t *testing.T, work, conf string) {
	t.Helper()
	bin, err := exec.LookPath("logrotate")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/logrotate"); err != nil {
			t.Skip("needs logrotate (make deps installs it)")
		}
	}
	out, err := exec.Command(bin, "-f", "-s", filepath.Join(work, "logrotate.state"), conf).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate: %v\n%s", err, out)
	}
}

// Fault 7: two rotations while the agent was stopped: the middle generation
// (9,850 lines) was never read and nothing was counted lost. Every
// generation newer than the saved position must be found and read in
// order, by inode or by the fingerprint of its first bytes, under
// logrotate's names (.1, .2, compressed .gz).
func TestFaultTwoRotationsWhileStopped(t *testing.T) {
	for _, mode := range []string{"create", "copytruncate", "create\n    compress"} {
		name := strings.Fields(strings.ReplaceAll(mode, "\n", " "))
		t.Run(strings.Join(name, "+"), func(t *testing.T) { twoRotationsWhileStopped(t, mode) })
	}
}

func twoRotationsWhileStopped(t *testing.T, mode string) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	logs := filepath.Join(work, "logs")
	os.MkdirAll(logs, 0o755)
	col := harness.StartCollector(t, binDir, work, data)
	path := filepath.Join(logs, "app.log")
	conf := filepath.Join(work, "logrotate.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("%s {\n    rotate 5\n    %s\n    missingok\n}\n", path, mode)), 0o644)
	app := openAppLog(t, path)
	args := []string{"--collector", col.XSub, "--service", "gens", "--file", path,
		"--spool", filepath.Join(work, "spool"), "--from-beginning", "--close-timeout", "60s"}
	agent := harness.Start(t, work, "agent-1", filepath.Join(binDir, "zlog-agent"), args...)
	agent.WaitLine(t, agentReady, 15*time.Second)

	const n, gen = 60000, 15000
	i := 0
	write := func(upto int) {
		for ; i < upto; i++ {
			app.line(i)
		}
	}
	write(gen)
	harness.Eventually(t, time.Minute, "first lines indexed", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_indexed_total")
		return got >= gen, fmt.Sprint(got)
	})
	if code := agent.Signal(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
	write(2 * gen) // the first generation's unread end
	logrotate(t, work, conf)
	app.reopen()
	write(3 * gen) // the middle generation, never seen by the agent
	logrotate(t, work, conf)
	app.reopen()
	write(n) // the current file
	entries, _ := os.ReadDir(logs)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Logf("after two rotations: %v", names)

	agent = harness.Start(t, work, "agent-2", filepath.Join(binDir, "zlog-agent"), args...)
	agent.WaitLine(t, agentReady, 15*time.Second)
	harness.Eventually(t, time.Minute, "every line indexed", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_indexed_total")
		return got >= n, fmt.Sprint(got)
	})
	if code := agent.Signal(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
	if !regexp.MustCompile(`generations=1 .*file_lost_bytes=0 file_lost_files=0`).MatchString(agent.Output()) {
		t.Errorf("agent's tally does not show one generation read and nothing lost:\n%s", agent.Output())
	}
	checkExactlyOnce(t, data, "gens", n)
}
