package tests

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
)

// intakeReady is the agent's ready line naming its HTTP intakes.
var intakeReady = regexp.MustCompile(`msg="agent ready" syslog=\S* intake="?([^"\s]+)`)

// startIntakeAgent starts zlog-agent with HTTP intakes and returns it and
// each intake's address by protocol.
func startIntakeAgent(t *testing.T, work, name, xsub string, args ...string) (*harness.Proc, map[string]string) {
	t.Helper()
	p := harness.Start(t, work, name, filepath.Join(binDir, "zlog-agent"), append([]string{"--collector", xsub}, args...)...)
	m := p.WaitLine(t, intakeReady, 15*time.Second)
	addrs := map[string]string{}
	for _, kv := range strings.Split(m[1], ",") {
		if p, a, ok := strings.Cut(kv, "="); ok {
			addrs[p] = a
		}
	}
	return p, addrs
}

// The OpenTelemetry Go SDK (sdk/log with the otlploghttp exporter, as an
// application would use it) emits 10,000 records with attributes and
// severities to zlog-agent's --otlp-http; each is stored exactly once with
// its service, host, level, time, message and typed fields.
func TestIntakeOpenTelemetrySDK(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agent, addrs := startIntakeAgent(t, work, "agent", col.XSub, "--otlp-http", "127.0.0.1:0", "--spool", filepath.Join(work, "spool"))

	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(addrs["otlp"]), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("checkout"), semconv.HostName("node-7"),
		semconv.DeploymentEnvironment("prod"))
	// The SDK's batch processor drops what overflows its queue (2,048 by
	// default) without telling anyone; a queue of n keeps all of them.
	provider := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp, sdklog.WithMaxQueueSize(n))))
	logger := provider.Logger("shop/payments")
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	severities := []otellog.Severity{otellog.SeverityDebug, otellog.SeverityInfo, otellog.SeverityWarn, otellog.SeverityError}
	for i := 0; i < n; i++ {
		var r otellog.Record
		r.SetTimestamp(base.Add(time.Duration(i) * time.Millisecond))
		r.SetSeverity(severities[i%4])
		r.SetBody(attribute.StringValue(fmt.Sprintf("event %d", i)))
		r.AddAttributes(attribute.Int("order", i), attribute.Float64("amount", float64(i)/4), attribute.Bool("paid", i%2 == 0),
			attribute.String("user", fmt.Sprintf("u%d", i%7)))
		logger.Emit(ctx, r)
	}
	if err := provider.Shutdown(ctx); err != nil { // flushes; fails if a request was refused
		t.Fatal(err)
	}
	waitStored(t, data, n, "service:checkout")
	evs, _ := logqJSON(t, data, "--since", "1h", "--limit", "0", "service:checkout")
	seen := make(map[string]bool, n)
	levels := []schema.Level{schema.LevelDebug, schema.LevelInfo, schema.LevelWarn, schema.LevelError}
	for _, ev := range evs {
		if seen[ev.Message] {
			t.Fatalf("%q stored twice", ev.Message)
		}
		seen[ev.Message] = true
		var i int
		fmt.Sscanf(ev.Message, "event %d", &i)
		want := base.Add(time.Duration(i) * time.Millisecond)
		if ev.Host != "node-7" || ev.Level != levels[i%4] || !ev.Time.Equal(want) || ev.Labels["deployment.environment"] != "prod" ||
			ev.Fields["order"] != int64(i) || number(ev.Fields["amount"]) != float64(i)/4 || ev.Fields["paid"] != (i%2 == 0) ||
			ev.Fields["user"] != fmt.Sprintf("u%d", i%7) || ev.Fields["scope.name"] != "shop/payments" {
			t.Fatalf("event %d stored as %+v", i, ev)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct events stored, want %d", len(seen), n)
	}
	// Typed fields compare as numbers.
	if r := harness.Logq(t, binDir, "search", "--data", data, "--since", "1h", "--count", "service:checkout amount:>=2000"); strings.TrimSpace(r.Stdout) != "2000" {
		t.Errorf("amount:>=2000 counts %q, want 2000", r.Stdout)
	}
	if code := agent.Signal(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
}

// curl posts jsonline, as VictoriaLogs' users do; the parameters name the
// message and time fields, and stream fields become labels.
func TestIntakeJSONLineCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("needs curl (make deps installs it)")
	}
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	_, addrs := startIntakeAgent(t, work, "agent", col.XSub, "--jsonline", "127.0.0.1:0")
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	body := fmt.Sprintf(`{"log":"disk full","ts":%q,"level":"error","service":"store","zone":"eu-1","free_mb":0}`+"\n"+
		`{"log":"disk ok","ts":%q,"service":"store","zone":"eu-1","free_mb":512}`+"\n", at, at)
	out, err := exec.Command(curl, "-sS", "-w", "%{http_code}", "-H", "Content-Type: application/stream+json", "--data-binary", body,
		"http://"+addrs["jsonline"]+"/insert/jsonline?_msg_field=log&_time_field=ts&_stream_fields=zone").CombinedOutput()
	if err != nil || string(out) != "200" {
		t.Fatalf("curl: %v %s", err, out)
	}
	waitStored(t, data, 2, "service:store")
	evs, _ := logqJSON(t, data, "--since", "1h", "service:store", "free_mb:<100")
	if len(evs) != 1 || evs[0].Message != "disk full" || evs[0].Level != schema.LevelError || evs[0].Labels["zone"] != "eu-1" ||
		evs[0].Time.UTC().Format(time.RFC3339Nano) != at {
		t.Fatalf("stored %+v", evs)
	}
	out, _ = exec.Command(curl, "-sS", "-w", " %{http_code}", "--data-binary", "{\"log\":\"ok\"}\nnot json\n",
		"http://"+addrs["jsonline"]+"/insert/jsonline").CombinedOutput()
	if !strings.HasSuffix(string(out), " 400") || !strings.Contains(string(out), "line 2") {
		t.Errorf("a bad line answered %q, want 400 naming line 2", out)
	}
}

// The agent is SIGKILLed while clients post numbered jsonline batches
// with --spool, the collector stopped. What was answered 2xx is never
// lost: after a restart on
// the same spool every such event is stored exactly once. A batch in
// flight when the agent died got no answer; the client retries it, so
// its events may be stored twice (they were spooled before the kill):
// the test allows repeats there and nowhere else.
func TestIntakeAgentKilledWithSpool(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	spool := filepath.Join(work, "spool")
	agent, addrs := startIntakeAgent(t, work, "agent-1", col.XSub, "--jsonline", "127.0.0.1:0", "--spool", spool, "--service", "killed")
	const clients, batches, per = 4, 60, 100
	var mu sync.Mutex
	unanswered := map[int]bool{} // batch → no 2xx yet
	var wg sync.WaitGroup
	url := func() string { return "http://" + addrs["jsonline"] + "/insert/jsonline" }
	send := func(b int) bool {
		var body bytes.Buffer
		for i := 0; i < per; i++ {
			fmt.Fprintf(&body, `{"msg":"event %d"}`+"\n", b*per+i)
		}
		resp, err := http.Post(url(), "application/stream+json", &body)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	// The collector is stopped meanwhile, so what is answered 200 before
	// the kill is in the agent's spool and nowhere else.
	col.Cmd.Process.Signal(syscall.SIGSTOP)
	killed := make(chan struct{})
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := c; b < batches; b += clients {
				if !send(b) {
					mu.Lock()
					unanswered[b] = true
					mu.Unlock()
				}
				if b == batches/2 {
					close(killed)
				}
			}
		}()
	}
	<-killed
	agent.Signal(t, syscall.SIGKILL, 10*time.Second)
	wg.Wait()
	col.Cmd.Process.Signal(syscall.SIGCONT)
	if stored := harness.Logq(t, binDir, "search", "--data", data, "--count", "service:killed"); strings.TrimSpace(stored.Stdout) != "0" {
		t.Fatalf("%s events stored while the collector was stopped", stored.Stdout)
	}
	agent, addrs = startIntakeAgent(t, work, "agent-2", col.XSub, "--jsonline", "127.0.0.1:0", "--spool", spool, "--service", "killed")
	for b := range unanswered { // the clients' retries
		if !send(b) {
			t.Fatalf("batch %d refused after the restart", b)
		}
	}
	t.Logf("%d of %d batches got no answer before the kill and were sent again", len(unanswered), batches)
	harness.Eventually(t, time.Minute, "every event stored", func() (bool, string) {
		r := harness.Logq(t, binDir, "search", "--data", data, "--count", "service:killed")
		var got int
		fmt.Sscan(r.Stdout, &got)
		return got >= batches*per, r.Stdout
	})
	if code := agent.Signal(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
	evs, _ := logqJSON(t, data, "--since", "1h", "--limit", "0", "service:killed")
	count := map[int]int{}
	for _, ev := range evs {
		var i int
		fmt.Sscanf(ev.Message, "event %d", &i)
		count[i]++
	}
	repeated := 0
	for i := 0; i < batches*per; i++ {
		switch {
		case count[i] == 0:
			t.Fatalf("event %d lost", i)
		case count[i] > 1 && !unanswered[i/per]:
			t.Fatalf("event %d of batch %d, answered 200, stored %d times", i, i/per, count[i])
		case count[i] > 1:
			repeated++
		}
	}
	t.Logf("%d events of unanswered batches stored twice (spooled before the kill, then retried)", repeated)
}

// number is a numeric field as a float64 (a whole double reads back from
// JSON as an integer).
func number(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return -1
}

// Shippers of the Elasticsearch bulk API send 10,000 lines each to
// zlog-agent's --es-bulk: rsyslog's omelasticsearch with an ECS template
// (as the README shows) and syslog-ng's elasticsearch-http() with its
// stock template. Each line is stored once with its service, host, level,
// message and time.
func TestIntakeElasticsearchShippers(t *testing.T) {
	tools := harness.PeerTools(t)
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agent, addrs := startIntakeAgent(t, work, "agent", col.XSub, "--es-bulk", "127.0.0.1:0", "--spool", filepath.Join(work, "spool"))
	host, port, _ := net.SplitHostPort(addrs["es-bulk"])
	hostname, _ := os.Hostname()
	hostname, _, _ = strings.Cut(hostname, ".")
	const n = 10000
	t.Run("rsyslog omelasticsearch", func(t *testing.T) {
		dir := filepath.Join(work, "rsyslog")
		in := writeNumbered(t, dir, "rsyslog line", n)
		conf := filepath.Join(dir, "rsyslog.conf")
		os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory="%s")
module(load="imfile")
module(load="omelasticsearch")
`+rsyslogECS+`input(type="imfile" File="%s" Tag="rsapp" Severity="warning")
action(type="omelasticsearch" server="%s" serverport="%s" template="ecs" searchIndex="logs" bulkmode="on"
       queue.type="linkedlist" queue.size="20000" action.resumeRetryCount="-1")
`, dir, in, host, port)), 0o644)
		sent := time.Now()
		startRsyslog(t, tools, dir, conf)
		checkShipped(t, data, "rsapp", "rsyslog line", n, want{service: "rsapp", host: hostname, level: schema.LevelWarn, near: sent})
	})
	t.Run("syslog-ng elasticsearch-http", func(t *testing.T) {
		dir := filepath.Join(work, "syslog-ng")
		in := writeNumbered(t, dir, "syslog-ng line", n)
		conf := filepath.Join(dir, "syslog-ng.conf")
		os.WriteFile(conf, []byte(fmt.Sprintf(`@version: 3.38
@include "%s"
options { use-dns(no); use-fqdn(no); stats_freq(0); };
source s_in { file("%s" follow-freq(0.2) program-override("ngapp") flags(no-parse) default-priority(err)); };
destination d_es { elasticsearch-http(url("http://%s/_bulk") index("logs") type("") batch-lines(500) batch-timeout(200)); };
log { source(s_in); destination(d_es); };
`, filepath.Join(tools, "usr/share/syslog-ng/include/scl/elasticsearch/elastic-http.conf"), in, addrs["es-bulk"])), 0o644)
		sent := time.Now()
		harness.Start(t, dir, "syslog-ng", "env", "LD_LIBRARY_PATH="+filepath.Join(tools, "usr/lib/syslog-ng"),
			filepath.Join(tools, "usr/sbin/syslog-ng"), "-F", "-f", conf, "-R", filepath.Join(dir, "persist"),
			"-p", filepath.Join(dir, "pid"), "-c", filepath.Join(dir, "ctl"), "--module-path="+filepath.Join(tools, "usr/lib/syslog-ng/3.38"))
		checkShipped(t, data, "ngapp", "syslog-ng line", n, want{service: "ngapp", host: hostname, level: schema.LevelError, near: sent})
	})
	if code := agent.Signal(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
}

// writeNumbered writes n lines "<prefix> <i>" to dir/in.log.
func writeNumbered(t *testing.T, dir, prefix string, n int) string {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	path := filepath.Join(dir, "in.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkShipped waits for n events of service and checks each line
// "<prefix> <i>" came exactly once, as w says.
func checkShipped(t *testing.T, data, service, prefix string, n int, w want) {
	t.Helper()
	waitStored(t, data, n, "service:"+service)
	evs, _ := logqJSON(t, data, "--since", "1h", "--limit", "0", "service:"+service)
	seen := map[string]bool{}
	for _, ev := range evs {
		if seen[ev.Message] {
			t.Fatalf("%q stored twice", ev.Message)
		}
		seen[ev.Message] = true
		w.message = ev.Message
		w.check(t, ev.Message, ev)
	}
	for i := 0; i < n; i++ {
		if m := fmt.Sprintf("%s %d", prefix, i); !seen[m] {
			t.Fatalf("%q missing", m)
		}
	}
}

// rsyslog's omelasticsearch ships 10,000 lines, written over about two
// seconds, to an agent with --spool that is SIGKILLed mid-stream and
// started again on the same address. rsyslog retries the bulk request it
// got no answer for, so the lines of that one batch (at most its dequeue
// batch size) may be stored twice; every line is stored, and nothing else
// twice.
func TestIntakeShipperAgentKilled(t *testing.T) {
	tools := harness.PeerTools(t)
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	addr := "127.0.0.1:" + harness.FreePort(t)
	spool := filepath.Join(work, "spool")
	start := func(name string) (*harness.Proc, string) {
		p, _ := startIntakeAgent(t, work, name, col.XSub, "--es-bulk", addr, "--spool", spool, "--http", "127.0.0.1:0")
		return p, "http://" + p.WaitLine(t, regexp.MustCompile(`msg=metrics http=(\S+)`), 5*time.Second)[1] + "/metrics"
	}
	agent, metrics := start("agent-1")
	host, port, _ := net.SplitHostPort(addr)
	dir := filepath.Join(work, "rsyslog")
	os.MkdirAll(dir, 0o755)
	in := filepath.Join(dir, "in.log")
	os.WriteFile(in, nil, 0o644)
	const n, batch = 10000, 200
	conf := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory="%s")
module(load="imfile")
module(load="omelasticsearch")
`+rsyslogECS+`input(type="imfile" File="%s" Tag="killed")
action(type="omelasticsearch" server="%s" serverport="%s" template="ecs" searchIndex="logs" bulkmode="on"
       queue.type="linkedlist" queue.size="20000" queue.dequeueBatchSize="%d"
       action.resumeRetryCount="-1" action.resumeInterval="1")
`, dir, in, host, port, batch)), 0o644)
	startRsyslog(t, tools, dir, conf)
	writing := make(chan struct{})
	go func() { // 10,000 lines in steps of 250 every 50 ms
		defer close(writing)
		f, _ := os.OpenFile(in, os.O_APPEND|os.O_WRONLY, 0)
		defer f.Close()
		for i := 0; i < n; i++ {
			fmt.Fprintf(f, "rsyslog line %d\n", i)
			if i%250 == 249 {
				time.Sleep(50 * time.Millisecond) // pacing the writer, not waiting on a condition
			}
		}
	}()
	harness.Eventually(t, 30*time.Second, "a part shipped", func() (bool, string) {
		v, _, _ := harness.TryMetric(metrics, fmt.Sprintf(`zlog_agent_intake_events_total{listen=%q,protocol="es-bulk"}`, addr))
		return v >= n/4, fmt.Sprint(v)
	})
	agent.Signal(t, syscall.SIGKILL, 10*time.Second)
	agent, _ = start("agent-2")
	<-writing
	// Not a count of n: the batch sent again may be stored twice, so the
	// wait is for every line, counted once.
	count := map[string]int{}
	harness.Eventually(t, 15*time.Second, "every line stored", func() (bool, string) {
		evs, _ := logqJSON(t, data, "--since", "1h", "--limit", "0", "service:killed")
		clear(count)
		for _, ev := range evs {
			count[ev.Message]++
		}
		return len(count) == n, fmt.Sprintf("%d distinct of %d events", len(count), len(evs))
	})
	if code := agent.Signal(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
	evs, _ := logqJSON(t, data, "--since", "1h", "--limit", "0", "service:killed")
	clear(count)
	for _, ev := range evs {
		count[ev.Message]++
	}
	twice := 0
	for i := 0; i < n; i++ {
		switch c := count[fmt.Sprintf("rsyslog line %d", i)]; {
		case c == 0:
			t.Fatalf("rsyslog line %d lost", i)
		case c > 2:
			t.Fatalf("rsyslog line %d stored %d times", i, c)
		case c == 2:
			twice++
		}
	}
	if twice > batch {
		t.Fatalf("%d lines stored twice, more than the one batch (%d) in flight at the kill", twice, batch)
	}
	t.Logf("%d lines stored twice: the batch rsyslog sent again after the kill", twice)
}

// rsyslogECS is the README's omelasticsearch template: ECS names.
const rsyslogECS = `template(name="ecs" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host.name" name="hostname" format="jsonf")
  property(outname="service.name" name="programname" format="jsonf")
  property(outname="log.level" name="syslogseverity-text" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}
`

// startRsyslog runs the unpacked rsyslogd in the foreground with conf.
func startRsyslog(t *testing.T, tools, dir, conf string) *harness.Proc {
	t.Helper()
	return harness.Start(t, dir, "rsyslogd", filepath.Join(tools, "usr/sbin/rsyslogd"), "-n", "-f", conf,
		"-i", filepath.Join(dir, "rsyslog.pid"), "-M", filepath.Join(tools, "usr/lib/x86_64-linux-gnu/rsyslog"))
}
