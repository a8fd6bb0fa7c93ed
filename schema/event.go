// Package schema owns what every zlog component must agree on: the Event,
// topic rules, the ZeroMQ wire format and the log-file line format.
// README.md in this directory documents them precisely enough to write a
// publisher in another language. The index format lives with its code in
// collector/index.
package schema

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Event is one log record as it travels from a publisher to the collector
// and is stored in the files and the index.
type Event struct {
	Time    time.Time `json:"time"` // nanosecond precision; zero means "stamp on receipt"
	Service string    `json:"service"`
	Level   Level     `json:"level"`
	Host    string    `json:"host"`
	Message string    `json:"message"`
	Fields  Fields    `json:"fields,omitempty"` // structured key/value pairs; may be nil
	Labels  Labels    `json:"labels,omitempty"` // static labels of the source; may be nil

	// Publisher and Seq identify the event within its stream (publisher id +
	// topic) for delivery tracking. Seq 0 means "unsequenced".
	Publisher string `json:"publisher,omitempty"`
	Seq       uint64 `json:"seq,omitempty"`
	// Prev is the sequence number of the previous event of the stream that
	// the publisher still held when it sent this one, 0 when it held none
	// (everything before was acknowledged, or it dropped it and counted it),
	// PrevUnknown from a version 1 publisher. It tells the collector where a
	// stream it does not know starts; it is not stored.
	Prev uint64 `json:"-"`
}

// Topic is the ZeroMQ topic the event is published under: "<service>.<level>".
func (e *Event) Topic() string { return e.Service + "." + e.Level.String() }

// Limits on event parts. They are part of the wire contract: the collector
// rejects (and counts) anything beyond them.
const (
	MaxServiceLen   = 63
	MaxHostLen      = 255
	MaxPublisherLen = 64
	MaxFieldKeyLen  = 64
	MaxFields       = 256
)

// Sentinel errors; wrapped with detail, test with errors.Is.
var (
	ErrBadTopic    = errors.New("invalid topic")
	ErrBadService  = errors.New("invalid service name")
	ErrBadLevel    = errors.New("invalid level")
	ErrBadUTF8     = errors.New("invalid UTF-8")
	ErrBadField    = errors.New("invalid field")
	ErrTooLarge    = errors.New("event too large")
	ErrFrameCount  = errors.New("wrong frame count")
	ErrBadVersion  = errors.New("unknown wire version")
	ErrBadEnvelope = errors.New("malformed envelope")
)

// ValidateService checks a service name: 1-63 bytes of letters (lower
// case, or letters without case), digits, '_' and '-', starting with a
// letter or digit, in Unicode normal form C. The name is used as a file
// name and as the first part of a topic, so dots, slashes, spaces and upper
// case are not allowed.
func ValidateService(s string) error {
	if len(s) == 0 || len(s) > MaxServiceLen {
		return fmt.Errorf("%w %q: length must be 1-%d bytes", ErrBadService, s, MaxServiceLen)
	}
	if asciiService(s) {
		return nil // ASCII is in normal form C: the checks below are for the rest
	}
	if !utf8.ValidString(s) || !norm.NFC.IsNormalString(s) {
		return fmt.Errorf("%w %q: not UTF-8 in normal form C", ErrBadService, s)
	}
	for i, r := range s {
		switch {
		case serviceRune(r):
		case (r == '_' || r == '-') && i > 0:
		default:
			return fmt.Errorf("%w %q: character %q at %d (allowed: lower-case letters, digits, _ and -, starting with a letter or digit)", ErrBadService, s, r, i)
		}
	}
	return nil
}

// asciiService reports a name of a-z, 0-9, and _ or - after the first,
// the common case, which every publisher and the collector check per event.
func asciiService(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '_' || c == '-') && i > 0) {
			return false
		}
	}
	return true
}

// serviceRune is a letter that is not upper case, or a digit.
func serviceRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
	}
	return unicode.IsLetter(r) && !unicode.IsUpper(r) && !unicode.IsTitle(r) || unicode.IsDigit(r)
}

// SanitizeService maps an arbitrary name (a syslog tag, a unit, a container
// name) onto a valid service name: normalised, lower-cased, other
// characters as '-'; "unknown" when nothing usable remains. Letters of any
// script are kept: "Überwacher" is "überwacher", "日本語" stays.
func SanitizeService(s string) string {
	s = norm.NFC.String(strings.ToLower(strings.ToValidUTF8(s, "")))
	var b strings.Builder
	for _, r := range s {
		if b.Len()+utf8.RuneLen(r) > MaxServiceLen {
			break
		}
		switch {
		case serviceRune(r):
			b.WriteRune(r)
		case r == '_' && b.Len() > 0:
			b.WriteByte('_')
		case b.Len() > 0:
			b.WriteByte('-')
		}
	}
	out := strings.TrimRight(b.String(), "-_")
	if out == "" || ValidateService(out) != nil {
		return "unknown"
	}
	return out
}

// ParseTopic splits and validates "<service>.<level>".
func ParseTopic(topic string) (service string, level Level, err error) {
	i := strings.LastIndexByte(topic, '.')
	if i < 0 {
		return "", 0, fmt.Errorf("%w %q: want <service>.<level>", ErrBadTopic, truncate(topic, 80))
	}
	service = topic[:i]
	if err := ValidateService(service); err != nil {
		return "", 0, fmt.Errorf("%w %q: %w", ErrBadTopic, truncate(topic, 80), err)
	}
	lvl, ok := levelByName[topic[i+1:]]
	if !ok {
		return "", 0, fmt.Errorf("%w %q: level must be one of %s", ErrBadTopic, truncate(topic, 80), strings.Join(levelNames[1:], ", "))
	}
	return service, lvl, nil
}

// Validate checks everything the collector checks before storing an event.
func (e *Event) Validate() error {
	if err := ValidateService(e.Service); err != nil {
		return err
	}
	if e.Level < LevelTrace || e.Level > LevelFatal {
		return fmt.Errorf("%w: %d", ErrBadLevel, e.Level)
	}
	if len(e.Host) > MaxHostLen {
		return fmt.Errorf("%w: host longer than %d bytes", ErrBadEnvelope, MaxHostLen)
	}
	if len(e.Publisher) > MaxPublisherLen {
		return fmt.Errorf("%w: publisher id longer than %d bytes", ErrBadEnvelope, MaxPublisherLen)
	}
	if !utf8.ValidString(e.Host) || !utf8.ValidString(e.Publisher) {
		return fmt.Errorf("%w in host or publisher id", ErrBadUTF8)
	}
	if !utf8.ValidString(e.Message) {
		return fmt.Errorf("%w in message", ErrBadUTF8)
	}
	if len(e.Fields) > MaxFields {
		return fmt.Errorf("%w: %d fields, at most %d", ErrBadField, len(e.Fields), MaxFields)
	}
	for k, v := range e.Fields {
		if err := validateFieldKey(k); err != nil {
			return err
		}
		if err := checkValue(k, v); err != nil {
			return err
		}
	}
	return ValidateLabels(e.Labels)
}

// ValidateLabels checks labels: at most MaxLabels, keys as field keys,
// values UTF-8.
func ValidateLabels(labels Labels) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%w: %d labels, at most %d", ErrBadField, len(labels), MaxLabels)
	}
	for k, v := range labels {
		if err := validateFieldKey(k); err != nil {
			return fmt.Errorf("label: %w", err)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w in value of label %q", ErrBadUTF8, k)
		}
	}
	return nil
}

// validateFieldKey allows 1-64 characters of [A-Za-z0-9_.@-]; keys appear
// unquoted in log lines, so spaces and '=' are excluded.
func validateFieldKey(k string) error {
	if len(k) == 0 || len(k) > MaxFieldKeyLen {
		return fmt.Errorf("%w: key %q must be 1-%d bytes", ErrBadField, truncate(k, 80), MaxFieldKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if !FieldKeyByte(k[i]) {
			return fmt.Errorf("%w: key %q has character %q (allowed: A-Z a-z 0-9 _ . @ -)", ErrBadField, truncate(k, 80), k[i])
		}
	}
	return nil
}

// ValidFieldKey reports whether k may be a field or label key.
func ValidFieldKey(k string) bool { return validateFieldKey(k) == nil }

// SanitizeFieldKey maps a key a field cannot have onto one it can: other
// characters become '_' (one per character), and it is cut to the length
// limit. A valid key is returned as it is.
func SanitizeFieldKey(k string) string {
	if ValidFieldKey(k) {
		return k
	}
	b := make([]byte, 0, min(len(k), MaxFieldKeyLen))
	for i := 0; i < len(k) && len(b) < MaxFieldKeyLen; i++ {
		c := k[i]
		if !FieldKeyByte(c) {
			c = '_'
			for i+1 < len(k) && k[i+1] >= 0x80 && k[i+1] < 0xC0 {
				i++
			}
		}
		b = append(b, c)
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// FieldKeyByte reports whether c may appear in a field or label key: ASCII
// letters and digits, '_', '.', '-' and '@' (as in "@version" or the
// structured-data id "sd.origin@32473.ip").
func FieldKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '@'
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ID names a sequenced event for good, "<publisher>/<topic>/<seq>": its
// stream and its place in it, which no commit, merge or restart changes.
// An unsequenced event (seq 0) has none: "".
func (e *Event) ID() string {
	if e.Seq == 0 || e.Publisher == "" {
		return ""
	}
	return e.Publisher + "/" + e.Topic() + "/" + strconv.FormatUint(e.Seq, 10)
}

// ErrBadID is wrapped by ParseID's errors.
var ErrBadID = errors.New("invalid event id")

// ParseID reads an ID back into the event's publisher, service, level
// and sequence number.
func ParseID(id string) (publisher, service string, level Level, seq uint64, err error) {
	rest, seqText, ok1 := cutLast(id, "/")
	publisher, topic, ok2 := cutLast(rest, "/")
	if !ok1 || !ok2 || publisher == "" {
		return "", "", 0, 0, fmt.Errorf("%w %q: want <publisher>/<service>.<level>/<seq>, as logq -o json prints it", ErrBadID, id)
	}
	if seq, err = strconv.ParseUint(seqText, 10, 64); err != nil || seq == 0 {
		return "", "", 0, 0, fmt.Errorf("%w %q: %q is not a sequence number", ErrBadID, id, seqText)
	}
	if service, level, err = ParseTopic(topic); err != nil {
		return "", "", 0, 0, fmt.Errorf("%w %q: %w", ErrBadID, id, err)
	}
	return publisher, service, level, seq, nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
