package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlog/zlog/tests/harness"
)

// Fault 8: the auto parser stored "Config loaded: retries=3 …" as an empty
// message with fields Config=true, from=true…; a journal line lost its
// wording. Every line's text must be stored whole.
func TestFaultParserKeepsEveryLinesText(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	lines := []string{
		"Config loaded: retries=3 timeout=30s from /etc/app.conf",
		"billing.service: Main process exited, code=exited, status=1/FAILURE",
		`user=alice action=login ok`,
		`GET /api?a=1&b=2 200`,
	}
	cmd := exec.Command(filepath.Join(binDir, "zlog-agent"), "--service", "parsed", "--collector", col.XSub)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zlog-agent: %v\n%s", err, out)
	}
	evs, _ := logqJSON(t, data, "--service", "parsed", "--since", "5m", "--limit", "0", "--order", "oldest")
	if len(evs) != len(lines) {
		t.Fatalf("stored %d events, want %d", len(evs), len(lines))
	}
	for i, ev := range evs {
		if ev.Message != lines[i] {
			t.Errorf("line %d stored as message %q with fields %v, want the whole line %q", i, ev.Message, ev.Fields, lines[i])
		}
	}
	if f := evs[0].Fields; f["retries"] != "3" || f["timeout"] != "30s" {
		t.Errorf("pairs of a plain line not kept as fields: %v", f)
	}
}
