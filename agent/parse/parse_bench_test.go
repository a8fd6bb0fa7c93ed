package parse

import (
	"testing"
	"time"
)

var benchLines = map[string]string{
	"plain":  `2026-11-29 23:40:00,123 ERROR [http-nio-8080-exec-1] c.e.shop.OrderController - Order 42 failed: timeout after 30000 ms`,
	"json":   `{"time":"2026-11-29T23:40:00.123456789+01:00","level":"WARN","msg":"slow query","duration_ms":512,"ratio":0.25,"query":{"table":"orders","rows":3},"user":"u-1234","path":"/api/v1/orders"}`,
	"logfmt": `time=2026-11-29T23:40:00.123Z level=ERROR msg="payment failed" order=42 amount=12.5 retry=true user=u-1234 path=/api/v1/orders`,
	"syslog": `<13>1 2026-11-29T10:00:07.123456+00:00 web-3 myapp 1234 - - hello from the app user=u-1234 took=12ms`,
}

func BenchmarkParse(b *testing.B) {
	p := New(Options{Location: time.UTC})
	for name, line := range benchLines {
		b.Run(name, func(b *testing.B) {
			bl := []byte(line)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if name == "syslog" {
					p.Syslog(bl)
				} else {
					p.Line(bl)
				}
			}
		})
	}
}

// BenchmarkParseWorkload parses the bench's own lines (tests/workload): the
// shapes make bench measures the agent with.
func BenchmarkParseWorkload(b *testing.B) {
	p := New(Options{Location: time.UTC})
	for name, line := range map[string]string{
		"json":    `{"ts":"2026-11-29T04:41:53.347567086Z","level":"info","service":"shipping","host":"host-29","msg":"cache miss for key item:23676 shard=12 took 49ms; loading from primary 8c4a605356 req=8c4a605356 needle0"}`,
		"logfmt":  `time=2026-11-29T04:41:55.553793926Z level=info service=shipping host=host-29 msg="cache miss for key item:23676 shard=12 took 49ms; loading from primary 8c4a605356 req=8c4a605356 needle0"`,
		"logback": `2026-11-29 04:41:57,001 INFO [main] c.e.shipping - cache miss for key item:23676 shard=12 took 49ms; loading from primary 8c4a605356 req=8c4a605356 needle0`,
		"rfc5424": `<14>1 2026-11-29T04:41:58.126283Z host-29 shipping - - - cache miss for key item:23676 shard=12 took 49ms; loading from primary 8c4a605356 req=8c4a605356 needle0`,
	} {
		b.Run(name, func(b *testing.B) {
			bl := []byte(line)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if name == "rfc5424" {
					p.Syslog(bl)
				} else {
					p.Line(bl)
				}
			}
		})
	}
}
