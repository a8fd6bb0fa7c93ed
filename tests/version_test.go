package tests

import (
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// TestVersion: every binary answers --version with its name, version and
// Go version, exit 0; the collector exports zlog_build_info.
func TestVersion(t *testing.T) {
	for _, bin := range []string{"zlog-collector", "zlog-agent", "zlog-downcase", "logq"} {
		r := harness.Run(t, 30*time.Second, filepath.Join(binDir, bin), "--version")
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, bin+" ") || !strings.Contains(r.Stdout, runtime.Version()) {
			t.Errorf("%s --version: exit %d, %q %q", bin, r.Code, r.Stdout, r.Stderr)
		}
	}
	work := harness.WorkDir(t)
	col := harness.StartCollector(t, binDir, work, filepath.Join(work, "data"))
	resp, err := http.Get("http://" + col.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `zlog_build_info{goversion="`+runtime.Version()+`",version="`) {
		t.Errorf("/metrics has no zlog_build_info")
	}
}
