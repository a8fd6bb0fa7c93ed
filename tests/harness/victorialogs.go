package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// VictoriaLogs is the peer users would pick instead of zlog, and the
// engine zlog can store into: built from the Go module proxy at a pinned
// version (Apache-2.0), cached in tests/bench/tools.
const (
	VLModule  = "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs"
	VLVersion = "v1.52.1"
)

// VictoriaLogsBinary builds VictoriaLogs once (about two minutes) and
// returns its path.
func VictoriaLogsBinary(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(ModuleRoot(), "tests", "bench", "tools")
	bin := filepath.Join(dir, "victoria-logs-"+VLVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	tmp := filepath.Join(dir, "build")
	cmd := exec.Command("go", "install", VLModule+"@"+VLVersion)
	// Its own module, not zlog's tags: GOFLAGS would carry sqlite_fts5.
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build VictoriaLogs %s: %v\n%s", VLVersion, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "victoria-logs"), bin); err != nil {
		t.Fatal(err)
	}
	return bin
}
