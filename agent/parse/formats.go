package parse

import (
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/schema"
)

// shapes are the text formats recognised by their fixed shape, tried in
// order before the generic "time stamp, level, text" reading. Each reports
// whether the line was its format, and then fills the whole result.
var shapes = []func(p *Parser, s string, r *Result) bool{
	accessLine, syslogFileLine, klogLine, railsLine, redisLine,
}

// accessLine reads the NCSA common and combined formats of Apache and
// nginx access logs:
//
//	1.2.3.4 - frank [29/Nov/2026:23:40:00 +0000] "GET /x HTTP/1.1" 200 2326 "http://ref/" "curl/8.5"
//
// The message is the whole line; the parts become fields, and a 5xx status
// makes the level error, a 4xx warn.
func accessLine(_ *Parser, s string, r *Result) bool {
	i := strings.Index(s, " [")
	if i <= 0 || i > 300 || len(s) < i+2+28 {
		return false
	}
	head := strings.Fields(s[:i])
	rest := s[i+2:]
	if len(head) != 3 || rest[26] != ']' || rest[27] != ' ' {
		return false
	}
	t, ok := clfTime(rest[:26])
	if !ok {
		return false
	}
	request, rest, ok := quotedPrefix(rest[28:])
	if !ok {
		return false
	}
	statusText, rest := nextToken(rest)
	status, err := strconv.Atoi(statusText)
	if err != nil || status < 100 || status > 999 {
		return false
	}
	sizeText, rest := nextToken(rest)
	f := schema.Fields{"remote_addr": head[0], "status": int64(status)}
	if size, err := strconv.ParseInt(sizeText, 10, 64); err == nil {
		f["bytes"] = size
	} else if sizeText != "-" {
		return false
	}
	if head[2] != "-" {
		f["remote_user"] = head[2]
	}
	if method, target, ok := strings.Cut(request, " "); ok && method != "" {
		f["method"] = method
		f["path"], f["protocol"] = cutLast(target, " ")
	} else if request != "-" {
		f["request"] = request
	}
	if referer, more, ok := quotedPrefix(strings.TrimLeft(rest, " ")); ok {
		if referer != "-" {
			f["referer"] = referer
		}
		if agent, _, ok := quotedPrefix(strings.TrimLeft(more, " ")); ok && agent != "-" {
			f["user_agent"] = agent
		}
	}
	r.Time, r.Message, r.Fields = t, s, f
	r.Level = schema.LevelInfo
	if status >= 500 {
		r.Level = schema.LevelError
	} else if status >= 400 {
		r.Level = schema.LevelWarn
	}
	return true
}

// quotedPrefix reads a double-quoted string at the start of s, as it is:
// servers escape quotes and bytes that are not text (\" \x16), and
// unescaping those could make the value invalid UTF-8.
func quotedPrefix(s string) (inner, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, false
	}
	q := closingQuote(s)
	if q < 0 {
		return "", s, false
	}
	return s[1:q], s[q+1:], true
}

func nextToken(s string) (tok, rest string) {
	s = strings.TrimLeft(s, " ")
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// cutLast splits "/a b HTTP/1.1" at its last sep; without one, all of s is
// the first part.
func cutLast(s, sep string) (string, any) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):]
	}
	return s, ""
}

// syslogFileLine reads a line of a file rsyslog or syslog-ng wrote, in the
// traditional or the high-precision form:
//
//	Nov 29 23:40:00 web-1 sshd[812]: Accepted publickey for deploy
//	2026-11-29T23:40:00.123456+00:00 web-1 sshd[812]: Accepted publickey for deploy
//
// The host and the program (the service) are the record's; the process id
// becomes the field procid; the message is the text after "tag: ".
func syslogFileLine(p *Parser, s string, r *Result) bool {
	t, n, ok := stampPrefix(s, p.o.Location, p.o.Now())
	if !ok {
		var zoned bool
		if t, n, zoned, ok = isoPrefix(s, p.o.Location); !ok || !zoned || s[10] != 'T' {
			return false
		}
	}
	if n >= len(s) || s[n] != ' ' {
		return false
	}
	host, rest := nextToken(s[n:])
	if !syslogHost(host) || !strings.HasPrefix(rest, " ") {
		return false
	}
	tag, pid, msg, ok := syslogTag(rest[1:])
	if !ok {
		return false
	}
	r.Time, r.Host, r.Message = t, host, msg
	r.setService(tag)
	if pid != "" {
		r.put("procid", typedText(pid))
	}
	r.Level = leadingLevel(msg)
	textPairs(msg, r)
	return true
}

// syslogHost accepts a host name or address, and not a word a logger puts
// after its time stamp (a level, a number, a bracketed thread).
func syslogHost(h string) bool {
	if h == "" || len(h) > schema.MaxHostLen {
		return false
	}
	letter := false
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':':
		default:
			return false
		}
	}
	if _, isLevel := levelWord(h); isLevel {
		return false
	}
	return letter || strings.ContainsAny(h, ".:")
}

// syslogTag reads "tag[pid]: text" or "tag: text".
func syslogTag(s string) (tag, pid, msg string, ok bool) {
	end := strings.IndexAny(s, "[: ")
	if end <= 0 || end > 48 || s[end] == ' ' {
		return "", "", "", false
	}
	tag, s = s[:end], s[end:]
	if s[0] == '[' {
		close := strings.IndexByte(s, ']')
		if close < 0 {
			return "", "", "", false
		}
		pid, s = s[1:close], s[close+1:]
	}
	if !strings.HasPrefix(s, ":") || len(s) > 1 && s[1] != ' ' {
		return "", "", "", false
	}
	return tag, pid, strings.TrimPrefix(s[1:], " "), true
}

// klogLine reads Kubernetes' klog header:
//
//	E1129 23:40:00.123456   12345 controller.go:123] "Failed to sync" err="x"
//
// level letter, month and day, time (year inferred), thread id, file:line.
func klogLine(p *Parser, s string, r *Result) bool {
	if len(s) < 30 || s[5] != ' ' || s[8] != ':' || s[11] != ':' || s[14] != '.' {
		return false
	}
	level, ok := letterLevel(s[0])
	mon, ok1 := digits(s, 1, 2)
	day, ok2 := digits(s, 3, 2)
	hh, ok3 := digits(s, 6, 2)
	mm, ok4 := digits(s, 9, 2)
	ss, ok5 := digits(s, 12, 2)
	us, ok6 := digits(s, 15, 6)
	if !(ok && ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || s[0] < 'A' || s[0] > 'Z' || mon < 1 || mon > 12 {
		return false
	}
	thread, rest := nextToken(s[21:])
	caller, rest := nextToken(rest)
	if _, err := strconv.Atoi(thread); err != nil || !strings.HasSuffix(caller, "]") || !strings.HasPrefix(rest, " ") {
		return false
	}
	r.Time = inferYear(time.Month(mon), day, hh, mm, ss, us*1000, p.o.Location, p.o.Now())
	r.Level, r.Message = level, rest[1:]
	r.put("thread", typedText(thread))
	r.put("caller", caller[:len(caller)-1])
	textPairs(r.Message, r)
	return true
}

// railsLine reads Ruby's Logger format (Rails):
//
//	E, [2026-11-29T23:40:00.123456 #12345] ERROR -- app: message
func railsLine(p *Parser, s string, r *Result) bool {
	if len(s) < 40 || s[1] != ',' || s[2] != ' ' || s[3] != '[' {
		return false
	}
	t, n, _, ok := isoPrefix(s[4:], p.o.Location)
	if !ok || !strings.HasPrefix(s[4+n:], " #") {
		return false
	}
	pid, rest, ok := strings.Cut(s[4+n+2:], "] ")
	if !ok {
		return false
	}
	levelName, rest := nextToken(rest)
	head, msg, ok := strings.Cut(rest, ": ")
	progname, isRuby := strings.CutPrefix(strings.TrimSpace(head), "--")
	level, known := levelWord(levelName)
	if !ok || !isRuby || !known {
		return false
	}
	r.Time, r.Level, r.Message = t, level, msg
	r.put("pid", typedText(pid))
	if progname = strings.TrimSpace(progname); progname != "" {
		r.put("progname", progname)
	}
	textPairs(msg, r)
	return true
}

// redisLine reads Redis's log format:
//
//	12345:M 29 Nov 2026 23:40:00.123 * Ready to accept connections
//
// pid:role, time, and a level mark: . debug, - verbose, * notice, # warning.
func redisLine(p *Parser, s string, r *Result) bool {
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || colon > 10 || len(s) < colon+3+24 || s[colon+2] != ' ' || !strings.ContainsRune("MSCX", rune(s[colon+1])) {
		return false
	}
	if _, err := strconv.Atoi(s[:colon]); err != nil {
		return false
	}
	t, n, ok := dmyPrefix(s[colon+3:], p.o.Location)
	rest := s[colon+3+n:]
	if !ok || len(rest) < 3 || rest[0] != ' ' || rest[2] != ' ' {
		return false
	}
	level := map[byte]schema.Level{'.': schema.LevelDebug, '-': schema.LevelDebug, '*': schema.LevelInfo, '#': schema.LevelWarn}[rest[1]]
	if level == 0 {
		return false
	}
	r.Time, r.Level, r.Message = t, level, rest[3:]
	r.put("pid", typedText(s[:colon]))
	r.put("role", s[colon+1:colon+2])
	return true
}
