package tests

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
)

// Stdin: JSON, logfmt and plain lines keep their levels and fields; binary
// garbage and a 10 MB line are repaired and counted; at EOF the agent waits
// for the acks and exits 0.
func TestAgentStdin(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	var in bytes.Buffer
	in.WriteString(`{"ts":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","level":"error","msg":"payment failed","order":"o-17","amount":12.5}` + "\n")
	in.WriteString(`level=warn msg="disk almost full" mount=/var pct=91` + "\n")
	in.WriteString("ERROR plain text failure\n")
	in.WriteString("garbage \xff\xfe\x00\x01 bytes\n")
	in.WriteString("huge " + strings.Repeat("x", 10<<20) + "\n")
	in.WriteString("INFO last line without newline")
	cmd := exec.Command(filepath.Join(binDir, "zlog-agent"), "--service", "web", "--collector", col.XSub, "--host", "box-1")
	cmd.Stdin = &in
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zlog-agent: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`lines=6 truncated=1 invalid_utf8=1`).Match(out) {
		t.Fatalf("agent did not count the repairs:\n%s", out)
	}
	evs, _ := logqJSON(t, data, "--service", "web", "--since", "5m", "--limit", "0")
	by := map[string]schema.Event{}
	for _, ev := range evs {
		by[strings.Fields(ev.Message + " x")[0]] = ev
	}
	if len(evs) != 6 {
		t.Fatalf("got %d events, want 6: %+v", len(evs), evs)
	}
	if e := by["payment"]; e.Level != schema.LevelError || e.Fields["order"] != "o-17" || e.Fields["amount"] != 12.5 || e.Host != "box-1" {
		t.Errorf("json line: %+v", e)
	}
	if e := by["disk"]; e.Level != schema.LevelWarn || e.Fields["mount"] != "/var" || e.Fields["pct"] != int64(91) {
		t.Errorf("logfmt line: %+v", e)
	}
	if e := by["ERROR"]; e.Level != schema.LevelError {
		t.Errorf("plain line: %+v", e)
	}
	if e := by["garbage"]; !strings.Contains(e.Message, "\uFFFD") {
		t.Errorf("garbage line: %q", e.Message)
	}
	if e := by["huge"]; e.Fields["truncated"] != int64(5+10<<20) || len(e.Message) > 64<<10 {
		t.Errorf("10 MB line: %d bytes kept, truncated=%v", len(e.Message), e.Fields["truncated"])
	}
	if e := by["INFO"]; e.Message != "INFO last line without newline" {
		t.Errorf("last line: %+v", e)
	}
}

var agentReady = regexp.MustCompile(`msg="agent ready" syslog=(\S+)`)

// Syslog: util-linux logger sends RFC 5424 over TCP (octet-counted) and RFC
// 3164 over UDP; bad frames are counted and skipped and the agent goes on.
func TestAgentSyslogWithLogger(t *testing.T) {
	if _, err := exec.LookPath("logger"); err != nil {
		t.Skip("needs util-linux logger (make deps installs it)")
	}
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agent := harness.Start(t, work, "agent", filepath.Join(binDir, "zlog-agent"), "--collector", col.XSub,
		"--syslog", "tcp://127.0.0.1:0", "--syslog", "udp://127.0.0.1:0", "--http", "127.0.0.1:0")
	addrs := strings.Split(agent.WaitLine(t, agentReady, 15*time.Second)[1], ",")
	metrics := "http://" + agent.WaitLine(t, regexp.MustCompile(`msg=metrics http=(\S+)`), 5*time.Second)[1] + "/metrics"
	tcpAddr, udpAddr := strings.TrimPrefix(addrs[0], "tcp://"), strings.TrimPrefix(addrs[1], "udp://")
	tcpHost, tcpPort, _ := net.SplitHostPort(tcpAddr)
	udpHost, udpPort, _ := net.SplitHostPort(udpAddr)
	token := fmt.Sprint(time.Now().UnixNano())

	// Bad input first: garbage, an oversized frame, a bad octet count.
	c, err := net.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "this is not syslog\n")
	fmt.Fprintf(c, "%d %s", 100<<10, strings.Repeat("y", 100<<10))
	fmt.Fprintf(c, "<13>1 %s h okapp - - - fine after the junk %s\n", time.Now().UTC().Format(time.RFC3339Nano), token)
	c.Close()

	for _, args := range [][]string{
		{"-n", tcpHost, "-P", tcpPort, "-T", "--octet-count", "--rfc5424", "-t", "tcpapp", "-p", "user.err", "hello over tcp " + token},
		{"-n", udpHost, "-P", udpPort, "-d", "--rfc3164", "-t", "udpapp", "-p", "user.warning", "hello over udp " + token},
	} {
		if r := harness.Run(t, 10*time.Second, "logger", args...); r.Code != 0 {
			t.Fatalf("logger %q: %s", args, r.Stderr)
		}
	}
	hostname, _ := os.Hostname()
	want := map[string]schema.Level{"tcpapp": schema.LevelError, "udpapp": schema.LevelWarn, "okapp": schema.LevelInfo}
	harness.Eventually(t, 10*time.Second, "syslog events indexed", func() (bool, string) {
		evs, _ := logqJSON(t, data, "--since", "5m", "--limit", "0", token)
		return len(evs) == 3, fmt.Sprint(len(evs))
	})
	evs, _ := logqJSON(t, data, "--since", "5m", "--limit", "0", token)
	for _, ev := range evs {
		if lvl, ok := want[ev.Service]; !ok || ev.Level != lvl {
			t.Errorf("event %+v: want service in %v with its level", ev, want)
		}
		if ev.Service != "okapp" && ev.Host != hostname && !strings.HasPrefix(hostname, ev.Host) {
			t.Errorf("%s: host %q, want %q", ev.Service, ev.Host, hostname)
		}
	}
	if v := harness.ScrapeMetric(t, metrics, "zlog_agent_syslog_invalid_total"); v != 1 {
		t.Errorf("invalid syslog messages counted: %v, want 1", v)
	}
	if v := harness.ScrapeMetric(t, metrics, "zlog_agent_syslog_too_long_total"); v != 1 {
		t.Errorf("oversized frames counted: %v, want 1", v)
	}
	if code := agent.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
}

// Multiline: a Java stack trace arrives as one event, with the java preset
// and with a start pattern for timestamped lines.
func TestAgentMultilineStackTrace(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	trace := "Exception in thread \"main\" java.lang.IllegalStateException: boom\n" +
		"\tat com.example.Foo.bar(Foo.java:10)\n" +
		"\tat com.example.Main.main(Main.java:3)\n" +
		"Caused by: java.io.IOException: disk full\n" +
		"\tat com.example.Disk.write(Disk.java:7)\n" +
		"\t... 2 more"
	stamp := time.Now().UTC().Truncate(time.Second)
	now := stamp.Format("2006-01-02 15:04:05")
	cases := []struct {
		service, spec, input string
		want                 []string // message prefixes, in order
	}{
		{"javapreset", "java", "INFO starting\n" + trace + "\nINFO next\n",
			[]string{"INFO starting", trace, "INFO next"}},
		{"javaregex", `^\d{4}-\d{2}-\d{2} `, now + " ERROR request failed\n" + trace + "\n" + now + " INFO recovered\n",
			// The time stamp a line starts with is the event's time, not
			// part of its message.
			[]string{"ERROR request failed\n" + trace, "INFO recovered"}},
	}
	for _, c := range cases {
		cmd := exec.Command(filepath.Join(binDir, "zlog-agent"), "--service", c.service, "--collector", col.XSub, "--multiline", c.spec, "--timezone", "UTC")
		cmd.Stdin = strings.NewReader(c.input)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.service, err, out)
		}
		evs, _ := logqJSON(t, data, "--service", c.service, "--since", "5m", "--limit", "0", "--order", "oldest")
		if len(evs) != len(c.want) {
			t.Fatalf("%s: %d events, want %d: %+v", c.service, len(evs), len(c.want), evs)
		}
		for i, ev := range evs {
			if ev.Message != c.want[i] {
				t.Errorf("%s event %d:\n got %q\nwant %q", c.service, i, ev.Message, c.want[i])
			}
			if c.service == "javaregex" && !ev.Time.Equal(stamp) {
				t.Errorf("%s event %d: time %v, want the line's %v", c.service, i, ev.Time, stamp)
			}
		}
	}
}
