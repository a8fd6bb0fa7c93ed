package intake

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/schema"
)

// jsonline serves VictoriaLogs' POST /insert/jsonline: one JSON object per
// line. _msg_field and _time_field (query parameters, or the headers
// VL-Msg-Field and VL-Time-Field) name the message and time fields, tried
// before the usual names (msg, message, time, ts, @timestamp, …); the
// fields _stream_fields names become labels, except service and host,
// which are the event's own. A line that is not a JSON object refuses the
// whole request (400, naming the line), so that nothing of it is taken.
func (s *Server) jsonline(w http.ResponseWriter, r *http.Request) {
	body, err := s.body(w, r)
	if err != nil {
		s.bodyError(w, err)
		return
	}
	spec := recordSpec{
		message: firstOf(param(r, "_msg_field", "VL-Msg-Field"), "_msg"),
		time:    firstOf(param(r, "_time_field", "VL-Time-Field"), "_time"),
		service: "service",
		stream:  splitList(param(r, "_stream_fields", "VL-Stream-Fields")),
	}
	evs, err := s.records(body, spec)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "bad_request", err)
		return
	}
	_, busy, failed, err := s.accept(r.Context(), evs)
	switch {
	case busy > 0:
		s.refuse(w, http.StatusServiceUnavailable, "busy_request", fmt.Errorf("%d of %d events not accepted in %v (queue or spool full, or the collector away); retry later", busy, len(evs), s.opts.Wait))
	case failed > 0:
		s.refuse(w, http.StatusBadRequest, "bad_request", fmt.Errorf("%d of %d events refused, the first: %w", failed, len(evs), err))
	}
}

// param is a query parameter, or else a header.
func param(r *http.Request, name, header string) string {
	if v := r.URL.Query().Get(name); v != "" {
		return v
	}
	return r.Header.Get(header)
}

func firstOf(list, def string) string {
	if f := splitList(list); len(f) > 0 {
		return f[0]
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// recordSpec says how JSON records name an event's parts.
type recordSpec struct {
	message, time string
	service       string   // the field naming the service; service.name is tried after it
	stream        []string // fields that become labels
}

// records decodes newline-delimited JSON objects.
func (s *Server) records(body []byte, spec recordSpec) ([]schema.Event, error) {
	p, err := s.parser(spec)
	if err != nil {
		return nil, err
	}
	var evs []schema.Event
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, err := s.record(p, line, spec)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// record decodes one JSON object.
func (s *Server) record(p *parse.Parser, doc []byte, spec recordSpec) (schema.Event, error) {
	if len(doc) > s.opts.MaxLineBytes {
		return schema.Event{}, fmt.Errorf("record of %d bytes, over the limit of %d", len(doc), s.opts.MaxLineBytes)
	}
	res := p.Line(doc)
	if res.Format != parse.JSON {
		return schema.Event{}, fmt.Errorf("not a JSON object: %.80q", doc)
	}
	shipperParts(&res)
	ev := schema.Event{Time: res.Time, Level: res.Level, Service: res.Service, Host: res.Host, Message: res.Message, Fields: res.Fields}
	for _, k := range spec.stream {
		v, ok := res.Fields[k]
		if !ok || k == spec.service || k == "host" {
			continue
		}
		if ev.Labels == nil {
			ev.Labels = schema.Labels{}
		}
		ev.Labels[schema.SanitizeFieldKey(k)] = schema.FormatValue(v)
		delete(res.Fields, k)
	}
	s.event(&ev)
	return ev, ev.Validate()
}

// shipperParts takes the parts of an event the parser's usual names missed
// under the names shippers' stock templates give them: ECS and OTel
// (service.name), syslog-ng's elasticsearch-http() (its rfc5424 scope:
// HOST, PROGRAM) and rsyslog's omelasticsearch (StdJSONFmt: fromhost,
// priority, timereported).
func shipperParts(res *parse.Result) {
	take := func(dst *string, keys ...string) {
		for _, k := range keys {
			if v, ok := res.Fields[k].(string); ok && *dst == "" {
				*dst = v
				delete(res.Fields, k)
			}
		}
	}
	take(&res.Service, "service.name", "service", "PROGRAM", "programname")
	take(&res.Host, "HOST", "fromhost")
	if v, ok := res.Fields["priority"].(string); ok && res.Level == schema.LevelInfo {
		if l, err := schema.ParseLevel(v); err == nil {
			res.Level = l
			delete(res.Fields, "priority")
		}
	}
	if v, ok := res.Fields["timereported"].(string); ok && res.Time.IsZero() {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			res.Time = t
			delete(res.Fields, "timereported")
		}
	}
}

// parserCache holds a parser per record spec: the requests of one
// shipper name the same fields. It keeps at most maxParsers; past them a
// request gets a parser of its own.
type parserCache struct {
	sync.Mutex
	m map[string]*parse.Parser
}

const maxParsers = 64

func (s *Server) parser(spec recordSpec) (*parse.Parser, error) {
	key := spec.message + "\x00" + spec.time + "\x00" + spec.service
	s.parsers.Lock()
	defer s.parsers.Unlock()
	if p := s.parsers.m[key]; p != nil {
		return p, nil
	}
	rule, err := parse.NewRule(parse.RuleSpec{MessageKey: spec.message, TimeKey: spec.time, ServiceKey: spec.service})
	if err != nil {
		return nil, fmt.Errorf("field names: %w", err)
	}
	p := parse.New(parse.Options{Format: parse.JSON, Rule: rule, MaxLineBytes: s.opts.MaxLineBytes + 1})
	if s.parsers.m == nil {
		s.parsers.m = map[string]*parse.Parser{}
	}
	if len(s.parsers.m) < maxParsers {
		s.parsers.m[key] = p
	}
	return p, nil
}
