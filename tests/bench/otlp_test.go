package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	logs "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
	"github.com/zlog/zlog/tests/workload"
)

// otlpRequests renders n workload events as OTLP/HTTP protobuf requests of
// per records each, a resource per service, as an SDK's batch processor
// sends them.
func otlpRequests(n, per int) [][]byte {
	gen := workload.New(workload.Options{Count: n, Seed: 3, Window: time.Hour})
	var out [][]byte
	for !gen.Done() {
		byService := map[string]*logs.ResourceLogs{}
		var order []string
		for i := 0; i < per && !gen.Done(); i++ {
			ev, _ := gen.Next()
			rl := byService[ev.Service]
			if rl == nil {
				rl = &logs.ResourceLogs{Resource: &resourcepb.Resource{Attributes: []*common.KeyValue{
					kv("service.name", str(ev.Service)), kv("host.name", str(ev.Host))}},
					ScopeLogs: []*logs.ScopeLogs{{}}}
				byService[ev.Service] = rl
				order = append(order, ev.Service)
			}
			rec := &logs.LogRecord{TimeUnixNano: uint64(ev.Time.UnixNano()), SeverityNumber: severity(ev.Level),
				SeverityText: ev.Level.String(), Body: str(ev.Message)}
			for k, v := range ev.Fields {
				rec.Attributes = append(rec.Attributes, kv(k, anyValue(v)))
			}
			rl.ScopeLogs[0].LogRecords = append(rl.ScopeLogs[0].LogRecords, rec)
		}
		req := &collogs.ExportLogsServiceRequest{}
		for _, s := range order {
			req.ResourceLogs = append(req.ResourceLogs, byService[s])
		}
		b, _ := proto.Marshal(req)
		out = append(out, b)
	}
	return out
}

func kv(k string, v *common.AnyValue) *common.KeyValue { return &common.KeyValue{Key: k, Value: v} }
func str(s string) *common.AnyValue {
	return &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: s}}
}

func anyValue(v any) *common.AnyValue {
	switch x := v.(type) {
	case int64:
		return &common.AnyValue{Value: &common.AnyValue_IntValue{IntValue: x}}
	case float64:
		return &common.AnyValue{Value: &common.AnyValue_DoubleValue{DoubleValue: x}}
	case bool:
		return &common.AnyValue{Value: &common.AnyValue_BoolValue{BoolValue: x}}
	}
	return str(schema.FormatValue(v))
}

func severity(l schema.Level) logs.SeverityNumber {
	return map[schema.Level]logs.SeverityNumber{schema.LevelTrace: 1, schema.LevelDebug: 5, schema.LevelInfo: 9,
		schema.LevelWarn: 13, schema.LevelError: 17, schema.LevelFatal: 21}[l]
}

// postAll posts the requests from senders concurrent clients and fails the
// test on any answer but 200.
func postAll(t *testing.T, url string, reqs [][]byte, senders int) {
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < len(reqs); i += senders {
				resp, err := http.Post(url, "application/x-protobuf", bytes.NewReader(reqs[i]))
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("POST %s: %s: %s", url, resp.Status, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

var intakeAddr = regexp.MustCompile(`intake="?otlp=([^"\s,]+)`)

// otlpIntake: 100,000 workload events as OTLP/HTTP protobuf requests of
// 512 records (the SDK batch processor's size) from 4 clients, into
// zlog-agent's --otlp-http until stored in the collector's index (with a
// spool, and without one: then each request waits for the collector's
// acknowledgement), and into VictoriaLogs' /insert/opentelemetry/v1/logs
// until counted back. CPU is each process's own: agent + collector for
// zlog.
func (e *env) otlpIntake(t *testing.T) {
	const n, per, senders = 100_000, 512, 4
	reqs := otlpRequests(n, per)
	const section = "OTLP/HTTP intake, 100k records in requests of 512, 4 clients"
	var zlogSpooled float64
	for _, spooled := range []bool{true, false} {
		var rate, cpu []float64
		for run := 0; run < e.runs; run++ {
			work := e.dir(fmt.Sprintf("otlp-%v-%d", spooled, run))
			col := harness.StartCollector(t, e.bin, work, filepath.Join(work, "data"))
			args := []string{"--collector", col.XSub, "--otlp-http", "127.0.0.1:0"}
			if spooled {
				args = append(args, "--spool", filepath.Join(work, "spool"))
			}
			agent := harness.Start(t, work, "agent", filepath.Join(e.bin, "zlog-agent"), args...)
			addr := agent.WaitLine(t, intakeAddr, 15*time.Second)[1]
			cpu0 := procCPUSeconds(t, agent.Cmd.Process.Pid) + procCPUSeconds(t, col.Cmd.Process.Pid)
			start := time.Now()
			postAll(t, "http://"+addr+"/v1/logs", reqs, senders)
			done := waitIndexed(t, col, n, 5*time.Minute)
			secs := done.Sub(start).Seconds()
			cpuSecs := procCPUSeconds(t, agent.Cmd.Process.Pid) + procCPUSeconds(t, col.Cmd.Process.Pid) - cpu0
			rate, cpu = append(rate, n/secs), append(cpu, cpuSecs)
			t.Logf("OTLP intake (spool %v) run %d: %.0f records/s, %.2f CPU s", spooled, run, n/secs, cpuSecs)
			agent.Signal(t, 15, time.Minute)
			col.Signal(t, 15, time.Minute)
		}
		how := "with --spool"
		if !spooled {
			how = "without a spool (2xx after the collector's acknowledgement)"
		}
		e.report.add(section, "zlog-agent --otlp-http → collector, stored, "+how, "records/s", rate, "", nil)
		e.report.add(section, "zlog agent + collector CPU per 100k records, "+how, "CPU s", cpu, "", nil)
		if spooled {
			zlogSpooled = median(rate)
		}
	}
	bin := vlBinary(t)
	var rate, cpu []float64
	for run := 0; run < e.runs; run++ {
		work := e.dir(fmt.Sprintf("vl-otlp-%d", run))
		vl := startVL(t, bin, work)
		cpu0 := procCPUSeconds(t, vl.proc.Cmd.Process.Pid)
		start := time.Now()
		postAll(t, vl.url+"/insert/opentelemetry/v1/logs", reqs, senders)
		done := vl.waitCount(t, n, 5*time.Minute)
		secs := done.Sub(start).Seconds()
		rate, cpu = append(rate, n/secs), append(cpu, procCPUSeconds(t, vl.proc.Cmd.Process.Pid)-cpu0)
		vl.proc.Signal(t, 15, time.Minute)
	}
	e.report.add(section, "VictoriaLogs /insert/opentelemetry/v1/logs, counted back", "records/s", rate, "", nil)
	e.report.add(section, "VictoriaLogs CPU per 100k records", "CPU s", cpu, "", nil)
	e.report.ratio("zlog OTLP intake (spooled) / VictoriaLogs OTLP intake, records/s", zlogSpooled/median(rate))
}
