package parse

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zlog/zlog/schema"
)

// Syslog is the format of syslog messages as they arrive over the network
// (Parser.Syslog); as a file source's format it reads each line as one.
const Syslog Format = "syslog"

// ErrMalformed is wrapped by Parser.Syslog errors.
var ErrMalformed = errors.New("malformed syslog message")

var facilityNames = [24]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// Syslog reads one syslog message:
//
//   - RFC 5424: "<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG";
//     structured data becomes fields sd.<id>.<param>. A version other than
//     1 is read the same way, or as RFC 3164 if that fails.
//   - RFC 3164 (BSD): "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG", with an
//     RFC 3339 time stamp instead (rsyslog's forward format, syslog-ng,
//     Go's log/syslog), a tag without a colon (the first word after the
//     host), or no header at all (the whole rest is the message).
//
// The program (APP-NAME, TAG) is the service; the severity the level; the
// facility, PROCID and MSGID are fields.
func (p *Parser) Syslog(b []byte) (Result, error) {
	var r Result
	b = bytes.TrimRight(b, "\r\n\x00")
	b = p.repair(b, &r)
	r.Format = Syslog
	if len(b) < 3 || b[0] != '<' {
		return r, fmt.Errorf("%w: no <PRI>", ErrMalformed)
	}
	end := bytes.IndexByte(b[:min(len(b), 5)], '>')
	if end < 2 {
		return r, fmt.Errorf("%w: bad <PRI>", ErrMalformed)
	}
	pri, err := strconv.Atoi(string(b[1:end]))
	if err != nil || pri < 0 || pri > 191 {
		return r, fmt.Errorf("%w: PRI %q out of range", ErrMalformed, b[1:end])
	}
	r.Level, _ = syslogSeverity(int64(pri % 8))
	r.put("facility", facilityNames[pri/8])
	rest := string(b[end+1:])
	if version, after, ok := syslogVersion(rest); ok {
		err := p.rfc5424(after, &r)
		if err == nil || version == "1" {
			if err == nil && version != "1" {
				r.put("syslog_version", typedText(version))
			}
			return r, err
		}
		r = Result{Level: r.Level, Format: Syslog, Truncated: r.Truncated, InvalidUTF8: r.InvalidUTF8}
		r.put("facility", facilityNames[pri/8])
	}
	p.rfc3164(rest, &r)
	return r, nil
}

// syslogVersion reads RFC 5424's VERSION: one to three digits, not
// starting with 0, then a space.
func syslogVersion(s string) (version, rest string, ok bool) {
	i := 0
	for i < len(s) && i < 3 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || s[0] == '0' || i >= len(s) || s[i] != ' ' {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

func (p *Parser) rfc5424(s string, r *Result) error {
	var head [5]string
	for i := range head {
		var ok bool
		if head[i], s, ok = strings.Cut(s, " "); !ok && i < 4 {
			return fmt.Errorf("%w: RFC 5424 header has %d of 6 fields", ErrMalformed, i+1)
		}
	}
	if head[0] != "-" {
		t, n, zoned, ok := isoPrefix(head[0], p.o.Location)
		if !ok || !zoned || n != len(head[0]) {
			return fmt.Errorf("%w: timestamp %q", ErrMalformed, head[0])
		}
		r.Time = t
	}
	r.Host = nilValue(head[1])
	if app := nilValue(head[2]); app != "" {
		r.setService(app)
	}
	if v := nilValue(head[3]); v != "" {
		r.put("procid", typedText(v))
	}
	if v := nilValue(head[4]); v != "" {
		r.put("msgid", v)
	}
	msg, err := structuredData(s, r)
	if err != nil {
		return err
	}
	r.Message = strings.TrimPrefix(msg, "\ufeff") // BOM
	textPairs(r.Message, r)
	return nil
}

func nilValue(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// structuredData reads "-" or one or more [ID PARAM="VALUE" …] elements
// into fields sd.ID.PARAM (sd.ID = "" for an element without parameters),
// and returns the message after them.
func structuredData(s string, r *Result) (string, error) {
	switch {
	case s == "" || s == "-":
		return "", nil
	case strings.HasPrefix(s, "- "):
		return s[2:], nil
	case !strings.HasPrefix(s, "["):
		return "", fmt.Errorf("%w: structured data must be - or [...]", ErrMalformed)
	}
	for strings.HasPrefix(s, "[") {
		id, rest, _ := strings.Cut(s[1:], " ")
		if i := strings.IndexByte(id, ']'); i >= 0 { // [id] with no parameters
			id, rest = id[:i], s[1+i:]
		}
		params := 0
		for {
			rest = strings.TrimLeft(rest, " ")
			if strings.HasPrefix(rest, "]") {
				s = rest[1:]
				break
			}
			name, after, ok := strings.Cut(rest, "=\"")
			if !ok || name == "" || strings.ContainsAny(name, " ]") {
				return "", fmt.Errorf("%w: unterminated or bad structured data", ErrMalformed)
			}
			value, tail, ok := sdValue(after)
			if !ok {
				return "", fmt.Errorf("%w: unterminated structured data value", ErrMalformed)
			}
			r.put("sd."+id+"."+name, value)
			rest, params = tail, params+1
		}
		if params == 0 {
			r.put("sd."+id, "")
		}
	}
	return strings.TrimPrefix(s, " "), nil
}

// sdValue reads a PARAM-VALUE up to its closing quote, undoing the \" \\
// and \] escapes (a backslash before anything else stays).
func sdValue(s string) (value, rest string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && strings.IndexByte(`"\]`, s[i+1]) >= 0:
			b.WriteByte(s[i+1])
			i++
		case c == '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// rfc3164 reads the BSD form leniently: everything it cannot place is the
// message.
func (p *Parser) rfc3164(s string, r *Result) {
	t, n, ok := stampPrefix(s, p.o.Location, p.o.Now())
	if !ok {
		t, n, _, ok = isoPrefix(s, p.o.Location)
	}
	stamped := ok && (n == len(s) || s[n] == ' ')
	if stamped {
		r.Time = t
		s = strings.TrimPrefix(s[n:], " ")
		if host, after, ok := strings.Cut(s, " "); ok && !isTag(host) {
			r.Host, s = host, after
		}
	}
	if tag, pid, msg, ok := syslogTag(s); ok {
		r.setService(tag)
		if pid != "" {
			r.put("procid", typedText(pid))
		}
		s = msg
	} else if word, msg, ok := strings.Cut(s, " "); stamped && ok && bareTag(word) {
		// rsyslog forwards a message that came with an RFC 5424 APP-NAME
		// with that name as a tag without a colon.
		r.setService(word)
		s = msg
	}
	r.Message = s
	textPairs(s, r)
}

// isTag reports whether the word after a time stamp is the tag itself
// (the sender left out the host): "app:" or "app[12]:".
func isTag(word string) bool {
	return strings.HasSuffix(word, ":") || strings.Contains(word, "[") && strings.HasSuffix(word, "]:")
}

// bareTag accepts a tag without a colon: 1-48 characters with a letter
// (not a year or a number) and without the punctuation a sentence or a
// value would start with.
func bareTag(w string) bool {
	if w == "" || len(w) > 48 {
		return false
	}
	letter := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c < '!' || c == '=' || c == '"' || c == '\'' || c == '(' || c == '[' || c == '{' || c == '<' || c == '%' {
			return false
		}
		letter = letter || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= 0x80
	}
	return letter
}

// setService makes a program name the service, keeping the name as the
// sender wrote it in the field app_name when the service had to differ
// (upper case, characters a service cannot have).
func (r *Result) setService(name string) {
	base := name[strings.LastIndexByte(name, '/')+1:] // /usr/sbin/cron
	if base == "" {
		return
	}
	r.Service = schema.SanitizeService(base)
	if r.Service != name {
		r.put("app_name", name)
	}
}
