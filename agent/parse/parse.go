// Package parse turns one log line into an event: JSON objects, logfmt and
// plain text are told apart by looking at the line, so one source may mix
// them.
//
//   - JSON: time from ts, time or @timestamp (RFC 3339, or Unix seconds or
//     milliseconds as a number); level from level, lvl or severity; message
//     from msg or message; every other key becomes a field (non-strings as
//     their JSON text).
//   - logfmt: only a line that is nothing but key=value pairs (two or
//     more; values bare or double-quoted); the same keys; the rest become
//     fields.
//   - plain: the whole line is the message, always: no parser may lose a
//     line's text. A leading level word (ERROR, [warn], W:, …) or a level=
//     pair sets the level, and key=value pairs inside the text are copied
//     into fields beside it ("retries=3 timeout=30s" → retries, timeout).
//
// Lines over the length limit are cut and the event gets the field
// truncated=<original length>; invalid UTF-8 is replaced with U+FFFD.
package parse

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zlog/zlog/schema"
)

// Format names the detected form of a line.
type Format string

const (
	JSON   Format = "json"
	Logfmt Format = "logfmt"
	Plain  Format = "plain"
)

// Options configure a Parser. Zero values take the defaults shown.
type Options struct {
	DefaultLevel schema.Level // when the line names none; info
	MaxLineBytes int          // longer lines are cut; 64 KiB
	Force        Format       // parse every line as this format; "" detects
}

// Parser is safe for concurrent use.
type Parser struct{ o Options }

// New returns a parser.
func New(o Options) *Parser {
	if o.DefaultLevel == 0 {
		o.DefaultLevel = schema.LevelInfo
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 64 << 10
	}
	return &Parser{o: o}
}

// Result is a parsed line. Time is zero when the line carried none.
type Result struct {
	Time    time.Time
	Level   schema.Level
	Message string
	Fields  schema.Fields
	Format  Format
	// Fixed reports repairs: the line was cut or held invalid UTF-8.
	Truncated, InvalidUTF8 bool
}

// Line parses one line (without its newline).
func (p *Parser) Line(line []byte) Result {
	var r Result
	origLen := len(line)
	if len(line) > p.o.MaxLineBytes {
		cut := p.o.MaxLineBytes
		for cut > 0 && !utf8.RuneStart(line[cut]) { // do not split a character
			cut--
		}
		line = line[:cut]
		r.Truncated = true
	}
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
		r.InvalidUTF8 = true
	}
	line = bytes.TrimRight(line, "\r")
	trimmed := bytes.TrimSpace(line)
	switch {
	case p.o.Force == JSON || p.o.Force == "" && len(trimmed) > 1 && trimmed[0] == '{' && trimmed[len(trimmed)-1] == '}':
		if p.json(trimmed, &r) {
			break
		}
		fallthrough
	case p.o.Force == Logfmt || p.o.Force == "":
		if fields, ok := logfmtPairs(string(trimmed), true); ok && len(fields) >= 2 {
			r.Format = Logfmt
			p.take(fields, &r)
			break
		}
		fallthrough
	default:
		r = Result{Truncated: r.Truncated, InvalidUTF8: r.InvalidUTF8, Format: Plain}
		r.Message = string(line)
		r.Level = leadingLevel(trimmed)
		plainPairs(string(trimmed), &r)
	}
	if r.Level == 0 {
		r.Level = p.o.DefaultLevel
	}
	if r.Truncated {
		if r.Fields == nil {
			r.Fields = schema.Fields{}
		}
		r.Fields["truncated"] = int64(origLen)
	}
	return r
}

var (
	timeKeys    = []string{"ts", "time", "@timestamp", "timestamp"}
	levelKeys   = []string{"level", "lvl", "severity", "loglevel"}
	messageKeys = []string{"msg", "message"}
)

func (p *Parser) json(line []byte, r *Result) bool {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return false
	}
	r.Format = JSON
	fields := make(map[string]string, len(obj))
	for k, raw := range obj {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			s = string(raw) // numbers, booleans, objects: their JSON text
		}
		fields[k] = s
	}
	p.take(fields, r)
	return true
}

func (p *Parser) take(fields map[string]string, r *Result) {
	for _, k := range timeKeys {
		if v, ok := fields[k]; ok {
			if t, ok := parseTime(v); ok {
				r.Time = t
				delete(fields, k)
				break
			}
		}
	}
	for _, k := range levelKeys {
		if v, ok := fields[k]; ok {
			if l, err := schema.ParseLevel(v); err == nil {
				r.Level = l
				delete(fields, k)
				break
			}
		}
	}
	for _, k := range messageKeys {
		if v, ok := fields[k]; ok {
			r.Message = v
			delete(fields, k)
			break
		}
	}
	for k, v := range fields {
		if !validKey(k) {
			delete(fields, k)
			fields[sanitizeKey(k)] = v
		}
	}
	if len(fields) > 0 {
		r.Fields = make(schema.Fields, len(fields))
		for k, v := range fields {
			r.Fields[k] = v
		}
	}
}

func parseTime(v string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
		if f > 1e12 { // milliseconds
			return time.UnixMilli(int64(f)), true
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), true
	}
	return time.Time{}, false
}

// logfmtPairs reads key=value pairs (values bare or double-quoted, with
// escapes). strict: every token must be a pair, else ok is false; lenient:
// other words are skipped and a bare value may end in punctuation that
// belongs to the sentence ("code=exited," → "exited").
func logfmtPairs(s string, strict bool) (map[string]string, bool) {
	fields := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return fields, true
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		key, rest, isPair := strings.Cut(s[:end], "=")
		if !isPair || !validKey(key) {
			if strict {
				return nil, false
			}
			s = s[end:]
			continue
		}
		s = s[len(key)+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			q := closingQuote(s)
			if q < 0 {
				return nil, false // unterminated quote
			}
			uq, err := strconv.Unquote(s[:q+1])
			if err != nil {
				uq = s[1:q]
			}
			val, s = uq, s[q+1:]
			if s != "" && s[0] != ' ' && s[0] != '\t' {
				if strict {
					return nil, false // text glued to a quoted value
				}
			}
		} else {
			val, s = rest, s[len(rest):]
			if !strict {
				val = strings.TrimRight(val, ",;.")
			}
		}
		fields[key] = val
	}
}

// closingQuote returns the index of the quote that ends the quoted value at
// the start of s, honouring backslash escapes, or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// plainPairs copies the key=value pairs found in a plain line into fields;
// a level key also sets the level when no level word led the line.
func plainPairs(line string, r *Result) {
	if !strings.Contains(line, "=") {
		return
	}
	fields, ok := logfmtPairs(line, false)
	if !ok || len(fields) == 0 {
		return
	}
	for _, k := range levelKeys {
		if v, found := fields[k]; found && r.Level == 0 {
			if l, err := schema.ParseLevel(v); err == nil {
				r.Level = l
				delete(fields, k)
			}
		}
	}
	if len(fields) > 0 {
		r.Fields = make(schema.Fields, len(fields))
		for k, v := range fields {
			r.Fields[k] = v
		}
	}
}

// leadingLevel finds a level word at the start of a plain line: "ERROR x",
// "[warn] x", "W: x", "<3>…" is left to syslog.
func leadingLevel(line []byte) schema.Level {
	s := strings.TrimLeft(string(line), " \t[(")
	end := strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end < 0 {
		end = len(s)
	}
	if end == 0 || end > 11 {
		return 0
	}
	word := s[:end]
	if end == 1 { // single-letter forms need a separator: "E: …", "[W] …"
		rest := s[1:]
		if rest == "" || !strings.ContainsRune(":]) ", rune(rest[0])) {
			return 0
		}
		switch strings.ToUpper(word) {
		case "E":
			return schema.LevelError
		case "W":
			return schema.LevelWarn
		case "I":
			return schema.LevelInfo
		case "D":
			return schema.LevelDebug
		case "F":
			return schema.LevelFatal
		}
		return 0
	}
	if l, err := schema.ParseLevel(word); err == nil {
		return l
	}
	return 0
}

func validKey(k string) bool {
	if k == "" || len(k) > schema.MaxFieldKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func sanitizeKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		if b.Len() >= schema.MaxFieldKeyLen {
			break
		}
		if r < 128 && validKey(string(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}
