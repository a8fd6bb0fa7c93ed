package tests

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// Fault 15: small surfaces that failed an operator: a token file others
// could read was accepted; a bad FTS expression answered 500 with the
// server's path; a bare /api/v1/search streamed the whole hour; clients
// that could not connect, or whose key was refused, waited in silence;
// syslog with invalid UTF-8 was dropped; logq stats --every -1h was taken.
func TestFaultSurfaces(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")

	t.Run("token file readable by others", func(t *testing.T) {
		token := filepath.Join(work, "token")
		os.WriteFile(token, []byte("s3cret\n"), 0o644)
		res := harness.Run(t, 15*time.Second, filepath.Join(binDir, "zlog-collector"), "--data", filepath.Join(work, "data-token"),
			"--xsub", "tcp://127.0.0.1:*", "--xpub", "tcp://127.0.0.1:*", "--http", "127.0.0.1:0", "--http-token-file", token)
		if res.Code != 2 || !strings.Contains(res.Stderr, "chmod 600") {
			t.Fatalf("collector with a 0644 token file: exit %d, %q", res.Code, res.Stderr)
		}
	})

	col := harness.StartCollector(t, binDir, work, data)
	waitLoadgenOK(t, startLoad(t, work, col.XSub, "surface", 250, 0))
	api := "http://" + col.HTTP

	t.Run("API answers", func(t *testing.T) {
		get := func(q string) (int, string) {
			resp, err := http.Get(api + "/api/v1/" + q)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := get("search?fts=%22"); code != 400 || strings.Contains(body, data) {
			t.Errorf("search?fts=%%22: %d %s; want 400 without the server's paths", code, body)
		}
		code, body := get("search")
		if n := strings.Count(body, "\n"); code != 200 || n != 100 {
			t.Errorf("bare search: %d, %d lines; want 100 (the default limit)", code, n)
		}
		if _, body := get("search?limit=0"); strings.Count(body, "\n") != 250 {
			t.Errorf("search?limit=0: %d lines, want all 250", strings.Count(body, "\n"))
		}
	})

	t.Run("stats --every negative", func(t *testing.T) {
		res := harness.Logq(t, binDir, "stats", "--data", data, "--every", "-1h")
		if res.Code != 2 || !strings.Contains(res.Stderr, "negative") {
			t.Errorf("logq stats --every -1h: exit %d, %q", res.Code, res.Stderr)
		}
	})

	t.Run("collector --memory-limit-mb negative", func(t *testing.T) {
		res := harness.Run(t, time.Minute, filepath.Join(binDir, "zlog-collector"), "--data", t.TempDir(), "--memory-limit-mb", "-1")
		if res.Code != 2 || !strings.Contains(res.Stderr, "negative") {
			t.Errorf("zlog-collector --memory-limit-mb -1: exit %d, %q", res.Code, res.Stderr)
		}
	})

	t.Run("collector --retain 0", func(t *testing.T) { // its help says 0 keeps everything; it was refused
		harness.StartCollector(t, binDir, t.TempDir(), filepath.Join(t.TempDir(), "data"), "--retain", "0")
	})

	t.Run("tail to nothing", func(t *testing.T) {
		tail := harness.Start(t, work, "tail-nowhere", filepath.Join(binDir, "logq"), "tail", "--xpub", "tcp://127.0.0.1:"+harness.FreePort(t))
		tail.WaitLine(t, regexp.MustCompile(`cannot connect to tcp://127\.0\.0\.1:\d+`), 20*time.Second)
	})

	t.Run("syslog with invalid UTF-8", func(t *testing.T) {
		agent := harness.Start(t, work, "agent-syslog", filepath.Join(binDir, "zlog-agent"), "--collector", col.XSub, "--syslog", "tcp://127.0.0.1:0")
		addr := strings.TrimPrefix(agent.WaitLine(t, agentReady, 15*time.Second)[1], "tcp://")
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "<13>1 %s h badbytes - - - caf\xe9 au lait\n", time.Now().UTC().Format(time.RFC3339Nano))
		c.Close()
		harness.Eventually(t, 10*time.Second, "repaired message stored", func() (bool, string) {
			evs, _ := logqJSON(t, data, "--service", "badbytes", "--since", "5m")
			return len(evs) == 1 && evs[0].Message == "caf\uFFFD au lait", fmt.Sprint(evs)
		})
	})
}

// Fault 15: an agent whose CURVE key the collector does not list waited in
// silence; it says why now.
func TestFaultRefusedKeyIsReported(t *testing.T) {
	work := harness.WorkDir(t)
	keyDir := filepath.Join(work, "keys")
	allowDir := filepath.Join(work, "authorized")
	os.MkdirAll(keyDir, 0o700)
	os.MkdirAll(allowDir, 0o700)
	colKey, unlisted := keygen(t, keyDir, "collector"), keygen(t, keyDir, "unlisted")
	col := harness.StartCollector(t, binDir, work, filepath.Join(work, "data"), "--curve-secret-key", colKey+".key", "--authorized-keys", allowDir)
	pr, _ := osPipe(t)
	agent := harness.StartIn(t, work, "agent-unlisted", pr, filepath.Join(binDir, "zlog-agent"),
		append([]string{"--service", "refused", "--collector", col.XSub}, curveFlags(colKey, unlisted)...)...)
	agent.WaitLine(t, regexp.MustCompile(`no connection to .* refused this client's key|no ZeroMQ handshake`), 20*time.Second)
}
