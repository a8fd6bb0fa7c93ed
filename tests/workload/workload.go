// Package workload generates deterministic, realistic log events for tests
// and benchmarks: 20 services, 50 hosts, levels info 70% / debug 10% /
// warn 15% / error 5%, messages of about 95 bytes from templates with ids,
// and the rare token needle<K> in every 100,000th event. Request events
// also carry typed fields duration_ms, status and user, slow queries
// duration_ms, as structured loggers write them beside the message.
package workload

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/schema"
)

// Options shape a stream. Zero values take the defaults shown.
type Options struct {
	Seed        uint64
	Services    int           // 20
	Hosts       int           // 50
	Start       time.Time     // first timestamp; now minus Window
	Window      time.Duration // timestamps spread evenly over this; 24h
	Count       int           // events the timestamps are spread for; 1,000,000
	NeedleEvery int           // 100000
	// Partition, Parts: generate only events i with i%Parts == Partition,
	// so several publishers share one deterministic stream.
	Partition, Parts int
}

// Generator is not safe for concurrent use.
type Generator struct {
	o   Options
	rng *rand.Rand
	i   int
}

// New returns a generator positioned at its first event.
func New(o Options) *Generator {
	if o.Services <= 0 {
		o.Services = 20
	}
	if o.Hosts <= 0 {
		o.Hosts = 50
	}
	if o.Window <= 0 {
		o.Window = 24 * time.Hour
	}
	if o.Count <= 0 {
		o.Count = 1_000_000
	}
	if o.Start.IsZero() {
		o.Start = time.Now().Add(-o.Window)
	}
	if o.NeedleEvery <= 0 {
		o.NeedleEvery = 100000
	}
	if o.Parts <= 0 {
		o.Parts = 1
	}
	return &Generator{o: o, rng: rand.New(rand.NewPCG(o.Seed, uint64(o.Partition))), i: o.Partition}
}

var serviceNames = []string{"api", "auth", "billing", "cart", "catalog", "checkout", "db", "email", "gateway", "inventory",
	"search", "payments", "profile", "queue", "ratings", "recs", "shipping", "storage", "users", "web"}

var templates = []string{
	"request %s handled in %dms status=%d path=/v1/items/%d user=u%d",
	"upstream timeout after %dms calling inventory for order %s retry=%d of %d id=%d",
	"cache miss for key item:%d shard=%d took %dms; loading from primary %s",
	"user u%d logged in from 10.%d.%d.%d via password session=%s",
	"payment %s authorised amount=%d.%02d EUR card=****%04d merchant=m%d",
	"slow query %dms: SELECT * FROM orders WHERE id=%d AND tenant=%d (%s)",
	"connection refused by db-%d:5432 after %d attempts; pool size=%d req=%s",
	"queue depth %d above threshold %d on topic orders.%d consumer=%s",
}

// Next returns the next event and its index in the whole stream.
func (g *Generator) Next() (schema.Event, int) {
	i := g.i
	g.i += g.o.Parts
	r := g.rng
	t := g.o.Start.Add(time.Duration(int64(g.o.Window) / int64(g.o.Count) * int64(i)))
	var lvl schema.Level
	switch p := r.IntN(100); {
	case p < 70:
		lvl = schema.LevelInfo
	case p < 80:
		lvl = schema.LevelDebug
	case p < 95:
		lvl = schema.LevelWarn
	default:
		lvl = schema.LevelError
	}
	id := strconv.FormatUint(r.Uint64()&0xffffffffff, 16)
	var msg string
	var fields schema.Fields
	switch k := r.IntN(len(templates)); k {
	case 0:
		dur, status, path, user := r.IntN(900), 200+r.IntN(4)*100, r.IntN(99999), r.IntN(99999)
		msg = fmt.Sprintf(templates[k], id, dur, status, path, user)
		fields = schema.Fields{"duration_ms": int64(dur), "status": int64(status), "user": "u" + strconv.Itoa(user)}
	case 1:
		msg = fmt.Sprintf(templates[k], r.IntN(30000), id, r.IntN(5), 5, r.IntN(999999))
	case 2:
		msg = fmt.Sprintf(templates[k], r.IntN(999999), r.IntN(64), r.IntN(90), id)
	case 3:
		msg = fmt.Sprintf(templates[k], r.IntN(99999), r.IntN(255), r.IntN(255), r.IntN(255), id)
	case 4:
		msg = fmt.Sprintf(templates[k], id, r.IntN(999), r.IntN(100), r.IntN(10000), r.IntN(999))
	case 5:
		dur := r.IntN(9000)
		msg = fmt.Sprintf(templates[k], dur, r.IntN(999999), r.IntN(999), id)
		fields = schema.Fields{"duration_ms": int64(dur)}
	case 6:
		msg = fmt.Sprintf(templates[k], r.IntN(9), r.IntN(9), r.IntN(99), id)
	default:
		msg = fmt.Sprintf(templates[k], r.IntN(99999), 1000, r.IntN(99), id)
	}
	msg += " req=" + id
	if i%g.o.NeedleEvery == 0 {
		msg += " needle" + strconv.Itoa(i/g.o.NeedleEvery)
	}
	return schema.Event{
		Time: t, Service: serviceNames[r.IntN(min(g.o.Services, len(serviceNames)))], Level: lvl,
		Host: "host-" + strconv.Itoa(r.IntN(g.o.Hosts)), Message: msg, Fields: fields,
	}, i
}

// Done reports whether the stream's Count events have all been generated.
func (g *Generator) Done() bool { return g.i >= g.o.Count }

// syslogSeverity maps levels to RFC 5424 severities.
var syslogSeverity = map[schema.Level]int{
	schema.LevelTrace: 7, schema.LevelDebug: 7, schema.LevelInfo: 6,
	schema.LevelWarn: 4, schema.LevelError: 3, schema.LevelFatal: 2,
}

// RFC5424 renders ev as an RFC 5424 syslog line (facility user), LF-framed.
func RFC5424(b []byte, ev *schema.Event) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(8+syslogSeverity[ev.Level]), 10)
	b = append(b, ">1 "...)
	b = ev.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, ev.Host...)
	b = append(b, ' ')
	b = append(b, ev.Service...)
	b = append(b, " - - - "...)
	b = append(b, ev.Message...)
	return append(b, '\n')
}

// JSONLine renders ev as one JSON object per line, the shape log libraries write.
func JSONLine(b []byte, ev *schema.Event) []byte {
	b = append(b, `{"ts":"`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, ev.Level.String()...)
	b = append(b, `","service":"`...)
	b = append(b, ev.Service...)
	b = append(b, `","host":"`...)
	b = append(b, ev.Host...)
	b = append(b, `","msg":`...)
	b = strconv.AppendQuote(b, ev.Message)
	for _, k := range slices.Sorted(maps.Keys(ev.Fields)) {
		b = append(strconv.AppendQuote(append(b, ','), k), ':')
		if s, ok := ev.Fields[k].(string); ok {
			b = strconv.AppendQuote(b, s)
		} else {
			b = schema.AppendValue(b, ev.Fields[k])
		}
	}
	return append(b, "}\n"...)
}

// LogfmtLine renders ev as one logfmt record per line (the shape of
// logrus, go-kit and slog's text handler).
func LogfmtLine(b []byte, ev *schema.Event) []byte {
	b = append(b, "time="...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, " level="...)
	b = append(b, ev.Level.String()...)
	b = append(b, " service="...)
	b = append(b, ev.Service...)
	b = append(b, " host="...)
	b = append(b, ev.Host...)
	b = append(b, " msg="...)
	b = strconv.AppendQuote(b, ev.Message)
	for _, k := range slices.Sorted(maps.Keys(ev.Fields)) {
		b = append(append(append(b, ' '), k...), '=')
		b = schema.AppendLogfmtValue(b, schema.FormatValue(ev.Fields[k]))
	}
	return append(b, '\n')
}

// LogbackLine renders ev as a logback/log4j line: local-style ISO time with
// comma millis, the level, a thread and a logger, then the message.
func LogbackLine(b []byte, ev *schema.Event) []byte {
	b = ev.Time.UTC().AppendFormat(b, "2006-01-02 15:04:05,000")
	b = append(b, ' ')
	b = append(b, strings.ToUpper(ev.Level.String())...)
	b = append(b, " [main] c.e."...)
	b = append(b, ev.Service...)
	b = append(b, " - "...)
	b = append(b, ev.Message...)
	return append(b, '\n')
}

// Renderers are the line formats by name, each appending one LF-ended line.
var Renderers = map[string]func([]byte, *schema.Event) []byte{
	"json": JSONLine, "logfmt": LogfmtLine, "logback": LogbackLine, "rfc5424": RFC5424,
}

// PlainLine renders ev in zlog's log-file line format (schema.AppendLine).
func PlainLine(b []byte, ev *schema.Event) []byte { return schema.AppendLine(b, ev) }
