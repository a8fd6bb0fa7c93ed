package schema

import (
	"sort"
	"strconv"
	"strings"
)

// LineTimeFormat has a fixed-width fraction so that lines sort by time as text.
const LineTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// AppendLine appends the human-readable, single-line form of ev used in the
// collector's log files and by `logq search --output text`:
//
//	2026-11-24T23:01:40.123456789Z info  downcase web-1: lower case of X is x answer=x param=X
//
// Newlines and carriage returns inside the message are written as \n and \r
// so one event is always one line; field values are logfmt-quoted when needed.
func AppendLine(b []byte, ev *Event) []byte {
	b = ev.Time.UTC().AppendFormat(b, LineTimeFormat)
	b = append(b, ' ')
	lvl := ev.Level.String()
	b = append(b, lvl...)
	for i := len(lvl); i < 5; i++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = append(b, ev.Service...)
	b = append(b, ' ')
	if ev.Host == "" {
		b = append(b, '-')
	} else {
		b = appendEscaped(b, ev.Host)
	}
	b = append(b, ':', ' ')
	b = appendEscaped(b, ev.Message)
	if len(ev.Fields) > 0 {
		keys := make([]string, 0, len(ev.Fields))
		for k := range ev.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b = append(b, ' ')
			b = append(b, k...)
			b = append(b, '=')
			b = AppendLogfmtValue(b, ev.Fields[k])
		}
	}
	return append(b, '\n')
}

func appendEscaped(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\r\n") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, s[i])
		}
	}
	return b
}

// AppendLogfmtValue writes v bare when it is a plain token, quoted otherwise.
func AppendLogfmtValue(b []byte, v string) []byte {
	if v == "" {
		return append(b, '"', '"')
	}
	for _, r := range v {
		if r <= ' ' || r == '"' || r == '=' || r == '\\' || r == 0x7f {
			return strconv.AppendQuote(b, v)
		}
	}
	return append(b, v...)
}
