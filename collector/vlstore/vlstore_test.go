package vlstore

import (
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

var update = flag.Bool("update", false, "rewrite testdata/lines.golden")

// An event's JSON line: stream fields, the time in Unix ns, typed fields
// as JSON numbers and booleans, a field named like one of the event's own
// parts moved aside. Compared as JSON objects (field order is a map's).
func TestAppendLineGolden(t *testing.T) {
	ev := schema.Event{Time: time.Unix(1796054400, 123456789), Service: "shop", Level: schema.LevelWarn, Host: "h1",
		Message: "paid \"42\" €", Publisher: "h1-abc", Seq: 7,
		Fields: schema.Fields{"duration_ms": int64(12), "ratio": 0.5, "ok": true, "user": "ann", "seq": "mine"},
		Labels: schema.Labels{"env": "prod"}}
	line := AppendLine(nil, &ev)
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("not JSON: %s", line)
	}
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		os.WriteFile("testdata/line.golden.json", append(b, '\n'), 0o644)
	}
	var want map[string]any
	b, err := os.ReadFile("testdata/line.golden.json")
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	json.Unmarshal(b, &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("line %s\nwant %s", gb, wb)
	}
}

func TestNewChecksURLs(t *testing.T) {
	for _, o := range []Options{{InsertURL: "vlinsert:9481", SelectURL: "http://x:1"}, {InsertURL: "http://x:1"}} {
		if _, err := New(o, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// A row as VictoriaLogs answers it (every value text, the time in
// RFC 3339) reads back into the event AppendLine stored: labels told from
// fields, types read from the text, a field moved aside put back.
func TestRowEvent(t *testing.T) {
	row := Row{"_msg": "paid", "_time": "2026-12-01T00:00:00.123456789Z", "_stream": `{host="h1"}`, "_stream_id": "x",
		"service": "shop", "host": "h1", "publisher": "h1-abc", "topic": "shop.warn", "level": "warn", "seq": "7",
		"duration_ms": "12", "ratio": "0.5", "ok": "true", "user": "ann", "field.seq": "mine", "env": "prod", "zlog.labels": "env"}
	ev, err := row.Event()
	if err != nil {
		t.Fatal(err)
	}
	want := schema.Event{Time: time.Unix(1796083200, 123456789).UTC(), Service: "shop", Level: schema.LevelWarn, Host: "h1",
		Message: "paid", Publisher: "h1-abc", Seq: 7,
		Fields: schema.Fields{"duration_ms": int64(12), "ratio": 0.5, "ok": true, "user": "ann", "seq": "mine"},
		Labels: schema.Labels{"env": "prod"}}
	gb, _ := json.Marshal(ev)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("event %s\nwant  %s", gb, wb)
	}
	for _, bad := range []Row{{"_time": "yesterday", "level": "info"}, {"_time": "2026-12-01T00:00:00Z", "level": "loud"},
		{"_time": "2026-12-01T00:00:00Z", "level": "info", "seq": "-1"}} {
		if _, err := bad.Event(); err == nil {
			t.Errorf("row %v read without error", bad)
		}
	}
}
