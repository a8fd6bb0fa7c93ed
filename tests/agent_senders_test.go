package tests

import (
	"fmt"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
)

// sendersAgent is one agent with a TCP and a UDP syslog listener, and the
// container log directories of the test, with its collector.
type sendersAgent struct {
	data, work, tcp, udp, metrics string
	proc                          *harness.Proc
}

func startSendersAgent(t *testing.T) *sendersAgent {
	t.Helper()
	a := &sendersAgent{work: harness.WorkDir(t)}
	a.data = filepath.Join(a.work, "data")
	col := harness.StartCollector(t, binDir, a.work, a.data)
	for _, d := range []string{"containers", "docker"} {
		os.MkdirAll(filepath.Join(a.work, d), 0o755)
	}
	config := filepath.Join(a.work, "agent.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`collector: %s
spool: %s
from_beginning: true
sources:
  - service: syslog
    listen: [tcp://127.0.0.1:0, udp://127.0.0.1:0]
  - service: k8s
    paths: [%s/*.log]
    format: cri
  - service: dockerapp
    paths: [%s/*-json.log]
    format: docker
    labels: {env: test}
`, col.XSub, filepath.Join(a.work, "spool"), filepath.Join(a.work, "containers"), filepath.Join(a.work, "docker"))), 0o644)
	a.proc = harness.Start(t, a.work, "agent", filepath.Join(binDir, "zlog-agent"), "--config", config, "--http", "127.0.0.1:0")
	addrs := strings.Split(a.proc.WaitLine(t, agentReady, 15*time.Second)[1], ",")
	a.metrics = "http://" + a.proc.WaitLine(t, regexp.MustCompile(`msg=metrics http=(\S+)`), 5*time.Second)[1] + "/metrics"
	a.tcp, a.udp = strings.TrimPrefix(addrs[0], "tcp://"), strings.TrimPrefix(addrs[1], "udp://")
	return a
}

// events waits for exactly n events matching the logq arguments.
func (a *sendersAgent) events(t *testing.T, n int, args ...string) []schema.Event {
	t.Helper()
	args = append([]string{"--since", "1h", "--limit", "0", "--order", "oldest"}, args...)
	var evs []schema.Event
	harness.Eventually(t, 30*time.Second, fmt.Sprintf("%d events for %q", n, args), func() (bool, string) {
		evs, _ = logqJSON(t, a.data, args...)
		return len(evs) >= n, fmt.Sprint(len(evs))
	})
	if len(evs) != n {
		t.Fatalf("%d events for %q, want exactly %d", len(evs), args, n)
	}
	return evs
}

// want is what one event must be; zero parts are not checked.
type want struct {
	service, host, message string
	level                  schema.Level
	near                   time.Time // the event time within 2 s of this
	fields                 schema.Fields
	labels                 schema.Labels
}

func (w want) check(t *testing.T, what string, ev schema.Event) {
	t.Helper()
	bad := func(part string, got, exp any) { t.Errorf("%s: %s %v, want %v (event %+v)", what, part, got, exp, ev) }
	if w.service != "" && ev.Service != w.service {
		bad("service", ev.Service, w.service)
	}
	if w.host != "" && ev.Host != w.host {
		bad("host", ev.Host, w.host)
	}
	if w.message != "" && ev.Message != w.message {
		bad("message", ev.Message, w.message)
	}
	if w.level != 0 && ev.Level != w.level {
		bad("level", ev.Level, w.level)
	}
	if !w.near.IsZero() && (ev.Time.Before(w.near.Add(-2*time.Second)) || ev.Time.After(w.near.Add(2*time.Second))) {
		bad("time", ev.Time, w.near)
	}
	for k, v := range w.fields {
		if ev.Fields[k] != v {
			bad("field "+k, ev.Fields[k], v)
		}
	}
	if w.labels != nil && !ev.Labels.Contains(w.labels) {
		bad("labels", ev.Labels, w.labels)
	}
}

// Real senders, each message found by logq once with the right service,
// host, level, time, message and fields: rsyslog's forward and traditional
// forward formats, loggen's two formats over TCP and UDP at 5,000 msg/s,
// Python's SysLogHandler over TCP (NUL-framed) and UDP, Go's log/syslog,
// logger with structured data, and Docker json-file and CRI container logs
// with split lines.
func TestAgentRealSenders(t *testing.T) {
	tools := harness.PeerTools(t)
	a := startSendersAgent(t)
	hostname, _ := os.Hostname()
	t.Run("rsyslog", func(t *testing.T) { rsyslogSender(t, a, tools, hostname) })
	t.Run("loggen", func(t *testing.T) { loggenSender(t, a, tools) })
	t.Run("python", func(t *testing.T) { pythonSender(t, a) })
	t.Run("go log/syslog", func(t *testing.T) { goSyslogSender(t, a, hostname) })
	t.Run("logger sd-id", func(t *testing.T) { loggerSDSender(t, a, hostname) })
	t.Run("containers", func(t *testing.T) { containerFiles(t, a) })
	if v := harness.ScrapeMetric(t, a.metrics, "zlog_agent_syslog_udp_kernel_drops_total"); v != 0 {
		t.Errorf("the kernel dropped %v datagrams", v)
	}
	if v := harness.ScrapeMetric(t, a.metrics, "zlog_agent_syslog_invalid_total"); v != 0 {
		t.Errorf("%v messages were unparseable", v)
	}
	if code := a.proc.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, a.proc.Output())
	}
}

// rsyslog receives logger's messages on UDP and forwards them to the agent
// over TCP, with its stock RSYSLOG_ForwardFormat (RFC 3339 time in a BSD
// message) and RSYSLOG_TraditionalForwardFormat; for a message that came
// as RFC 5424 its tag has no colon.
func rsyslogSender(t *testing.T, a *sendersAgent, tools, hostname string) {
	dir := filepath.Join(a.work, "rsyslog")
	os.MkdirAll(dir, 0o755)
	in := freeUDPPort(t)
	host, port, _ := net.SplitHostPort(a.tcp)
	conf := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory="%s")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="%d")
if $programname startswith "rsfwd" then action(type="omfwd" target="%s" port="%s" protocol="tcp" template="RSYSLOG_ForwardFormat")
if $programname startswith "rstrad" then action(type="omfwd" target="%s" port="%s" protocol="tcp" template="RSYSLOG_TraditionalForwardFormat")
`, dir, in, host, port, host, port)), 0o644)
	rs := startRsyslog(t, tools, dir, conf)
	waitUDPListener(t, in, rs)
	sent := time.Now()
	var wants []want
	for _, tag := range []string{"rsfwd", "rstrad"} {
		for _, form := range []string{"--rfc5424", "--rfc3164"} {
			msg := fmt.Sprintf("via rsyslog %s %s", tag, form)
			if r := harness.Run(t, 10*time.Second, "logger", "-d", "-n", "127.0.0.1", "-P", strconv.Itoa(in), form, "-t", tag,
				"-p", "daemon.err", msg); r.Code != 0 {
				t.Fatalf("logger: %s", r.Stderr)
			}
			wants = append(wants, want{service: tag, host: hostname, message: msg, level: schema.LevelError, near: sent,
				fields: schema.Fields{"facility": "daemon"}})
		}
	}
	byMsg := map[string]schema.Event{}
	for _, ev := range a.events(t, 4, "via", "rsyslog") {
		byMsg[ev.Message] = ev
	}
	for _, w := range wants {
		w.check(t, w.message, byMsg[w.message])
	}
}

// loggen sends 5,000 messages a second for 2 s in each of its formats
// (BSD with an RFC 3339 time; -P RFC 5424, octet-counted even over UDP)
// over TCP and UDP: every message arrives once.
func loggenSender(t *testing.T, a *sendersAgent, tools string) {
	total := 0
	seen := map[string]bool{}
	for _, run := range []struct {
		transport, proto string
		addr             string
	}{{"-S", "", a.tcp}, {"-S", "-P", a.tcp}, {"-D", "", a.udp}, {"-D", "-P", a.udp}} {
		host, port, _ := net.SplitHostPort(run.addr)
		args := []string{"-i", run.transport, "-r", "5000", "-I", "2", "-Q"}
		if run.proto != "" {
			args = append(args, run.proto)
		}
		cmd := harness.Run(t, time.Minute, "env", append([]string{"SYSLOGNG_PREFIX=" + filepath.Join(tools, "usr"),
			"LD_LIBRARY_PATH=" + filepath.Join(tools, "usr/lib/syslog-ng"), filepath.Join(tools, "usr/bin/loggen")},
			append(args, host, port)...)...)
		m := regexp.MustCompile(`count=(\d+)`).FindStringSubmatch(cmd.Stdout + cmd.Stderr)
		if cmd.Code != 0 || m == nil {
			t.Fatalf("loggen %q: %s%s", args, cmd.Stdout, cmd.Stderr)
		}
		n, _ := strconv.Atoi(m[1])
		if n < 9000 {
			t.Fatalf("loggen %q sent only %d messages", args, n)
		}
		total += n
		evs := a.events(t, total, "--service", "prg00000")
		for _, ev := range evs[total-n:] {
			key := regexp.MustCompile(`seq: \d+, thread: \d+, runid: \d+`).FindString(ev.Message)
			if key == "" || seen[key] {
				t.Fatalf("loggen %q: event %q missing its sequence or seen twice", args, ev.Message)
			}
			seen[key] = true
			stamp := regexp.MustCompile(`stamp: (\S+)`).FindStringSubmatch(ev.Message)
			at, err := time.ParseInLocation("2006-01-02T15:04:05", strings.TrimSuffix(stamp[1], "+00:00"), time.Local)
			if err != nil {
				t.Fatalf("stamp of %q: %v", ev.Message, err)
			}
			want{service: "prg00000", host: "localhost", level: schema.LevelInfo, near: at,
				fields: schema.Fields{"facility": "auth", "procid": int64(1234)}}.check(t, "loggen "+strings.Join(args, " "), ev)
		}
	}
}

// Python's logging.handlers.SysLogHandler: over TCP it ends each message
// with NUL and nothing else; over UDP one message per datagram.
func pythonSender(t *testing.T, a *sendersAgent) {
	script := filepath.Join(a.work, "pysyslog.py")
	tcpHost, tcpPort, _ := net.SplitHostPort(a.tcp)
	udpHost, udpPort, _ := net.SplitHostPort(a.udp)
	os.WriteFile(script, []byte(fmt.Sprintf(`import logging, logging.handlers, socket
for kind, addr, st in (("tcp", ("%s", %s), socket.SOCK_STREAM), ("udp", ("%s", %s), socket.SOCK_DGRAM)):
    h = logging.handlers.SysLogHandler(address=addr, socktype=st)
    h.ident = "pyapp: "
    log = logging.getLogger(kind)
    log.addHandler(h)
    log.setLevel(logging.DEBUG)
    log.error("python %%s error", kind)
    log.warning("python %%s warning", kind)
    log.info("python %%s info", kind)
    log.debug("python %%s debug retries=%%d", kind, 3)
    h.close()
`, tcpHost, tcpPort, udpHost, udpPort)), 0o644)
	sent := time.Now()
	if r := harness.Run(t, 30*time.Second, "/usr/bin/python3", script); r.Code != 0 {
		t.Fatalf("python: %s", r.Stderr)
	}
	evs := a.events(t, 8, "--service", "pyapp")
	byMsg := map[string]schema.Event{}
	for _, ev := range evs {
		byMsg[ev.Message] = ev
	}
	for _, kind := range []string{"tcp", "udp"} {
		for lvl, level := range map[string]schema.Level{"error": schema.LevelError, "warning": schema.LevelWarn, "info": schema.LevelInfo, "debug": schema.LevelDebug} {
			msg := fmt.Sprintf("python %s %s", kind, lvl)
			if lvl == "debug" {
				msg += " retries=3"
			}
			ev, ok := byMsg[msg]
			if !ok {
				t.Errorf("no event %q among %d", msg, len(evs))
				continue
			}
			want{service: "pyapp", level: level, near: sent}.check(t, msg, ev)
		}
	}
	if f := byMsg["python tcp debug retries=3"].Fields; f["retries"] != int64(3) {
		t.Errorf("pairs in a syslog message are fields: %v", f)
	}
}

// Go's log/syslog sends "<PRI>RFC3339 host tag[pid]: msg\n".
func goSyslogSender(t *testing.T, a *sendersAgent, hostname string) {
	sent := time.Now()
	for _, network := range []string{"tcp", "udp"} {
		addr := a.tcp
		if network == "udp" {
			addr = a.udp
		}
		w, err := syslog.Dial(network, addr, syslog.LOG_WARNING|syslog.LOG_LOCAL3, "gosender")
		if err != nil {
			t.Fatal(err)
		}
		w.Warning("go log/syslog over " + network)
		w.Close()
	}
	evs := a.events(t, 2, "--service", "gosender")
	for i, network := range []string{"tcp", "udp"} {
		ev := evs[i]
		if !strings.HasSuffix(ev.Message, network) {
			ev = evs[1-i]
		}
		want{service: "gosender", host: hostname, message: "go log/syslog over " + network, level: schema.LevelWarn, near: sent,
			fields: schema.Fields{"facility": "local3", "procid": int64(os.Getpid())}}.check(t, network, ev)
	}
}

// logger's structured data becomes sd.<id>.<param> fields, searchable.
func loggerSDSender(t *testing.T, a *sendersAgent, hostname string) {
	host, port, _ := net.SplitHostPort(a.tcp)
	sent := time.Now()
	if r := harness.Run(t, 10*time.Second, "logger", "-n", host, "-P", port, "-T", "--rfc5424", "--sd-id", "zoo@123",
		"--sd-param", `tiger="hungry"`, "--sd-param", `zebra="striped \"fast\""`, "-t", "lgsd", "-p", "local0.notice", "sd message"); r.Code != 0 {
		t.Fatalf("logger: %s", r.Stderr)
	}
	evs := a.events(t, 1, "hungry")
	want{service: "lgsd", host: hostname, message: "sd message", level: schema.LevelInfo, near: sent,
		fields: schema.Fields{"sd.zoo@123.tiger": "hungry", "sd.zoo@123.zebra": `striped "fast"`, "facility": "local0"}}.check(t, "logger --sd-id", evs[0])
}

// Docker json-file and Kubernetes CRI files, with lines the runtime split
// into several records, a JSON line inside, and Kubernetes labels from the
// file name.
func containerFiles(t *testing.T, a *sendersAgent) {
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	stamp := func(d time.Duration) string { return at.Add(d).Format(time.RFC3339Nano) }
	cri := filepath.Join(a.work, "containers",
		"shop-api-7d9f8b-x2x4k_prod_api-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log")
	long := strings.Repeat("x", 20000)
	os.WriteFile(cri, []byte(stamp(0)+" stdout F plain line from the app\n"+
		stamp(time.Millisecond)+" stderr P "+long[:16384]+"\n"+
		stamp(2*time.Millisecond)+" stderr F "+long[16384:]+" end\n"+
		stamp(3*time.Millisecond)+` stdout F {"level":"error","msg":"db down","retry":3}`+"\n"), 0o644)
	docker := filepath.Join(a.work, "docker", "0123abcd-json.log")
	os.WriteFile(docker, []byte(`{"log":"GET /healthz 200\n","stream":"stdout","time":"`+stamp(0)+`"}`+"\n"+
		`{"log":"part one, ","stream":"stderr","time":"`+stamp(time.Millisecond)+`"}`+"\n"+
		`{"log":"part two\n","stream":"stderr","time":"`+stamp(2*time.Millisecond)+`"}`+"\n"), 0o644)
	pod := schema.Labels{"pod": "shop-api-7d9f8b-x2x4k", "namespace": "prod", "container": "api"}
	evs := a.events(t, 3, "--service", "k8s")
	want{message: "plain line from the app", near: at, fields: schema.Fields{"stream": "stdout"}, labels: pod}.check(t, "cri 0", evs[0])
	want{message: long + " end", near: at, fields: schema.Fields{"stream": "stderr"}, labels: pod}.check(t, "cri split line", evs[1])
	want{message: "db down", level: schema.LevelError, fields: schema.Fields{"stream": "stdout", "retry": int64(3)}, labels: pod}.check(t, "cri json", evs[2])
	if !evs[0].Time.Equal(at) {
		t.Errorf("cri time %v, want the runtime's %v", evs[0].Time, at)
	}
	if evs := a.events(t, 3, "--label", "namespace=prod"); len(evs) != 3 {
		t.Errorf("label filter found %d", len(evs))
	}
	evs = a.events(t, 2, "--service", "dockerapp", "--label", "env=test")
	want{message: "GET /healthz 200", near: at, fields: schema.Fields{"stream": "stdout"}}.check(t, "docker 0", evs[0])
	want{message: "part one, part two", near: at, fields: schema.Fields{"stream": "stderr"}}.check(t, "docker split line", evs[1])
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// waitUDPListener waits until something listens on the UDP port (a bind
// on it fails).
func waitUDPListener(t *testing.T, port int, p *harness.Proc) {
	t.Helper()
	harness.Eventually(t, 15*time.Second, fmt.Sprintf("udp port %d bound", port), func() (bool, string) {
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return false, p.Output()
		}
		return true, ""
	})
}
