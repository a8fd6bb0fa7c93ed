package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if f := evs[0].Fields; f["retries"] != int64(3) || f["timeout"] != "30s" {
		t.Errorf("pairs of a plain line not kept as fields: %v", f)
	}
}

// Fault 14: a request with a terminal escape in its parameter reached the
// log file and logq's text output raw, recolouring (or worse) the terminal
// of whoever read them. Both must escape it; the index keeps the original.
func TestFaultControlCharactersAreEscaped(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	_, url := harness.StartDowncase(t, binDir, work, col.XSub)
	out, err := exec.Command("curl", "-sf", url+"/downcase/?param=X%1B%5B31mRED%07%08%09tab").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v %s", err, out)
	}
	harness.Eventually(t, 10*time.Second, "event indexed", func() (bool, string) {
		evs, _ := logqJSON(t, data, "--service", "downcase", "--since", "5m")
		return len(evs) == 1, fmt.Sprint(len(evs))
	})
	evs, _ := logqJSON(t, data, "--service", "downcase", "--since", "5m")
	if !strings.Contains(evs[0].Message, "\x1b[31m") {
		t.Fatalf("the index must keep the original text, got %q", evs[0].Message)
	}
	check := func(what, text string) {
		t.Helper()
		if strings.ContainsAny(text, "\x1b\x07\x08") {
			t.Errorf("%s holds a raw control character: %q", what, text)
		}
		if !strings.Contains(text, `\x1b[31m`) {
			t.Errorf("%s does not show the escape as \\x1b: %q", what, text)
		}
	}
	harness.Eventually(t, 10*time.Second, "log line written", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(data, "logs", "downcase.log"))
		return len(b) > 0, string(b)
	})
	b, _ := os.ReadFile(filepath.Join(data, "logs", "downcase.log"))
	check("logs/downcase.log", string(b))
	for _, output := range []string{"text", "raw"} {
		res := harness.Logq(t, binDir, "search", "--data", data, "--service", "downcase", "--since", "5m", "-o", output)
		check("logq -o "+output, res.Stdout)
	}
}
