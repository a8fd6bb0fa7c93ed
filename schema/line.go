package schema

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// LineTimeFormat has a fixed-width fraction so that lines sort by time as text.
const LineTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// AppendLine appends the human-readable, single-line form of ev used in the
// collector's log files and by `logq search --output text`:
//
//	2026-11-24T23:01:40.123456789Z info  downcase web-1: lower case of X is x answer=x param=X
//
// Control characters in the host and message are escaped (see appendEscaped)
// so one event is always one line and nothing in it can steer a terminal;
// string values of fields and labels are quoted (Go syntax) when they hold
// spaces, quotes, '=', backslashes or such characters; numbers and booleans
// are written bare. Labels follow the service in braces:
// "web{env=prod} web-1: …".
func AppendLine(b []byte, ev *Event) []byte { return AppendLineIn(b, ev, time.UTC) }

// AppendLineIn is AppendLine with the time shown in loc (as logq shows
// events in local time).
func AppendLineIn(b []byte, ev *Event, loc *time.Location) []byte {
	b = ev.Time.In(loc).AppendFormat(b, LineTimeFormat)
	b = append(b, ' ')
	lvl := ev.Level.String()
	b = append(b, lvl...)
	for i := len(lvl); i < 5; i++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = append(b, ev.Service...)
	b = ev.Labels.Append(b)
	b = append(b, ' ')
	if ev.Host == "" {
		b = append(b, '-')
	} else {
		b = appendEscaped(b, ev.Host)
	}
	b = append(b, ':', ' ')
	b = appendEscaped(b, ev.Message)
	for _, k := range sortedKeys(ev.Fields) {
		b = append(b, ' ')
		b = append(b, k...)
		b = append(b, '=')
		if s, ok := ev.Fields[k].(string); ok {
			b = AppendLogfmtValue(b, s)
		} else {
			b = AppendValue(b, ev.Fields[k])
		}
	}
	return append(b, '\n')
}

// appendEscaped writes s with every character a terminal could act on
// escaped, so a log line is one line and can never move the cursor, change
// colours or reorder text: \n \r \t, a backslash as \\, other C0
// controls and DEL as \xHH, C1 controls, line separators and bidi
// overrides as \uHHHH. The stored event keeps the original text.
func appendEscaped(b []byte, s string) []byte {
	return appendSafe(b, s, false)
}

// AppendTerminal writes s for a terminal as logq's raw output does: like
// the line format, but newlines and tabs stay as they are, so multi-line
// messages (stack traces) read naturally.
func AppendTerminal(b []byte, s string) []byte {
	return appendSafe(b, s, true)
}

func appendSafe(b []byte, s string, keepLines bool) []byte {
	if isClean(s) {
		return append(b, s...)
	}
	for _, r := range s {
		switch {
		case keepLines && (r == '\n' || r == '\t'):
			b = append(b, byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\\' && !keepLines:
			b = append(b, '\\', '\\')
		case r < 0x20 || r == 0x7f:
			b = append(b, '\\', 'x', hexDigit[r>>4], hexDigit[r&0xf])
		case unsafeRune(r):
			b = fmt.Appendf(b, "\\u%04x", r)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// isClean reports whether s needs no escaping: no backslash and no
// unsafeRune. ASCII, most of a log, is checked a byte at a time.
func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			for _, r := range s[i:] {
				if r == '\\' || unsafeRune(r) {
					return false
				}
			}
			return true
		}
		if c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

const hexDigit = "0123456789abcdef"

// unsafeRune reports characters a terminal interprets: C0, DEL, C1 (U+009B
// is a one-character CSI), the line and paragraph separators, and the bidi
// embeddings, overrides and isolates that can make text display reordered.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// AppendLogfmtValue writes v bare when it is a plain token, quoted otherwise.
func AppendLogfmtValue(b []byte, v string) []byte {
	if v == "" {
		return append(b, '"', '"')
	}
	for _, r := range v {
		if r <= ' ' || r == '"' || r == '=' || r == '\\' || unsafeRune(r) {
			return appendQuoted(b, v)
		}
	}
	return append(b, v...)
}

// appendQuoted is strconv's Go quoting, which already escapes controls and
// C1; bidi controls and separators, which it would print, are escaped too.
func appendQuoted(b []byte, v string) []byte {
	q := strconv.Quote(v)
	for _, r := range q {
		if unsafeRune(r) {
			return append(b, strconv.QuoteToASCII(v)...)
		}
	}
	return append(b, q...)
}
