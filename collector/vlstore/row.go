package vlstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/schema"
)

// Row is one row of a VictoriaLogs query's answer: every value is text.
type Row map[string]string

// StoredName is the name an event's label or field key is stored under
// ("field.<name>" for one named like an event's own part), which LogsQL
// queries must use.
func StoredName(key string) string { return storedName(key) }

// Event reads back an event AppendLine stored. VictoriaLogs keeps every
// value as text, so a field's type is read from it: an integer as int64,
// another number as float64, true and false as bool, the rest as text (a
// field that held the text "42" comes back as the number 42).
func (r Row) Event() (schema.Event, error) {
	t, err := time.Parse(time.RFC3339Nano, r[Time])
	if err != nil {
		return schema.Event{}, fmt.Errorf("%w: row time %q: %w", ErrStore, r[Time], err)
	}
	ev := schema.Event{Time: t.UTC(), Message: r[Message], Service: r["service"], Host: r["host"], Publisher: r["publisher"]}
	if ev.Level, err = schema.ParseLevel(r["level"]); err != nil {
		return schema.Event{}, fmt.Errorf("%w: row level %q: %w", ErrStore, r["level"], err)
	}
	if s := r["seq"]; s != "" {
		if ev.Seq, err = strconv.ParseUint(s, 10, 64); err != nil {
			return schema.Event{}, fmt.Errorf("%w: row seq %q: %w", ErrStore, s, err)
		}
	}
	labels := map[string]bool{}
	if l := r[LabelsField]; l != "" {
		for _, k := range strings.Split(l, ",") {
			labels[k] = true
		}
	}
	for k, v := range r {
		if reserved[k] || k == "_stream" || k == "_stream_id" {
			continue
		}
		name := strings.TrimPrefix(k, "field.")
		if name == k || !reserved[name] {
			name = k
		}
		if labels[name] {
			if ev.Labels == nil {
				ev.Labels = schema.Labels{}
			}
			ev.Labels[name] = v
			continue
		}
		if ev.Fields == nil {
			ev.Fields = schema.Fields{}
		}
		ev.Fields[name] = typedValue(v)
	}
	return ev, nil
}

// Time and Message are the names VictoriaLogs gives an event's time and
// message.
const (
	Time    = "_time"
	Message = "_msg"
)

func typedValue(v string) any {
	if i, err := strconv.ParseInt(v, 10, 64); err == nil {
		return i
	}
	if strings.ContainsAny(v, ".eE") {
		if f, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "nN") {
			return f
		}
	}
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	return v
}
