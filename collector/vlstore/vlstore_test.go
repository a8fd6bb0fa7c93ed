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
