package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Fields are an event's structured key/value pairs. A value is a string,
// an int64, a float64 or a bool: numbers and booleans keep their type from
// the publisher through the wire and the index to the API, so they compare
// as numbers. Publishers of wire versions 1 and 2 send strings only.
type Fields map[string]any

// Labels are static key/value pairs a source puts on every event (env,
// cluster, pod): indexed like service and host, and part of what makes a
// series.
type Labels map[string]string

// MaxLabels bounds an event's labels.
const MaxLabels = 64

// Append writes the labels as "{key=value,…}" sorted by key (values quoted
// as in a log line when they need it), nothing when there are none: how
// log lines and logq show them after the service.
func (l Labels) Append(b []byte) []byte {
	if len(l) == 0 {
		return b
	}
	b = append(b, '{')
	for i, k := range sortedKeys(l) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = AppendLogfmtValue(b, l[k])
	}
	return append(b, '}')
}

func (l Labels) String() string { return string(l.Append(nil)) }

// Contains reports whether l has every label of want, with its value: how
// a label filter matches an event.
func (l Labels) Contains(want Labels) bool {
	for k, v := range want {
		if got, ok := l[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ParseLabel reads "KEY=VALUE" as flags and query parameters give a label.
func ParseLabel(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%w: label %q: want KEY=VALUE", ErrBadField, s)
	}
	if err := validateFieldKey(key); err != nil {
		return "", "", fmt.Errorf("label %q: %w", s, err)
	}
	return key, value, nil
}

// checkValue accepts the four value types; a float must be finite (JSON
// has no NaN) and a string valid UTF-8.
func checkValue(key string, v any) error {
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w in value of field %q", ErrBadUTF8, key)
		}
	case int64, bool:
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: value of %q is %v (not a finite number)", ErrBadField, key, v)
		}
	default:
		return fmt.Errorf("%w: value of %q is a %T (want string, int64, float64 or bool)", ErrBadField, key, v)
	}
	return nil
}

// FormatValue is a value's text: strings as they are, numbers as Go
// formats them (floats shortest, never in exponent form below 1e21),
// booleans true and false.
func FormatValue(v any) string {
	if s, ok := v.(string); ok {
		return s // most values are: no copy
	}
	return string(AppendValue(nil, v))
}

// AppendValue appends FormatValue(v) to b.
func AppendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return append(b, v...)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		if math.Abs(v) < 1e21 {
			return strconv.AppendFloat(b, v, 'f', -1, 64)
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(b, v)
	}
	return fmt.Append(b, v)
}

// UnmarshalJSON keeps numbers as numbers: integral ones as int64, others
// as float64. What AppendPlainJSON writes it reads without reflection:
// through a decoder into a map of any, the fields were a third of what
// logq spent reading a search's events from the collector (measured).
func (f *Fields) UnmarshalJSON(b []byte) error {
	if out, ok := parsePlain(string(b)); ok {
		*f = out
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	if raw == nil {
		*f = nil
		return nil
	}
	out := make(Fields, len(raw))
	for k, v := range raw {
		out[k] = fromJSON(v)
	}
	*f = out
	return nil
}

// fromJSON maps a decoded JSON value onto a field value; objects and
// arrays (which a field cannot hold) keep their JSON text.
func fromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case string, bool:
		return v
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// FieldValue converts a JSON value, as the parsers meet it, to a field
// value.
func FieldValue(v any) any { return fromJSON(v) }
