package vlsearch

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

var update = flag.Bool("update", false, "rewrite testdata/translate.golden")

// Each query of the language, in LogsQL, and whether the translation is
// exact (VictoriaLogs may count it) or matches more (rows are checked).
// Every translation must also parse in VictoriaLogs: the corpus test
// (tests/query_corpus_test.go) runs them against a real one.
func TestTranslateGolden(t *testing.T) {
	queries := []string{
		`timeout`, `"connection refused"`, `time*`, `timeout OR refused`, `NOT timeout`, `-service:db slow`,
		`service:api`, `service:pay*`, `host:host-7`, `topic:api.error`, `publisher:p1`, `seq:5`, `seq:>5`,
		`level:error`, `level:>=warn`, `level:<info`, `level:warning`, `level:*`,
		`duration_ms:>500`, `duration_ms:[100, 200)`, `duration_ms:(1.5, 2]`, `status:=500`, `status:!=200`,
		`status:*`, `-status:*`, `status:(404 OR 500)`, `user:u123*`, `user:"a b"`, `user:>m`, `user:[a, b]`,
		`user:~"^u1[0-9]$"`, `~"took [0-9]ms"`, `="exact message"`, `_msg:~"^pay"`, `_msg:word`,
		`_time:5m`, `_time:5m OR level:error`, `NOT _time:5m`, `_stream:{env="prod", service="api"}`,
		`seq:"mine"`, `"odd name":x`, `level:error | stats count() by (service)`, `*`, `!*`,
		`NOT (user:>m)`, `(user:>m) OR timeout`, `"***"`,
	}
	var b strings.Builder
	for _, text := range queries {
		x, err := ql.Parse(text)
		if err != nil {
			t.Fatalf("parse %q: %v", text, err)
		}
		tr := &translator{fields: []string{"user", "duration_ms"}}
		f := tr.query(query.Query{Expr: x}, math.MinInt64, math.MaxInt64)
		fmt.Fprintf(&b, "%s\n\t%s\n\texact=%v\n", text, f.text, f.exact)
	}
	tr := &translator{}
	flags := query.Query{Services: []string{"api", "web"}, TopicPrefix: "api.", Host: "h1", MinLevel: schema.LevelWarn,
		Labels: schema.Labels{"env": "prod"}, Words: []string{"a b"}, FTS: "x NOT y"}
	f := tr.query(flags, 1796054400123456789, 1796058000000000000)
	fmt.Fprintf(&b, "--service api --service web --topic api. --host h1 --level warn --label env=prod --word 'a b' --fts 'x NOT y' --since --until\n\t%s\n\texact=%v\n", f.text, f.exact)
	golden(t, "testdata/translate.golden", b.String())
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("translations differ from %s (go test -update rewrites it):\n%s", path, got)
	}
}
