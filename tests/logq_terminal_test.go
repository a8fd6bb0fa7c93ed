package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlog/zlog/tests/harness"
)

// TestLogqTerminal: on a terminal (script(1) gives logq a pseudo-terminal)
// levels are coloured and the listing goes through $PAGER; NO_COLOR turns
// the colour off; into a pipe there is neither colour nor pager.
func TestLogqTerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) from util-linux is not installed")
	}
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agentPipe(t, col.XSub, "term", "ERROR disk on fire\nWARN smoke\nINFO all fine\n")
	waitStored(t, data, 3)
	paged := filepath.Join(work, "paged.txt")
	onTerminal := func(env ...string) string {
		t.Helper()
		logq := filepath.Join(binDir, "logq") + " search --data " + data
		cmd := exec.Command("script", "-qec", logq, "/dev/null")
		cmd.Env = append(append(os.Environ(), "PAGER=cat > "+paged, "TERM=xterm"), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("script: %v\n%s", err, out)
		}
		b, err := os.ReadFile(paged)
		if err != nil {
			t.Fatalf("the pager got nothing: %v", err)
		}
		os.Remove(paged)
		return string(b)
	}
	got := onTerminal()
	for _, want := range []string{"\x1b[31merror\x1b[0m", "\x1b[33mwarn\x1b[0m", "\x1b[32minfo\x1b[0m", "disk on fire"} {
		if !strings.Contains(got, want) {
			t.Errorf("on a terminal, through the pager: %q lacks %q", got, want)
		}
	}
	if got := onTerminal("NO_COLOR=1"); strings.Contains(got, "\x1b[") || !strings.Contains(got, "disk on fire") {
		t.Errorf("NO_COLOR: %q", got)
	}
	t.Setenv("PAGER", "cat > "+paged)
	r := harness.Logq(t, binDir, "search", "--data", data)
	if strings.Contains(r.Stdout, "\x1b[") || !strings.Contains(r.Stdout, "disk on fire") {
		t.Errorf("piped: %q", r.Stdout)
	}
	if _, err := os.Stat(paged); err == nil {
		t.Errorf("piped output went through the pager")
	}
}
