// Package parse turns one log line into an event's parts: time, level,
// message, host, the program that wrote it, and typed fields. JSON
// objects, logfmt and text are told apart by looking at the line, so one
// source may mix them, and the common text formats are recognised by their
// shape (formats.go lists them; testdata/corpus.jsonl holds real lines of
// each with what they must give).
//
//   - JSON: nested objects are flattened ("http.status"); numbers and
//     booleans keep their type. time from time, ts, @timestamp, timestamp
//     or journald's __REALTIME_TIMESTAMP (RFC 3339 or Unix seconds, ms, µs
//     or ns); level from level, lvl, severity, log.level or PRIORITY (names
//     or numbers: syslog 0-7, pino 10-60); message from msg, message or
//     MESSAGE; host from host, hostname, host.name or _HOSTNAME. Every
//     other key becomes a field.
//   - logfmt: only a line that is nothing but key=value pairs (two or
//     more); the same keys; bare numbers and booleans are typed.
//   - text: the time stamp the line starts with becomes the time and is
//     taken off the message; nothing else of the line is lost. The level
//     comes from the words after the stamp (ERROR, [warn], error:, …),
//     key=value pairs in the text are copied into fields beside it.
//
// Lines over the length limit are cut and the event gets the field
// truncated=<original length>; invalid UTF-8 is replaced with U+FFFD.
package parse

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/zlog/zlog/schema"
)

// Format names how a line is read.
type Format string

const (
	Auto   Format = ""
	JSON   Format = "json"
	Logfmt Format = "logfmt"
	Plain  Format = "plain" // text only: never JSON or logfmt
)

// Options configure a Parser. Zero values take the defaults shown.
type Options struct {
	DefaultLevel schema.Level   // when the line names none; info
	MaxLineBytes int            // longer lines are cut; 64 KiB
	Format       Format         // read every line as this; Auto detects
	Location     *time.Location // zone of time stamps that carry none; time.Local
	Now          func() time.Time
	// Rule, when set, is tried first: a line it matches is read by it.
	Rule *Rule
}

// Parser is safe for concurrent use.
type Parser struct {
	o    Options
	keys keySet // of JSON and logfmt records: the rule's, or the usual
	json fastjson.ParserPool
	// interned holds the record keys as strings, so a JSON member named
	// by one needs no new string (most members of most records are).
	interned map[string]string
}

// New returns a parser.
func New(o Options) *Parser {
	if o.DefaultLevel == 0 {
		o.DefaultLevel = schema.LevelInfo
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 64 << 10
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Parser{o: o, keys: recordKeys}
	if o.Rule != nil {
		p.keys = o.Rule.keys
	}
	p.interned = map[string]string{}
	for k := range p.keys.parts {
		p.interned[k] = k
	}
	return p
}

// Result is a parsed line. Time is zero when the line carried none; Host
// and Service are empty unless the record names them (a JSON host, a
// syslog line's host and tag, a journald unit).
type Result struct {
	Time    time.Time
	Level   schema.Level
	Message string
	Host    string
	Service string
	Fields  schema.Fields
	Format  Format
	// Repairs: the line was cut, or held invalid UTF-8.
	Truncated, InvalidUTF8 bool
}

// Line parses one line (without its newline). The result does not refer
// to line's memory.
func (p *Parser) Line(line []byte) Result {
	var r Result
	origLen := len(line)
	line = p.repair(line, &r)
	trimmed := bytes.TrimSpace(line)
	switch {
	case p.o.Rule != nil && p.o.Rule.apply(p, line, &r):
	case p.o.Format == JSON || p.o.Format == Auto && looksJSON(trimmed):
		if p.jsonLine(trimmed, &r) {
			break
		}
		p.text(line, &r)
	case p.o.Format == Logfmt || p.o.Format == Auto && bytes.IndexByte(trimmed, '=') > 0:
		if p.logfmtLine(trimmed, &r) {
			break
		}
		p.text(line, &r)
	default:
		p.text(line, &r)
	}
	if r.Level == 0 {
		r.Level = p.o.DefaultLevel
	}
	if r.Truncated {
		r.put("truncated", int64(origLen))
	}
	return r
}

// repair cuts a line over the limit (not inside a character), replaces
// invalid UTF-8 and drops a trailing carriage return.
func (p *Parser) repair(line []byte, r *Result) []byte {
	if len(line) > p.o.MaxLineBytes {
		cut := p.o.MaxLineBytes
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		line = line[:cut]
		r.Truncated = true
	}
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
		r.InvalidUTF8 = true
	}
	return bytes.TrimRight(line, "\r")
}

func looksJSON(b []byte) bool { return len(b) > 1 && b[0] == '{' && b[len(b)-1] == '}' }

// logfmtLine reads a line that is nothing but two or more key=value pairs.
func (p *Parser) logfmtLine(line []byte, r *Result) bool {
	fields, ok := logfmtPairs(string(line), true)
	if !ok || len(fields) < 2 {
		return false
	}
	r.Format = Logfmt
	r.addFields(fields)
	p.takeRecord(r, &p.keys)
	return true
}

// maxParsedFields leaves room under schema.MaxFields for the fields the
// agent adds (truncated, stream, peer, …).
const maxParsedFields = schema.MaxFields - 16

// put adds a field: a key a field cannot have is made into one, a key
// already taken gets a suffix (_2, _3, …) so no value is lost, and past
// the field limit the rest go into one field, fields_overflow, as
// key=value text.
func (r *Result) put(key string, v any) {
	if !validKey(key) {
		key = sanitizeKey(key)
	}
	if r.Fields == nil {
		r.Fields = make(schema.Fields, 8)
	}
	if _, taken := r.Fields[key]; taken {
		key = freeKey(r.Fields, key)
	}
	if len(r.Fields) >= maxParsedFields {
		over, _ := r.Fields["fields_overflow"].(string)
		if over != "" {
			over += " "
		}
		r.Fields["fields_overflow"] = over + key + "=" + string(schema.AppendLogfmtValue(nil, schema.FormatValue(v)))
		return
	}
	r.Fields[key] = v
}

// addFields puts each of fields; when the result has none yet, fields
// becomes them.
func (r *Result) addFields(fields schema.Fields) {
	if r.Fields == nil && len(fields) <= maxParsedFields {
		ok := true
		for k := range fields {
			if !validKey(k) {
				ok = false
				break
			}
		}
		if ok {
			r.Fields = fields
			return
		}
	}
	for k, v := range fields {
		r.put(k, v)
	}
}

func freeKey(f schema.Fields, key string) string {
	for i := 2; ; i++ {
		suffix := "_" + strconv.Itoa(i)
		k := key
		if len(k)+len(suffix) > schema.MaxFieldKeyLen {
			k = k[:schema.MaxFieldKeyLen-len(suffix)]
		}
		if _, taken := f[k+suffix]; !taken {
			return k + suffix
		}
	}
}

// FormatNames lists what ParseFormat accepts, for help texts.
const FormatNames = "auto, json, logfmt, plain, docker, cri"

// ParseFormat reads a source's format name: auto (or ""), json, logfmt,
// plain, or a container runtime's log format, docker or cri.
func ParseFormat(name string) (Format, error) {
	switch f := Format(name); f {
	case "auto", Auto:
		return Auto, nil
	case JSON, Logfmt, Plain, Docker, CRI:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want one of %s", name, FormatNames)
}

// IsContainer reports whether f is a container runtime's log format.
func (f Format) IsContainer() bool { return f == Docker || f == CRI }
