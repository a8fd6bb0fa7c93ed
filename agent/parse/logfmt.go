package parse

import (
	"strconv"
	"strings"

	"github.com/zlog/zlog/schema"
)

// logfmtPairs reads key=value pairs (values bare or double-quoted, with
// escapes) into fields. strict: every token must be a pair, else ok is
// false; lenient: other words are skipped and a bare value may end in
// punctuation that belongs to the sentence ("code=exited," → "exited").
// Bare values that are numbers or booleans get that type; quoted ones stay
// strings.
func logfmtPairs(s string, strict bool) (schema.Fields, bool) {
	var fields schema.Fields
	for {
		s = s[blanks(s):]
		if s == "" {
			return fields, true
		}
		end := 0
		for end < len(s) && s[end] != ' ' && s[end] != '\t' {
			end++
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
		var val any
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
			if strict && s != "" && s[0] != ' ' && s[0] != '\t' {
				return nil, false // text glued to a quoted value
			}
		} else {
			bare := rest
			s = s[len(rest):]
			if !strict {
				bare = strings.TrimRight(bare, ",;.")
			}
			val = typedText(bare)
		}
		if fields == nil {
			fields = schema.Fields{}
		}
		fields[key] = val
	}
}

// blanks counts the spaces and tabs s starts with; byte loops beat
// strings.TrimLeft and IndexAny, which build a set on every call.
func blanks(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// typedText gives a bare value its type when its text is exactly how that
// number or boolean is written, so nothing is lost: "3" → 3, "0.25" →
// 0.25, "true" → true, but "007", "1.10" and "1e3" stay strings.
func typedText(s string) any {
	if s == "" || len(s) > 24 {
		return s
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	c := s[0]
	if c != '-' && (c < '0' || c > '9') {
		return s
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		if strconv.FormatInt(i, 10) == s {
			return i
		}
		return s
	}
	if strings.IndexByte(s, '.') > 0 {
		if f, err := strconv.ParseFloat(s, 64); err == nil && schema.FormatValue(f) == s {
			return f
		}
	}
	return s
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

// textPairs copies the key=value pairs found in a line of text into
// fields; a level key also sets the level when the text named none.
func textPairs(text string, r *Result) {
	if !strings.Contains(text, "=") {
		return
	}
	fields, ok := logfmtPairs(text, false)
	if !ok || len(fields) == 0 {
		return
	}
	if r.Level == 0 {
		for _, k := range levelKeys {
			if v, found := fields[k]; found {
				if l, ok := levelValue(v); ok {
					r.Level = l
					delete(fields, k)
					break
				}
			}
		}
	}
	r.addFields(fields)
}

func validKey(k string) bool { return schema.ValidFieldKey(k) }

func sanitizeKey(k string) string { return schema.SanitizeFieldKey(k) }
