package parse

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

func TestLine(t *testing.T) {
	p, small := New(Options{}), New(Options{MaxLineBytes: 64})
	ts := time.Date(2026, 11, 24, 10, 0, 0, 500000000, time.UTC)
	cases := []struct {
		name string
		in   string
		want Result
	}{
		{"json", `{"ts":"2026-11-24T10:00:00.5Z","level":"error","msg":"db down","user":"u1","n":3}`,
			Result{Time: ts, Level: schema.LevelError, Message: "db down", Fields: schema.Fields{"user": "u1", "n": int64(3)}, Format: JSON}},
		{"json unix ms and aliases", `{"@timestamp":1795557600500,"severity":"WARNING","message":"slow"}`,
			Result{Time: time.UnixMilli(1795557600500), Level: schema.LevelWarn, Message: "slow", Format: JSON}},
		{"json odd keys", `{"msg":"x","a b":"1"}`,
			Result{Level: schema.LevelInfo, Message: "x", Fields: schema.Fields{"a_b": "1"}, Format: JSON}},
		{"not json after all", `{broken`, Result{Level: schema.LevelInfo, Message: "{broken", Format: Plain}},
		{"logfmt", `time=2026-11-24T10:00:00.5Z level=warn msg="disk 90% full" path=/var dev=sda`,
			Result{Time: ts, Level: schema.LevelWarn, Message: "disk 90% full", Fields: schema.Fields{"path": "/var", "dev": "sda"}, Format: Logfmt}},
		{"logfmt escapes", `lvl=debug msg="say \"hi\"" n=1`,
			Result{Level: schema.LevelDebug, Message: `say "hi"`, Fields: schema.Fields{"n": int64(1)}, Format: Logfmt}},
		// Fault 8: a line with words besides its pairs is plain text, kept
		// whole; its pairs are copied into fields beside it.
		{"a bare word keeps the line whole", `lvl=debug msg="say \"hi\"" ok`,
			Result{Level: schema.LevelDebug, Message: `lvl=debug msg="say \"hi\"" ok`, Fields: schema.Fields{"msg": `say "hi"`}, Format: Plain}},
		{"one pair is plain", `retry=3 after failure`, Result{Level: schema.LevelInfo, Message: "retry=3 after failure",
			Fields: schema.Fields{"retry": int64(3)}, Format: Plain}},
		{"sentence with pairs", `Config loaded: retries=3 timeout=30s from /etc/app.conf`,
			Result{Level: schema.LevelInfo, Message: "Config loaded: retries=3 timeout=30s from /etc/app.conf",
				Fields: schema.Fields{"retries": int64(3), "timeout": "30s"}, Format: Plain}},
		{"journal line", `billing.service: Main process exited, code=exited, status=1/FAILURE`,
			Result{Level: schema.LevelInfo, Message: "billing.service: Main process exited, code=exited, status=1/FAILURE",
				Fields: schema.Fields{"code": "exited", "status": "1/FAILURE"}, Format: Plain}},
		{"unterminated quote", `a=1 b="open`, Result{Level: schema.LevelInfo, Message: `a=1 b="open`, Format: Plain}},
		{"equals in a word", `x == y`, Result{Level: schema.LevelInfo, Message: `x == y`, Format: Plain}},
		{"plain level word", `ERROR connection refused`, Result{Level: schema.LevelError, Message: "ERROR connection refused", Format: Plain}},
		{"plain bracketed", `[warn] low memory`, Result{Level: schema.LevelWarn, Message: "[warn] low memory", Format: Plain}},
		{"plain letter", `E: boom`, Result{Level: schema.LevelError, Message: "E: boom", Format: Plain}},
		{"plain no level", `Everything fine`, Result{Level: schema.LevelInfo, Message: "Everything fine", Format: Plain}},
		{"crlf", "INFO x\r", Result{Level: schema.LevelInfo, Message: "INFO x", Format: Plain}},
		{"invalid utf8", "bad \xff byte", Result{Level: schema.LevelInfo, Message: "bad \uFFFD byte", Format: Plain, InvalidUTF8: true}},
		{"truncated", strings.Repeat("é", 40), Result{Level: schema.LevelInfo, Message: strings.Repeat("é", 32), Format: Plain,
			Truncated: true, Fields: schema.Fields{"truncated": int64(80)}}},
	}
	for _, c := range cases {
		parser := p
		if c.name == "truncated" {
			parser = small
		}
		got := parser.Line([]byte(c.in))
		if !got.Time.Equal(c.want.Time) {
			t.Errorf("%s: time %v, want %v", c.name, got.Time, c.want.Time)
		}
		got.Time, c.want.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestJavaPresetStartLines(t *testing.T) {
	start, err := MultilineStart("java")
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]bool{
		"ERROR job failed":                       true,
		`Exception in thread "main" java.lang.X`: true,
		"2026-11-25 10:00:00 INFO ok":            true,
		"java.lang.IllegalStateException: boom":  false,
		"com.example.app.PaymentError":           false,
		"org.acme.Throwable":                     false,
		"\tat com.example.Job.run(Job.java:10)":  false,
		"    at x":                               false,
		"Caused by: java.io.IOException: full":   false,
		"Suppressed: java.io.IOException":        false,
		"... 2 more":                             false,
		"":                                       false,
		// Go panics and Python tracebacks are joined too: a service may
		// run more than one language, and java split them.
		"goroutine 1 [running]:":               false,
		"main.main()":                          false,
		"Traceback (most recent call last):":   false,
		"  File \"x.py\", line 1, in <module>": false,
		"ValueError: card declined":            false,
		"Exception: boom":                      false,
		"KeyboardInterrupt":                    false,
		"Error: connection refused":            true,
		"Warning: low disk":                    true,
		"panic: boom":                          true,
	} {
		if got := start([]byte(line)); got != want {
			t.Errorf("start(%q) = %v, want %v", line, got, want)
		}
	}
}
