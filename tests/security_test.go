package tests

import (
	"bytes"
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

// keygen makes NAME.key/NAME.pub under dir with the collector's keygen.
func keygen(t *testing.T, dir, name string) string {
	t.Helper()
	base := filepath.Join(dir, name)
	if res := harness.Run(t, 10*time.Second, filepath.Join(binDir, "zlog-collector"), "keygen", base); res.Code != 0 {
		t.Fatalf("keygen %s: %s", name, res.Stderr)
	}
	st, err := os.Stat(base + ".key")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret key %s: mode %v, %v; want 0600", name, st.Mode().Perm(), err)
	}
	return base
}

// publish sends lines through a short-lived zlog-agent with extra flags and
// returns its exit code (non-zero when the collector never acknowledged).
func publish(t *testing.T, xsub, service, lines string, extra ...string) int {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "zlog-agent"), append([]string{"--service", service, "--collector", xsub, "--close-timeout", "3s"}, extra...)...)
	cmd.Stdin = strings.NewReader(lines)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("zlog-agent: %v\n%s", err, out)
	}
	return cmd.ProcessState.ExitCode()
}

func curveFlags(serverBase, clientBase string) []string {
	return []string{"--curve-server-key", serverBase + ".pub", "--curve-secret-key", clientBase + ".key"}
}

// With CURVE on: listed publishers and subscribers work, unlisted and
// plaintext ones get nothing in and nothing out (counted), a key removed
// by SIGHUP stops working without a restart, and the wire carries no
// plaintext message.
func TestCurveAllowlist(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	keyDir := filepath.Join(work, "keys")
	allowDir := filepath.Join(work, "authorized")
	os.MkdirAll(keyDir, 0o700)
	os.MkdirAll(allowDir, 0o700)
	k := map[string]string{}
	for _, name := range []string{"collector", "pub-ok", "pub-revoked", "pub-unlisted", "sub-ok", "sub-revoked", "sub-unlisted"} {
		k[name] = keygen(t, keyDir, name)
	}
	for _, name := range []string{"pub-ok", "pub-revoked", "sub-ok", "sub-revoked"} {
		b, _ := os.ReadFile(k[name] + ".pub")
		os.WriteFile(filepath.Join(allowDir, name+".pub"), b, 0o644)
	}
	col := harness.StartCollector(t, binDir, work, data, "--curve-secret-key", k["collector"]+".key", "--authorized-keys", allowDir)
	if !strings.Contains(col.Output(), "CURVE is on") {
		t.Errorf("collector did not say CURVE is on:\n%s", col.Output())
	}
	tapPub := newTapProxy(t, strings.TrimPrefix(col.XSub, "tcp://"))
	tapSub := newTapProxy(t, strings.TrimPrefix(col.XPub, "tcp://"))
	xsub, xpub := "tcp://"+tapPub.addr, "tcp://"+tapSub.addr

	tail := func(name string, extra ...string) *harness.Proc {
		args := append([]string{"tail", "--xpub", xpub, "--service", "sec", "-o", "raw"}, extra...)
		return harness.Start(t, work, name, filepath.Join(binDir, "logq"), args...)
	}
	subOK := tail("sub-ok", curveFlags(k["collector"], k["sub-ok"])...)
	subRevoked := tail("sub-revoked", curveFlags(k["collector"], k["sub-revoked"])...)
	subUnlisted := tail("sub-unlisted", curveFlags(k["collector"], k["sub-unlisted"])...)
	subPlain := tail("sub-plain")
	// The query API's tail reads the XPUB in-process, past CURVE.
	apiTail := harness.Start(t, work, "api-tail", filepath.Join(binDir, "logq"), "tail", "--collector", "http://"+col.HTTP, "--service", "sec", "-o", "raw")

	// Listed publishers: rounds until both listed subscribers have heard.
	for round := 0; ; round++ {
		if round > 100 {
			t.Fatalf("listed subscribers heard nothing:\n%s\n%s", subOK.Output(), subRevoked.Output())
		}
		lines := fmt.Sprintf("secret-payload round %d\n", round)
		if code := publish(t, xsub, "sec", lines, curveFlags(k["collector"], k["pub-ok"])...); code != 0 {
			t.Fatalf("listed publisher: exit %d", code)
		}
		if code := publish(t, xsub, "sec", lines, curveFlags(k["collector"], k["pub-revoked"])...); code != 0 {
			t.Fatalf("second listed publisher: exit %d", code)
		}
		if strings.Contains(subOK.Output(), "secret-payload") && strings.Contains(subRevoked.Output(), "secret-payload") &&
			strings.Contains(apiTail.Output(), "secret-payload") {
			break
		}
	}
	// Unlisted and plaintext publishers are refused and counted.
	if code := publish(t, xsub, "sec", "intruder payload\n", curveFlags(k["collector"], k["pub-unlisted"])...); code == 0 {
		t.Error("an unlisted publisher had its events acknowledged")
	}
	if code := publish(t, xsub, "sec", "plaintext intruder payload\n"); code == 0 {
		t.Error("a plaintext publisher had its events acknowledged")
	}
	harness.Eventually(t, 10*time.Second, "refusals counted", func() (bool, string) {
		p := col.Metric(t, `zlog_collector_auth_rejected_total{role="publish"}`)
		s := col.Metric(t, `zlog_collector_auth_rejected_total{role="subscribe"}`)
		// The plaintext publisher and subscriber fail before any key is
		// checked, at the handshake.
		hp := col.Metric(t, `zlog_collector_handshake_failed_total{role="publish"}`)
		hs := col.Metric(t, `zlog_collector_handshake_failed_total{role="subscribe"}`)
		return p >= 1 && s >= 1 && hp >= 1 && hs >= 1, fmt.Sprintf("by key: publish %v, subscribe %v; at the handshake: publish %v, subscribe %v", p, s, hp, hs)
	})

	// SIGHUP after removing pub-revoked and sub-revoked from the directory.
	os.Remove(filepath.Join(allowDir, "pub-revoked.pub"))
	os.Remove(filepath.Join(allowDir, "sub-revoked.pub"))
	col.Cmd.Process.Signal(syscall.SIGHUP)
	col.WaitLine(t, regexp.MustCompile(`authorized keys reloaded`), 10*time.Second)
	for round := 0; !strings.Contains(subOK.Output(), "after-reload"); round++ {
		if round > 100 {
			t.Fatalf("the listed subscriber heard nothing after the reload:\n%s", subOK.Output())
		}
		if code := publish(t, xsub, "sec", fmt.Sprintf("secret-payload after-reload %d\n", round), curveFlags(k["collector"], k["pub-ok"])...); code != 0 {
			t.Fatalf("listed publisher after reload: exit %d", code)
		}
	}
	before := col.Metric(t, `zlog_collector_auth_rejected_total{role="publish"}`)
	if code := publish(t, xsub, "sec", "revoked publisher payload\n", curveFlags(k["collector"], k["pub-revoked"])...); code == 0 {
		t.Error("a publisher removed by SIGHUP still had its events acknowledged")
	}
	if after := col.Metric(t, `zlog_collector_auth_rejected_total{role="publish"}`); after <= before {
		t.Errorf("the revoked publisher's refusal was not counted (%v → %v)", before, after)
	}

	// What got through, and to whom.
	stored := harness.Logq(t, binDir, "search", "--data", data, "--service", "sec", "--limit", "0", "-o", "raw")
	if !strings.Contains(stored.Stdout, "after-reload") {
		t.Errorf("listed events missing from the index:\n%s", stored.Stdout)
	}
	logs, _ := os.ReadFile(filepath.Join(data, "logs", "sec.log"))
	for _, bad := range []string{"intruder", "revoked publisher"} {
		if strings.Contains(stored.Stdout, bad) || bytes.Contains(logs, []byte(bad)) {
			t.Errorf("%q reached storage", bad)
		}
	}
	if out := subUnlisted.Output() + subPlain.Output(); strings.Contains(out, "payload") {
		t.Errorf("an unlisted subscriber received events:\n%s", out)
	}
	if strings.Contains(subRevoked.Output(), "after-reload") {
		t.Errorf("a subscriber removed by SIGHUP still received events:\n%s", subRevoked.Output())
	}
	// The wire: plenty of traffic, none of it readable.
	for name, tap := range map[string]*cutProxy{"publish side": tapPub, "subscribe side": tapSub} {
		c := tap.captured()
		if len(c) < 2000 {
			t.Errorf("%s: only %d bytes captured; the tap saw too little to prove anything", name, len(c))
		}
		for _, word := range []string{"secret-payload", "after-reload", "sec.info"} {
			if bytes.Contains(c, []byte(word)) {
				t.Errorf("%s: %q readable on the wire with CURVE on", name, word)
			}
		}
	}
}

// The same tap on a plaintext collector reads the messages: it would see
// them if CURVE let them through.
func TestPlaintextTapSeesMessages(t *testing.T) {
	work := harness.WorkDir(t)
	col := harness.StartCollector(t, binDir, work, filepath.Join(work, "data"))
	if !strings.Contains(col.Output(), "CURVE is off") {
		t.Errorf("collector did not warn that CURVE is off:\n%s", col.Output())
	}
	tap := newTapProxy(t, strings.TrimPrefix(col.XSub, "tcp://"))
	if code := publish(t, "tcp://"+tap.addr, "sec", "secret-payload in the clear\n"); code != 0 {
		t.Fatalf("plaintext publish: exit %d", code)
	}
	if !bytes.Contains(tap.captured(), []byte("secret-payload in the clear")) {
		t.Error("the tap did not see a plaintext message")
	}
}

// A bearer token guards the query API and /metrics; /healthz stays open.
func TestHTTPToken(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	tokenFile := filepath.Join(work, "token")
	os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600)
	col := harness.StartCollector(t, binDir, work, data, "--http-token-file", tokenFile)
	agentPipe(t, col.XSub, "tok", "INFO hello token\n")
	api := "http://" + col.HTTP
	harness.Eventually(t, 10*time.Second, "event indexed", func() (bool, string) {
		res := harness.Logq(t, binDir, "search", "--collector", api, "--token-file", tokenFile, "--count")
		return strings.TrimSpace(res.Stdout) == "1", res.Stdout + res.Stderr
	})
	res := harness.Logq(t, binDir, "search", "--collector", api, "--count")
	if res.Code != 2 || !strings.Contains(res.Stderr, "bearer token") {
		t.Errorf("without the token: exit %d, %q; want 2 and a message about the token", res.Code, res.Stderr)
	}
	for path, want := range map[string]string{"/healthz": "200", "/metrics": "401", "/api/v1/count": "401", "/debug/pprof/": "401", "/debug/pprof/trace?seconds=0.1": "401"} {
		out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", api+path).Output()
		if string(out) != want {
			t.Errorf("GET %s without a token: %s, want %s", path, out, want)
		}
	}
	out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer s3cret-token", api+"/metrics").Output()
	if string(out) != "200" {
		t.Errorf("GET /metrics with the token: %s", out)
	}
	// An execution trace, for go tool trace.
	out, _ = exec.Command("curl", "-s", "-H", "Authorization: Bearer s3cret-token", api+"/debug/pprof/trace?seconds=0.1").Output()
	if !bytes.HasPrefix(out, []byte("go 1.")) {
		t.Errorf("GET /debug/pprof/trace with the token: %.40q, want an execution trace", out)
	}
	// A file's mode: the index and the logs are not for everyone on the host.
	for _, dir := range []string{filepath.Join(data, "index"), filepath.Join(data, "logs")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			info, _ := e.Info()
			if info.Mode().Perm()&0o007 != 0 {
				t.Errorf("%s/%s has mode %v: readable by others", dir, e.Name(), info.Mode().Perm())
			}
		}
		if st, _ := os.Stat(dir); st.Mode().Perm() != 0o750 {
			t.Errorf("%s has mode %v, want 0750", dir, st.Mode().Perm())
		}
	}
}
