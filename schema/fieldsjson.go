package schema

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is fields as JSON in the narrow shape json.Marshal gives
// fields that need no escaping (the common case), written and read
// without reflection: the index's fields column and the API's events.

// AppendPlainJSON appends the bytes json.Marshal makes of f when no key
// or string needs escaping (json.Marshal escapes controls, quotes,
// backslashes, <, > and &, and some non-ASCII) and every number is an
// integer; ok is false otherwise. json.Marshal's reflection over the
// map was 3.6 % of the collector's CPU at ingest (measured).
func AppendPlainJSON(b []byte, f Fields) (_ []byte, ok bool) {
	var keys [16]string
	sorted := keys[:0]
	for k := range f {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	b = append(b, '{')
	for i, k := range sorted {
		if !plainJSON(k) {
			return nil, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), k...), '"', ':')
		switch v := f[k].(type) {
		case string:
			if !plainJSON(v) {
				return nil, false
			}
			b = append(append(append(b, '"'), v...), '"')
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case bool:
			b = strconv.AppendBool(b, v)
		default:
			return nil, false
		}
	}
	return append(b, '}'), true
}

// ParsePlainJSON reads s when it has AppendPlainJSON's shape, as
// json.Unmarshal into Fields would; ok is false otherwise. Keys and
// strings are cut from one copy of s, which may be a decoder's memory,
// reused for the next block.
func ParsePlainJSON(s string) (_ Fields, ok bool) {
	if !plainShaped(s) {
		return nil, false
	}
	return parsePlain(strings.Clone(s))
}

// plainShaped is the cheap first test of AppendPlainJSON's shape.
func plainShaped(s string) bool { return len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' }

// parsePlain is ParsePlainJSON keeping s's memory: keys and strings are
// cut from it.
func parsePlain(s string) (_ Fields, ok bool) {
	if !plainShaped(s) {
		return nil, false
	}
	f := make(Fields, strings.Count(s, ":"))
	for rest := s[1 : len(s)-1]; rest != ""; rest = rest[1:] {
		key, after, ok := plainString(rest)
		if !ok || after == "" || after[0] != ':' {
			return nil, false
		}
		var v any
		if v, rest, ok = plainValue(after[1:]); !ok {
			return nil, false
		}
		f[key] = v
		if rest == "" {
			break
		}
		if rest[0] != ',' || len(rest) == 1 { // a trailing comma
			return nil, false
		}
	}
	return f, true
}

// plainString reads a quoted string that needs no escaping from the start
// of s, and returns what follows it.
func plainString(s string) (str, rest string, ok bool) {
	if s == "" || s[0] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 || !plainJSON(s[1:end+1]) {
		return "", "", false
	}
	return s[1 : end+1], s[end+2:], true
}

// plainValue reads from the start of s one value appendPlainFields
// writes: a string, an integer in JSON's syntax that fits an int64, true
// or false; rest is what follows it.
func plainValue(s string) (v any, rest string, ok bool) {
	if s != "" && s[0] == '"' {
		return plainString(s)
	}
	end := strings.IndexByte(s, ',')
	if end < 0 {
		end = len(s)
	}
	token, rest := s[:end], s[end:]
	switch token {
	case "true":
		return true, rest, true
	case "false":
		return false, rest, true
	}
	digits := strings.TrimPrefix(token, "-")
	if digits == "" || (digits[0] == '0' && len(digits) > 1) {
		return nil, "", false // JSON has no leading zeros
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return nil, "", false
		}
	}
	n, err := strconv.ParseInt(token, 10, 64)
	return n, rest, err == nil
}

// plainJSON says whether json.Marshal writes s as it is between quotes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
