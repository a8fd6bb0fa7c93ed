package intake

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	logs "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/zlog/zlog/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeSink keeps what it accepts, or refuses everything with refuse.
type fakeSink struct {
	mu     sync.Mutex
	evs    []schema.Event
	refuse error
}

func (f *fakeSink) Accept(ctx context.Context, evs []schema.Event) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(evs))
	for i := range evs {
		if f.refuse != nil {
			errs[i] = f.refuse
			continue
		}
		f.evs = append(f.evs, evs[i])
	}
	return errs
}

// serve starts a listener of protocol p on loopback.
func serve(t *testing.T, p Protocol, sink Sink, tweak func(*Options)) string {
	t.Helper()
	o := Options{Protocol: p, Addr: "127.0.0.1:0", Host: "agent-host", Labels: schema.Labels{"env": "test"}}
	if tweak != nil {
		tweak(&o)
	}
	s, err := New(o, sink, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + s.Addr()
}

func post(t *testing.T, url, contentType string, body []byte, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// golden compares got (as indented JSON) with testdata/name.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, append(b, '\n'), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(want) != string(b)+"\n" {
		t.Errorf("%s differs:\n got %s\nwant %s", name, b, want)
	}
}

// The same OTLP request as JSON, gzip'd JSON and protobuf gives the same
// events: resource service.name and host.name as service and host (the
// service made valid), other resource attributes as labels, severity as
// level, a string body as the message, a map body as fields with its msg
// as the message, typed attributes, hex trace and span ids, the observed
// time when the time is 0.
func TestOTLPMapping(t *testing.T) {
	doc, err := os.ReadFile("testdata/otlp.json")
	if err != nil {
		t.Fatal(err)
	}
	req := &collogs.ExportLogsServiceRequest{}
	if err := unmarshalOTLPJSON(doc, req); err != nil {
		t.Fatal(err)
	}
	pb, _ := proto.Marshal(req)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(doc)
	zw.Close()
	for _, c := range []struct {
		name, ct string
		body     []byte
		header   []string
	}{
		{"json", "application/json", doc, nil},
		{"json+gzip", "application/json", gz.Bytes(), []string{"Content-Encoding", "gzip"}},
		{"protobuf", "application/x-protobuf", pb, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			sink := &fakeSink{}
			resp, body := post(t, serve(t, OTLP, sink, nil)+"/v1/logs", c.ct, c.body, c.header...)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ct {
				t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			golden(t, "otlp.events.golden", sink.evs)
		})
	}
}

// A record that cannot be an event (here: more fields than an event may
// have) is left out and reported as OTLP's partial success; the others
// are taken.
func TestOTLPPartialSuccess(t *testing.T) {
	var attrs []*common.KeyValue
	for i := range schema.MaxFields + 1 {
		attrs = append(attrs, &common.KeyValue{Key: fmt.Sprintf("k%d", i), Value: &common.AnyValue{Value: &common.AnyValue_IntValue{IntValue: int64(i)}}})
	}
	str := func(s string) *common.AnyValue {
		return &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: s}}
	}
	req := &collogs.ExportLogsServiceRequest{ResourceLogs: []*logs.ResourceLogs{{ScopeLogs: []*logs.ScopeLogs{{LogRecords: []*logs.LogRecord{
		{Body: str("fine")}, {Body: str("too many fields"), Attributes: attrs}, {Body: str("fine too")},
	}}}}}}
	pb, _ := proto.Marshal(req)
	sink := &fakeSink{}
	resp, body := post(t, serve(t, OTLP, sink, nil)+"/v1/logs", "application/x-protobuf", pb)
	var out collogs.ExportLogsServiceResponse
	if err := proto.Unmarshal([]byte(body), &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	ps := out.GetPartialSuccess()
	if ps.GetRejectedLogRecords() != 1 || !strings.Contains(ps.GetErrorMessage(), "fields") || len(sink.evs) != 2 {
		t.Fatalf("partial success %v, %d taken; want 1 rejected for its fields, 2 taken", ps, len(sink.evs))
	}
}

func TestJSONLine(t *testing.T) {
	body := `{"_msg":"paid","_time":"2026-11-30T16:00:00Z","level":"warn","service":"shop","user":"ann","n":5,"env":"prod"}
{"message":"no service","ts":1796054400.5,"host":"h1","service.name":"Billing API"}

`
	sink := &fakeSink{}
	base := serve(t, JSONLine, sink, nil)
	resp, out := post(t, base+"/insert/jsonline?_stream_fields=env,service", "application/stream+json", []byte(body))
	if resp.StatusCode != 200 {
		t.Fatalf("%d: %s", resp.StatusCode, out)
	}
	resp, out = post(t, base+"/insert/jsonline?_msg_field=text&_time_field=when", "application/stream+json",
		[]byte(`{"text":"named by parameters","when":"2026-11-30T16:00:02.123456789Z"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("%d: %s", resp.StatusCode, out)
	}
	resp, out = post(t, base+"/insert/jsonline", "application/stream+json", []byte(`{"text":"named by headers","when":"2026-11-30T16:00:03Z"}`),
		"VL-Msg-Field", "text", "VL-Time-Field", "when")
	if resp.StatusCode != 200 {
		t.Fatalf("%d: %s", resp.StatusCode, out)
	}
	golden(t, "jsonline.events.golden", sink.evs)
}

// A line that is not a JSON object refuses the whole request, naming it:
// nothing of the request is taken.
func TestJSONLineBadLine(t *testing.T) {
	sink := &fakeSink{}
	resp, out := post(t, serve(t, JSONLine, sink, nil)+"/insert/jsonline", "application/stream+json", []byte("{\"msg\":\"ok\"}\nnot json\n"))
	if resp.StatusCode != 400 || !strings.Contains(out, "line 2") || len(sink.evs) != 0 {
		t.Fatalf("%d %q, %d taken; want 400 naming line 2, none taken", resp.StatusCode, out, len(sink.evs))
	}
}

// The bulk API: index and create take their document (ECS names or plain
// ones), delete and update are refused per item, a document that is not
// JSON too; the response is Elasticsearch's.
func TestESBulk(t *testing.T) {
	body := `{"index":{"_index":"app-2026.11.30","_id":"a1"}}
{"@timestamp":"2026-11-30T16:00:00Z","message":"ecs doc","log":{"level":"error"},"service":{"name":"billing"},"host":{"name":"h2"},"code":7}
{"create":{}}
{"time":"2026-11-30T16:00:01Z","level":"debug","msg":"plain doc","service":"shop"}
{"delete":{"_index":"x","_id":"a1"}}
{"update":{"_id":"a1"}}
{"doc":{"message":"changed"}}
{"index":{}}
not json
`
	sink := &fakeSink{}
	resp, out := post(t, serve(t, ESBulk, sink, nil)+"/logs/_bulk", "application/x-ndjson", []byte(body))
	if resp.StatusCode != 200 {
		t.Fatalf("%d: %s", resp.StatusCode, out)
	}
	var r struct {
		Errors bool                        `json:"errors"`
		Items  []map[string]map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range r.Items {
		for action, v := range it {
			got = append(got, fmt.Sprintf("%s %v %v", action, v["_index"], v["status"]))
		}
	}
	want := "index app-2026.11.30 201,create logs 201,delete x 400,update logs 400,index logs 400"
	if !r.Errors || strings.Join(got, ",") != want {
		t.Errorf("items %q (errors %v), want %q", got, r.Errors, want)
	}
	golden(t, "esbulk.events.golden", sink.evs)
}

// Refusals: a body over the limit 413, a bad encoding 400, no token 401,
// a busy Sink 503 with Retry-After (and 429 per item for bulk). Each is
// counted.
func TestRefusals(t *testing.T) {
	busy := &fakeSink{refuse: fmt.Errorf("%w: queue full", ErrBusy)}
	small := func(o *Options) { o.MaxBodyBytes = 64 }
	token := func(o *Options) { o.Token = "s3cret" }
	big := []byte(`{"msg":"` + strings.Repeat("x", 100) + `"}`)
	for _, c := range []struct {
		name   string
		url    string
		header []string
		body   []byte
		code   int
		check  func(*http.Response, string) bool
	}{
		{"too large", serve(t, JSONLine, &fakeSink{}, small) + "/insert/jsonline", nil, big, 413, nil},
		{"too large after gzip", serve(t, JSONLine, &fakeSink{}, small) + "/insert/jsonline", []string{"Content-Encoding", "gzip"}, gzipped(big), 413, nil},
		{"bad gzip", serve(t, JSONLine, &fakeSink{}, nil) + "/insert/jsonline", []string{"Content-Encoding", "gzip"}, []byte("nope"), 400, nil},
		{"no token", serve(t, JSONLine, &fakeSink{}, token) + "/insert/jsonline", nil, []byte(`{"msg":"x"}`), 401, nil},
		{"wrong token", serve(t, JSONLine, &fakeSink{}, token) + "/insert/jsonline", []string{"Authorization", "Bearer nope"}, []byte(`{"msg":"x"}`), 401, nil},
		{"token", serve(t, JSONLine, &fakeSink{}, token) + "/insert/jsonline", []string{"Authorization", "Bearer s3cret"}, []byte(`{"msg":"x"}`), 200, nil},
		{"busy", serve(t, JSONLine, busy, nil) + "/insert/jsonline", nil, []byte(`{"msg":"x"}`), 503,
			func(r *http.Response, _ string) bool { return r.Header.Get("Retry-After") != "" }},
		{"busy bulk", serve(t, ESBulk, busy, nil) + "/_bulk", nil, []byte("{\"index\":{}}\n{\"msg\":\"x\"}\n"), 200,
			func(_ *http.Response, body string) bool { return strings.Contains(body, `"status":429`) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, out := post(t, c.url, "application/stream+json", c.body, c.header...)
			if resp.StatusCode != c.code || c.check != nil && !c.check(resp, out) {
				t.Errorf("%d %v: %s", resp.StatusCode, resp.Header, out)
			}
		})
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestSeverityLevel(t *testing.T) {
	for _, c := range []struct {
		n    logs.SeverityNumber
		text string
		want schema.Level
	}{
		{0, "", schema.LevelInfo}, {1, "", schema.LevelTrace}, {5, "", schema.LevelDebug}, {9, "", schema.LevelInfo},
		{12, "", schema.LevelInfo}, {13, "", schema.LevelWarn}, {17, "", schema.LevelError}, {21, "", schema.LevelFatal},
		{24, "", schema.LevelFatal}, {30, "", schema.LevelFatal}, {0, "WARN", schema.LevelWarn}, {0, "nonsense", schema.LevelInfo},
	} {
		if got := severityLevel(c.n, c.text); got != c.want {
			t.Errorf("severity %d %q: %v, want %v", c.n, c.text, got, c.want)
		}
	}
}

// Bodies compressed with gzip or zstd are read as they are sent.
func TestCompressedBodies(t *testing.T) {
	doc := []byte(`{"msg":"squeezed"}` + "\n")
	enc, _ := zstd.NewWriter(nil)
	for _, c := range []struct {
		encoding string
		body     []byte
	}{{"gzip", gzipped(doc)}, {"zstd", enc.EncodeAll(doc, nil)}} {
		sink := &fakeSink{}
		resp, out := post(t, serve(t, JSONLine, sink, nil)+"/insert/jsonline", "application/stream+json", c.body, "Content-Encoding", c.encoding)
		if resp.StatusCode != 200 || len(sink.evs) != 1 || sink.evs[0].Message != "squeezed" {
			t.Errorf("%s: %d %s, %+v", c.encoding, resp.StatusCode, out, sink.evs)
		}
	}
}

// With a certificate and key the listener serves HTTPS (and the token
// over it); plain HTTP is not answered as a request.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	sink := &fakeSink{}
	base := serve(t, JSONLine, sink, func(o *Options) { o.TLSCert, o.TLSKey, o.Token = certFile, keyFile, "s3cret" })
	addr := strings.TrimPrefix(base, "http://")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/insert/jsonline", strings.NewReader(`{"msg":"over tls"}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(sink.evs) != 1 {
		t.Fatalf("HTTPS: %d, %d taken", resp.StatusCode, len(sink.evs))
	}
	if resp, _ := post(t, base+"/insert/jsonline", "application/stream+json", []byte(`{"msg":"plain"}`), "Authorization", "Bearer s3cret"); resp.StatusCode != http.StatusBadRequest || len(sink.evs) != 1 {
		t.Fatalf("plain HTTP to the TLS listener: %d, %d taken", resp.StatusCode, len(sink.evs))
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zlog test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
