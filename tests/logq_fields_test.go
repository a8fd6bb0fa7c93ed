package tests

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// TestLogqFieldsAndCompletionValues: logq fields lists the field names of
// matching events with counts and top values, locally and over the API;
// completion values come from the index.
func TestLogqFieldsAndCompletionValues(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agentPipe(t, col.XSub, "shop", `{"level":"info","msg":"paid","user":"ann","amount":5}
{"level":"info","msg":"paid","user":"ann","amount":7}
{"level":"error","msg":"declined","user":"bob"}
`)
	agentPipe(t, col.XSub, "web", "WARN slow page\n")
	harness.Eventually(t, 10*time.Second, "events indexed", func() (bool, string) {
		r := harness.Logq(t, binDir, "search", "--data", data, "--count")
		return strings.TrimSpace(r.Stdout) == "4", r.Stdout
	})
	want := `{"name":"amount","hits":2,"values":"2","top":"5 (1), 7 (1)"}
{"name":"user","hits":3,"values":"2","top":"ann (2), bob (1)"}
`
	for _, src := range [][]string{{"--data", data}, {"--collector", "http://" + col.HTTP}} {
		r := harness.Logq(t, binDir, append([]string{"fields", "-o", "json", "service:shop"}, src...)...)
		if r.Code != 0 || r.Stdout != want {
			t.Errorf("logq fields %s: exit %d %s\n got %q\nwant %q", src[0], r.Code, r.Stderr, r.Stdout, want)
		}
	}
	for kind, want := range map[string]string{
		"level":   "trace\ndebug\ninfo\nwarn\nerror\nfatal\n",
		"service": "shop\nweb\n",
		"field":   "_msg:\n_time:\namount:\nhost:\nlevel:\nservice:\nuser:\n",
	} {
		r := harness.Logq(t, binDir, "completion", "values", kind, "--data", data)
		if r.Code != 0 || r.Stdout != want {
			t.Errorf("completion values %s: exit %d %s\n got %q\nwant %q", kind, r.Code, r.Stderr, r.Stdout, want)
		}
	}
}
