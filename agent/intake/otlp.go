package intake

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"strconv"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	logs "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/zlog/zlog/schema"
)

// otlp serves OTLP/HTTP's POST /v1/logs, protobuf or JSON. Records that do
// not make a valid event are left out and reported as a partial success
// (rejected_log_records and the first reason), as the protocol asks; when
// the Sink is busy the whole request is refused with 503 and Retry-After,
// which OTLP exporters retry.
func (s *Server) otlp(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-protobuf" && ct != "application/json" {
		s.refuse(w, http.StatusUnsupportedMediaType, "bad_request", fmt.Errorf("content type %q: want application/x-protobuf or application/json", ct))
		return
	}
	body, err := s.body(w, r)
	if err != nil {
		s.bodyError(w, err)
		return
	}
	req := &collogs.ExportLogsServiceRequest{}
	if ct == "application/json" {
		err = unmarshalOTLPJSON(body, req)
	} else {
		err = proto.Unmarshal(body, req)
	}
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "bad_request", fmt.Errorf("OTLP logs request: %w", err))
		return
	}
	evs, invalid, firstErr := s.otlpEvents(req)
	_, busy, failed, err := s.accept(r.Context(), evs)
	if busy > 0 {
		s.refuse(w, http.StatusServiceUnavailable, "busy_request", fmt.Errorf("%d of %d records not accepted in %v (queue or spool full, or the collector away); retry later", busy, len(evs), s.opts.Wait))
		return
	}
	if firstErr == nil {
		firstErr = err
	}
	resp := &collogs.ExportLogsServiceResponse{}
	if rejected := invalid + failed; rejected > 0 {
		resp.PartialSuccess = &collogs.ExportLogsPartialSuccess{RejectedLogRecords: int64(rejected), ErrorMessage: firstErr.Error()}
	}
	var out []byte
	if ct == "application/json" {
		out, err = protojson.Marshal(resp)
	} else {
		out, err = proto.Marshal(resp)
	}
	if err != nil {
		s.refuse(w, http.StatusInternalServerError, "internal", err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Write(out)
}

// otlpEvents maps a request's records onto events: the resource's
// service.name and host.name name the service and host, its other
// attributes become labels; severity the level; a string body the message,
// a map body fields (its message or msg key the message); attributes typed
// fields; trace and span ids fields; the time, or the observed time when
// the time is 0. Records whose event is not valid are counted out.
func (s *Server) otlpEvents(req *collogs.ExportLogsServiceRequest) (evs []schema.Event, invalid int, first error) {
	for _, rl := range req.ResourceLogs {
		base := resourceEvent(rl.GetResource().GetAttributes())
		for _, sl := range rl.ScopeLogs {
			for _, rec := range sl.LogRecords {
				ev := recordEvent(base, sl.GetScope(), rec)
				s.event(&ev)
				if err := ev.Validate(); err != nil {
					invalid++
					s.metrics.rejected.WithLabelValues("invalid").Inc()
					if first == nil {
						first = err
					}
					continue
				}
				evs = append(evs, ev)
			}
		}
	}
	return evs, invalid, first
}

// resourceEvent is what a resource gives each of its records.
func resourceEvent(attrs []*common.KeyValue) schema.Event {
	var ev schema.Event
	for _, kv := range attrs {
		v := kv.GetValue()
		switch kv.Key {
		case "service.name":
			ev.Service = anyString(v)
		case "host.name":
			ev.Host = anyString(v)
		default:
			if ev.Labels == nil {
				ev.Labels = schema.Labels{}
			}
			ev.Labels[schema.SanitizeFieldKey(kv.Key)] = anyString(v)
		}
	}
	return ev
}

func recordEvent(base schema.Event, scope *common.InstrumentationScope, rec *logs.LogRecord) schema.Event {
	ev := base
	ev.Labels = maps.Clone(base.Labels) // s.event adds to them per record
	ev.Fields = schema.Fields{}
	switch {
	case rec.TimeUnixNano != 0:
		ev.Time = time.Unix(0, int64(rec.TimeUnixNano))
	case rec.ObservedTimeUnixNano != 0:
		ev.Time = time.Unix(0, int64(rec.ObservedTimeUnixNano))
	}
	ev.Level = severityLevel(rec.SeverityNumber, rec.SeverityText)
	body(&ev, rec.Body)
	for _, kv := range rec.Attributes {
		ev.Fields[schema.SanitizeFieldKey(kv.Key)] = anyField(kv.Value)
	}
	if len(rec.TraceId) > 0 {
		ev.Fields["trace_id"] = hex.EncodeToString(rec.TraceId)
	}
	if len(rec.SpanId) > 0 {
		ev.Fields["span_id"] = hex.EncodeToString(rec.SpanId)
	}
	if name := scope.GetName(); name != "" {
		ev.Fields["scope.name"] = name
	}
	if len(ev.Fields) == 0 {
		ev.Fields = nil
	}
	return ev
}

// body sets the message and fields of a record's body.
func body(ev *schema.Event, v *common.AnyValue) {
	kv := v.GetKvlistValue()
	if kv == nil {
		ev.Message = anyString(v)
		return
	}
	for _, m := range kv.Values {
		if (m.Key == "message" || m.Key == "msg") && ev.Message == "" {
			ev.Message = anyString(m.Value)
			continue
		}
		ev.Fields[schema.SanitizeFieldKey(m.Key)] = anyField(m.Value)
	}
}

// severityLevel maps OTLP's severity number (1-4 trace, 5-8 debug, 9-12
// info, 13-16 warn, 17-20 error, 21-24 fatal), or else its text.
func severityLevel(n logs.SeverityNumber, text string) schema.Level {
	if n > 0 {
		return [...]schema.Level{schema.LevelTrace, schema.LevelDebug, schema.LevelInfo, schema.LevelWarn, schema.LevelError, schema.LevelFatal}[min(int(n)-1, 23)/4]
	}
	if l, err := schema.ParseLevel(text); err == nil {
		return l
	}
	return schema.LevelInfo
}

// anyField is an attribute's value as a typed field: strings, integers,
// doubles and booleans keep their type; bytes are base64; arrays and maps
// their JSON.
func anyField(v *common.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *common.AnyValue_IntValue:
		return x.IntValue
	case *common.AnyValue_DoubleValue:
		return x.DoubleValue
	case *common.AnyValue_BoolValue:
		return x.BoolValue
	}
	return anyString(v)
}

// anyString is a value as text.
func anyString(v *common.AnyValue) string {
	switch x := v.GetValue().(type) {
	case nil:
		return ""
	case *common.AnyValue_StringValue:
		return x.StringValue
	case *common.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *common.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *common.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *common.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	}
	b, _ := json.Marshal(plain(v))
	return string(b)
}

// plain is an array or map value as Go values, for its JSON.
func plain(v *common.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *common.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, plain(e))
		}
		return out
	case *common.AnyValue_KvlistValue:
		out := map[string]any{}
		for _, kv := range x.KvlistValue.GetValues() {
			out[kv.Key] = plain(kv.Value)
		}
		return out
	case *common.AnyValue_IntValue, *common.AnyValue_DoubleValue, *common.AnyValue_BoolValue:
		return anyField(v)
	}
	return anyString(v)
}

// unmarshalOTLPJSON reads OTLP/JSON, which is protobuf's JSON mapping
// except that trace and span ids are hex, not base64.
func unmarshalOTLPJSON(b []byte, req *collogs.ExportLogsServiceRequest) error {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	for _, rl := range list(doc["resourceLogs"]) {
		for _, sl := range list(obj(rl)["scopeLogs"]) {
			for _, rec := range list(obj(sl)["logRecords"]) {
				r := obj(rec)
				for _, k := range []string{"traceId", "spanId"} {
					h, ok := r[k].(string)
					if !ok || h == "" {
						continue
					}
					raw, err := hex.DecodeString(h)
					if err != nil {
						return fmt.Errorf("%s %q: not hex", k, h)
					}
					r[k] = base64.StdEncoding.EncodeToString(raw)
				}
			}
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, req)
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
