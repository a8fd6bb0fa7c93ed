package parse

import (
	"strconv"
	"strings"

	"github.com/zlog/zlog/schema"
)

// levelWord reads a level name in any case: the canonical names and their
// aliases (schema.ParseLevel), PostgreSQL's LOG and DEBUG1-5, Java's SEVERE
// and FINE*, and syslog's short forms.
func levelWord(w string) (schema.Level, bool) {
	if l, err := schema.ParseLevel(w); err == nil {
		return l, true
	}
	switch strings.ToLower(w) {
	case "log", "config", "verbose":
		return schema.LevelInfo, true
	case "severe":
		return schema.LevelError, true
	case "fine", "finer", "finest", "debug1", "debug2", "debug3", "debug4", "debug5":
		return schema.LevelDebug, true
	}
	return 0, false
}

// letterLevel reads the one-letter levels of klog, Rails and Android (E,
// W, I, D, F, T, V).
func letterLevel(c byte) (schema.Level, bool) {
	switch c {
	case 'E', 'e':
		return schema.LevelError, true
	case 'W', 'w':
		return schema.LevelWarn, true
	case 'I', 'i':
		return schema.LevelInfo, true
	case 'D', 'd', 'V', 'v':
		return schema.LevelDebug, true
	case 'F', 'f', 'A', 'a':
		return schema.LevelFatal, true
	case 'T', 't':
		return schema.LevelTrace, true
	}
	return 0, false
}

// syslogSeverity maps a syslog severity 0-7 (journald's PRIORITY) to a level.
func syslogSeverity(n int64) (schema.Level, bool) {
	if n < 0 || n > 7 {
		return 0, false
	}
	return [8]schema.Level{schema.LevelFatal, schema.LevelFatal, schema.LevelFatal, schema.LevelError,
		schema.LevelWarn, schema.LevelInfo, schema.LevelInfo, schema.LevelDebug}[n], true
}

// levelNumber maps a numeric level: syslog severities 0-7, and the
// multiples of ten of pino and bunyan (10 trace … 60 fatal).
func levelNumber(n int64) (schema.Level, bool) {
	if n < 10 {
		return syslogSeverity(n)
	}
	switch {
	case n <= 10:
		return schema.LevelTrace, true
	case n <= 20:
		return schema.LevelDebug, true
	case n <= 30:
		return schema.LevelInfo, true
	case n <= 40:
		return schema.LevelWarn, true
	case n <= 50:
		return schema.LevelError, true
	case n <= 100:
		return schema.LevelFatal, true
	}
	return 0, false
}

// levelValue reads a record's level value: a name or a number (also as a
// string, as journald's PRIORITY is).
func levelValue(v any) (schema.Level, bool) {
	switch v := v.(type) {
	case string:
		if len(v) == 1 && (v[0] < '0' || v[0] > '9') {
			return letterLevel(v[0])
		}
		if l, ok := levelWord(v); ok {
			return l, true
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return levelNumber(n)
		}
	case int64:
		return levelNumber(v)
	case float64:
		if v == float64(int64(v)) {
			return levelNumber(int64(v))
		}
	}
	return 0, false
}

// leadingLevel finds a level word at the start of a line: "ERROR x",
// "[warn] x", "error: x", "E: x", "ERROR:root:x" (Python's default).
func leadingLevel(s string) schema.Level {
	l, _ := tokenLevel(firstToken(s), true)
	return l
}

// headerLevel finds the level among the first few words after a line's
// timestamp, where loggers put it: "ERROR [main] …" (logback), "- app -
// ERROR - …" (Python), "[12] ERROR: …" (PostgreSQL), "0 [Warning] …"
// (MySQL), "[core:error] …" (Apache), "INFO\tmain.go:12\t…" (zap).
func headerLevel(s string) schema.Level {
	for i := 0; i < 4 && s != ""; i++ {
		tok := firstToken(s)
		if l, ok := tokenLevel(tok, false); ok {
			return l
		}
		s = strings.TrimLeft(s[len(tok):], " \t")
	}
	return 0
}

func firstToken(s string) string {
	s = strings.TrimLeft(s, " \t")
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// tokenLevel reads one word as a level. A bare word counts when it is in
// upper case (ERROR, WARN) or, at the start of a line (first), when it is
// one of the plain level names in any case ("Error connecting");
// a marked word ("[error]", "<warn>", "error:", "[core:error]") in any
// case; a single letter only when marked ("E:", "[W]").
func tokenLevel(tok string, first bool) (schema.Level, bool) {
	word, marked := unmark(tok)
	if word == "" {
		return 0, false
	}
	if len(word) == 1 {
		if !marked {
			return 0, false
		}
		return letterLevel(word[0])
	}
	if len(word) > 13 {
		return 0, false
	}
	if !marked && strings.ToUpper(word) != word {
		// A capitalised word that opens a sentence ("Alert raised",
		// "Critical section") is prose unless it is a plain level name.
		if !first || !plainLevelNames[strings.ToLower(word)] {
			return 0, false
		}
	}
	return levelWord(word)
}

var plainLevelNames = map[string]bool{"trace": true, "debug": true, "info": true, "warn": true, "warning": true, "error": true, "fatal": true}

// unmark strips the brackets and colons that set a level word apart, and
// an Apache "module:" prefix, reporting whether there were any.
func unmark(tok string) (word string, marked bool) {
	word = tok
	if n := len(word); n >= 2 && (word[0] == '[' && word[n-1] == ']' || word[0] == '<' && word[n-1] == '>' || word[0] == '(' && word[n-1] == ')') {
		word, marked = word[1:n-1], true
		if i := strings.LastIndexByte(word, ':'); i >= 0 { // [core:error]
			word = word[i+1:]
		}
	}
	if i := strings.IndexByte(word, ':'); i > 0 { // "error:" and Python's "ERROR:root:msg"
		word, marked = word[:i], true
	}
	return strings.TrimRight(word, ","), marked
}
