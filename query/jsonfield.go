package query

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/schema"
)

// jsonField reads one field's value from an event's stored fields (a
// flat JSON object as index.FieldsColumn writes it: scalar values, no
// spaces) without decoding the rest: a condition on one field of each of
// a million events must not build a million maps. Values come out as
// schema.Fields' decoding makes them: integral numbers int64, other
// numbers float64. ok is false when the field is absent; anything the
// scan does not expect is left to the full decoder (fallback true).
func jsonField(raw, key string) (v any, ok, fallback bool) {
	tok, ok, fallback := jsonToken(raw, key)
	if !ok {
		return nil, false, fallback
	}
	v, good := jsonScalar(tok)
	return v, good, !good
}

// jsonToken is one field's value as it is written in raw (a scalar's
// JSON text); ok and fallback as jsonField's, but a value found is ok
// whatever it holds.
func jsonToken(raw, key string) (tok string, ok, fallback bool) {
	if len(raw) < 2 || raw[0] != '{' {
		return "", false, raw != ""
	}
	if plainKey(key) {
		return keyedField(raw, key)
	}
	i := 1
	for i < len(raw) && raw[i] == '"' {
		end := block.StringEnd(raw, i)
		colon := end + 1
		if end < 0 || colon >= len(raw) || raw[colon] != ':' {
			return "", false, true
		}
		k := raw[i+1 : end]
		if strings.IndexByte(k, '\\') >= 0 {
			return "", false, true
		}
		start := colon + 1
		stop := block.ValueEnd(raw, start)
		if stop < 0 {
			return "", false, true
		}
		if k == key {
			return raw[start:stop], true, false
		}
		if i = stop; i < len(raw) && raw[i] == ',' {
			i++
		}
	}
	return "", false, i >= len(raw) || raw[i] != '}'
}

// keyedField is jsonToken for a plainKey, found by searching for it
// rather than by walking every key before it (a third of reading one
// field, measured). In JSON, "key": whose quote follows '{' or ',' can
// only be a key: a quote inside a string is escaped, and one that ends a
// string is followed by ',', '}' or ':'.
func keyedField(raw, key string) (tok string, ok, fallback bool) {
	for from := 1; ; {
		i := strings.Index(raw[from:], key)
		if i < 0 {
			return "", false, false
		}
		i += from
		end := i + len(key)
		if i >= 2 && raw[i-1] == '"' && (raw[i-2] == ',' || raw[i-2] == '{') && end+1 < len(raw) && raw[end] == '"' && raw[end+1] == ':' {
			stop := block.ValueEnd(raw, end+2)
			if stop < 0 {
				return "", false, true
			}
			return raw[end+2 : stop], true, false
		}
		from = i + 1
	}
}

// plainKey reports whether key is stored as it is, quoted: printable
// ASCII that encoding/json does not escape.
func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func jsonScalar(tok string) (any, bool) {
	switch {
	case tok == "true":
		return true, true
	case tok == "false":
		return false, true
	case strings.HasPrefix(tok, `"`):
		if strings.IndexByte(tok, '\\') < 0 {
			return tok[1 : len(tok)-1], true
		}
		var s string
		if json.Unmarshal([]byte(tok), &s) != nil {
			return nil, false
		}
		return s, true
	}
	if n, err := strconv.ParseInt(tok, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(tok, 64); err == nil {
		return f, true
	}
	return nil, false
}

// tokenNumber reads a stored value's token as number() reads its value:
// a number, or a string holding one. plain is false for a string with
// escapes, which only the decoder reads.
func tokenNumber(tok string) (n float64, isNumber, plain bool) {
	if strings.HasPrefix(tok, `"`) {
		if strings.IndexByte(tok, '\\') >= 0 {
			return 0, false, false
		}
		n, isNumber = parseNumber(tok[1 : len(tok)-1])
		return n, isNumber, true
	}
	n, err := strconv.ParseFloat(tok, 64)
	return n, err == nil, true
}

// fieldOfRaw is a field's value from stored fields: the scan, or the
// full decoder when the scan cannot tell.
func fieldOfRaw(raw, key string) (any, bool) {
	v, ok, fallback := jsonField(raw, key)
	if !fallback {
		return v, ok
	}
	var f schema.Fields
	if json.Unmarshal([]byte(raw), &f) != nil {
		return nil, false
	}
	v, ok = f[key]
	return v, ok
}
