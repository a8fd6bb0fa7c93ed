package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// Fault 2: two agents on one --spool, or two collectors on one --data, would
// each take the directory's state as theirs (the index then held 3,000 of
// 6,000 acknowledged lines). The second process must refuse to start, exit
// 2 and name the holder's pid.
func TestFaultTwoProcessesOneDirectory(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)

	t.Run("collectors", func(t *testing.T) {
		second := harness.Start(t, work, "collector-2", filepath.Join(binDir, "zlog-collector"), "--data", data,
			"--xsub", "tcp://127.0.0.1:*", "--xpub", "tcp://127.0.0.1:*", "--http", "127.0.0.1:0")
		if code := second.Wait(t, 15*time.Second); code != 2 {
			t.Fatalf("second collector on the same --data exited %d, want 2:\n%s", code, second.Output())
		}
		if !regexp.MustCompile(`locked by pid ` + strconv.Itoa(col.Pid()) + `\b`).MatchString(second.Output()) {
			t.Fatalf("second collector does not name the holder (pid %d):\n%s", col.Pid(), second.Output())
		}
	})

	t.Run("agents", func(t *testing.T) {
		spool := filepath.Join(work, "spool")
		// The first agent reads a stdin that stays open, so it keeps the spool.
		pr, _ := osPipe(t)
		first := harness.StartIn(t, work, "agent-1", pr, filepath.Join(binDir, "zlog-agent"),
			"--service", "locked", "--collector", col.XSub, "--spool", spool)
		first.WaitLine(t, regexp.MustCompile(`agent ready`), 15*time.Second)
		pr2, _ := osPipe(t)
		second := harness.StartIn(t, work, "agent-2", pr2, filepath.Join(binDir, "zlog-agent"),
			"--service", "locked", "--collector", col.XSub, "--spool", spool)
		if code := second.Wait(t, 15*time.Second); code != 2 {
			t.Fatalf("second agent on the same --spool exited %d, want 2:\n%s", code, second.Output())
		}
		if !regexp.MustCompile(`locked by pid ` + strconv.Itoa(first.Pid()) + `\b`).MatchString(second.Output()) {
			t.Fatalf("second agent does not name the holder (pid %d):\n%s", first.Pid(), second.Output())
		}
		if !first.Running() {
			t.Fatalf("the first agent stopped:\n%s", first.Output())
		}
	})
}

// osPipe is a pipe for a child's stdin that stays open until the test ends.
// (An io.Pipe would make exec wait for its copying goroutine after the
// child exits.)
func osPipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}
