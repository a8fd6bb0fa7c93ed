package parse

import (
	"strings"
	"time"
)

// text reads a line of text. The formats with a fixed shape (formats.go)
// are tried first; otherwise a time stamp the line starts with is the
// event's time and is taken off the message, and the level comes from the
// words after it. Nothing else of the line is lost.
func (p *Parser) text(line []byte, r *Result) {
	*r = Result{Truncated: r.Truncated, InvalidUTF8: r.InvalidUTF8, Format: Plain}
	s := string(line)
	for _, shape := range shapes {
		if shape(p, s, r) {
			return
		}
	}
	t, rest, ok := p.leadingStamp(s)
	if !ok {
		r.Message, r.Level = s, leadingLevel(s)
		if after, ok := clockPrefix(s); ok {
			// A time of day without a date (logback's default) cannot
			// date the event, but the level follows it.
			r.Level = headerLevel(after)
		}
		textPairs(s, r)
		return
	}
	r.Time, r.Level, r.Message = t, headerLevel(rest), rest
	if rest == "" {
		r.Message = s // a line that is only a time stamp
	}
	p.jsonTail(rest, r)
	textPairs(rest, r)
}

// leadingStamp reads the time stamp a line starts with, maybe in
// brackets: ISO 8601 and its variants (2026-11-29 23:40:00,123, Go's
// 2026/11/29 23:40:00), syslog's Nov 29 23:40:00 and C's Sun Nov 29
// 23:40:00 2026. rest is the line after it and the separator that follows
// (spaces, "- ", "| ", "] ").
func (p *Parser) leadingStamp(s string) (t time.Time, rest string, ok bool) {
	inner := s
	bracket := strings.HasPrefix(s, "[")
	if bracket {
		inner = s[1:]
	}
	var n int
	if len(inner) < 15 {
		return t, "", false
	}
	switch c := inner[0]; {
	case c >= '0' && c <= '9':
		t, n, _, ok = isoPrefix(inner, p.o.Location)
	case inner[3] == ' ' && inner[4] != ' ' && weekday(inner[:3]) >= 0:
		t, n, ok = ctimePrefix(inner, p.o.Location)
	default:
		t, n, ok = stampPrefix(inner, p.o.Location, p.o.Now())
	}
	if !ok {
		return t, "", false
	}
	rest = inner[n:]
	if bracket {
		if !strings.HasPrefix(rest, "]") {
			return time.Time{}, "", false
		}
		rest = rest[1:]
	}
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' && rest[0] != ':' {
		return time.Time{}, "", false // glued to a word: not a stamp
	}
	return t, trimSeparator(rest), true
}

// trimSeparator drops the blanks and one "-", "|" or ":" that part a
// stamp from the text.
func trimSeparator(s string) string {
	s = strings.TrimLeft(s, " \t")
	if len(s) >= 2 && (s[0] == '-' || s[0] == '|' || s[0] == ':') && (s[1] == ' ' || s[1] == '\t') {
		s = strings.TrimLeft(s[2:], " \t")
	}
	return s
}

// jsonTail reads the JSON object zap's console encoder (and others) put
// after a tab at the end of the line into fields; the text keeps it.
func (p *Parser) jsonTail(text string, r *Result) {
	if !strings.HasSuffix(text, "}") {
		return
	}
	i := strings.LastIndex(text, "\t{")
	if i < 0 {
		return
	}
	jp := p.json.Get()
	defer p.json.Put(jp)
	v, err := jp.Parse(text[i+1:])
	if err != nil {
		return
	}
	if o, err := v.Object(); err == nil {
		p.flatten(o, nil, r)
	}
}

// clockPrefix reads "HH:MM:SS[.frac]" and the blanks after it.
func clockPrefix(s string) (rest string, ok bool) {
	if len(s) < 9 || s[2] != ':' || s[5] != ':' {
		return "", false
	}
	for _, i := range []int{0, 1, 3, 4, 6, 7} {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	_, n := fraction(s[8:])
	rest = s[8+n:]
	if rest == "" || rest[0] != ' ' && rest[0] != '\t' {
		return "", false
	}
	return trimSeparator(rest), true
}
