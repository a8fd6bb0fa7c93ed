package tests

import (
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

// What runs until interrupted (search --follow, tail) ends cleanly on
// Ctrl-C or SIGTERM: exit 0, what it printed flushed. (logq catches the
// signals only there and where it may start a pager; a one-shot query
// keeps their default, as grep does.)
func TestLogqFollowAndTailEndCleanlyWhenInterrupted(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agentPipe(t, col.XSub, "intr", "INFO stored before\n")
	waitStored(t, data, 1, "--service", "intr")
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		name := "follow-" + strconv.Itoa(i)
		follow := harness.Start(t, work, name, filepath.Join(binDir, "logq"), "search", "--data", data, "--xpub", col.XPub, "--follow", "--service", "intr", "-o", "raw")
		follow.WaitLine(t, regexp.MustCompile(`stored before$`), 10*time.Second)
		if code := follow.Signal(t, sig, 10*time.Second); code != 0 {
			t.Errorf("search --follow after %v: exit %d, want 0", sig, code)
		}

		name = "tail-" + strconv.Itoa(i)
		tail := harness.Start(t, work, name, filepath.Join(binDir, "logq"), "tail", "--xpub", col.XPub, "--service", "intr", "-o", "raw")
		for round := 0; !strings.Contains(tail.Output(), "live "+name); round++ {
			if round > 100 {
				t.Fatalf("tail heard nothing:\n%s", tail.Output())
			}
			agentPipe(t, col.XSub, "intr", "INFO live "+name+"\n")
		}
		if code := tail.Signal(t, sig, 10*time.Second); code != 0 {
			t.Errorf("tail after %v: exit %d, want 0", sig, code)
		}
	}
}

// On a terminal the listing goes through the pager, and Ctrl-C to logq
// does not leave the pager behind the shell's prompt: logq waits for it.
func TestLogqWaitsForItsPagerWhenInterrupted(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) from util-linux is not installed")
	}
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agentPipe(t, col.XSub, "paged", "INFO one\nINFO two\n")
	waitStored(t, data, 2)
	// The pager reads everything, says who it is, and stays until released.
	pidFile, release := filepath.Join(work, "pager.pid"), filepath.Join(work, "release")
	pager := filepath.Join(work, "pager.sh")
	os.WriteFile(pager, []byte("cat > /dev/null\necho $$ > "+pidFile+".tmp && mv "+pidFile+".tmp "+pidFile+
		"\nwhile [ ! -e "+release+" ]; do sleep 0.02; done\n"), 0o755)
	t.Setenv("PAGER", "sh "+pager)
	t.Setenv("TERM", "xterm")
	term := harness.Start(t, work, "script", "script", "-qec", filepath.Join(binDir, "logq")+" search --data "+data, "/dev/null")
	var pagerPid int
	harness.Eventually(t, 10*time.Second, "the pager to have read the listing", func() (bool, string) {
		b, err := os.ReadFile(pidFile)
		pagerPid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pagerPid > 0, string(b)
	})
	logq := ancestorNamed(t, pagerPid, "logq")
	if err := syscall.Kill(logq, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// Killed by the signal, logq would end with it (script -e says
	// 128+2); waiting for its pager, it ends as the pager does.
	os.WriteFile(release, nil, 0o644)
	if code := term.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("logq interrupted while its pager ran: exit %d, want 0 after the pager", code)
	}
}

// ancestorNamed walks up from pid to the process named name.
func ancestorNamed(t *testing.T, pid int, name string) int {
	t.Helper()
	for p := pid; p > 1; {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/comm")
		if strings.TrimSpace(string(comm)) == name {
			return p
		}
		status, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/status")
		m := regexp.MustCompile(`(?m)^PPid:\s+(\d+)`).FindSubmatch(status)
		if err != nil || m == nil {
			break
		}
		p, _ = strconv.Atoi(string(m[1]))
	}
	t.Fatalf("no process %q above %d", name, pid)
	return 0
}
