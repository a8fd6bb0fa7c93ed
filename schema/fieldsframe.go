package schema

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"
)

// The fields frame. Version 3 types its values:
//
//	repeated: u16 key length | key | u8 kind | value
//	  kind 1 string   u32 length | UTF-8 bytes
//	  kind 2 int64    8 bytes
//	  kind 3 float64  8 bytes (IEEE 754 bits)
//	  kind 4 bool     1 byte, 0 or 1
//
// Versions 1 and 2 (and the labels frame of version 3) hold strings only:
//
//	repeated: u16 key length | key | u32 value length | value
//
// Keys are sorted, so the same event always has the same bytes.
const (
	kindString = 1
	kindInt    = 2
	kindFloat  = 3
	kindBool   = 4
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// typedSize is the size of a version 3 fields frame.
func typedSize(f Fields) int {
	n := 0
	for k, v := range f {
		n += 3 + len(k)
		switch v := v.(type) {
		case string:
			n += 4 + len(v)
		case int64, float64:
			n += 8
		case bool:
			n++
		default:
			n += 4 + len(FormatValue(v))
		}
	}
	return n
}

// stringsSize is the size of a string frame (fields of versions 1 and 2,
// labels).
func stringsSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += 6 + len(k) + len(v)
	}
	return n
}

func appendTyped(b []byte, f Fields) ([]byte, error) {
	for _, k := range sortedKeys(f) {
		if len(k) > MaxFieldKeyLen {
			return b, fmt.Errorf("%w: key %q too long", ErrBadField, truncate(k, 80))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		switch v := f[k].(type) {
		case int64:
			b = append(b, kindInt)
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		case float64:
			b = append(b, kindFloat)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		case bool:
			b = append(b, kindBool, 0)
			if v {
				b[len(b)-1] = 1
			}
		default: // strings; anything else as its text (Validate refuses it)
			s := FormatValue(v)
			b = append(b, kindString)
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
	}
	return b, nil
}

func appendStrings(b []byte, m map[string]string) []byte {
	for _, k := range sortedKeys(m) {
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(m[k])))
		b = append(b, m[k]...)
	}
	return b
}

// nextKey reads one entry's key, checked, and refuses a repeated one.
func nextKey(b []byte, seen func(string) bool, what string) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, fmt.Errorf("%w: truncated %s key length", ErrBadField, what)
	}
	kl := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) < kl {
		return "", nil, fmt.Errorf("%w: %s key runs past the end", ErrBadField, what)
	}
	key := string(b[:kl])
	if err := validateFieldKey(key); err != nil {
		return "", nil, err
	}
	if seen(key) {
		return "", nil, fmt.Errorf("%w: %s key %q repeated", ErrBadField, what, key)
	}
	return key, b[kl:], nil
}

// longString reads u32 length | UTF-8 bytes.
func longString(b []byte, key string) (string, []byte, error) {
	if len(b) < 4 {
		return "", nil, fmt.Errorf("%w: value of %q runs past the end", ErrBadField, key)
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(len(b)) < uint64(n) {
		return "", nil, fmt.Errorf("%w: value of %q runs past the end", ErrBadField, key)
	}
	if !utf8.Valid(b[:n]) {
		return "", nil, fmt.Errorf("%w in value of %q", ErrBadUTF8, key)
	}
	return string(b[:n]), b[n:], nil
}

// decodeStrings reads a string frame: fields of versions 1 and 2, labels.
func decodeStrings(b []byte, what string, max int) (map[string]string, error) {
	out := make(map[string]string)
	seen := func(k string) bool { _, dup := out[k]; return dup }
	for len(b) > 0 {
		key, rest, err := nextKey(b, seen, what)
		if err != nil {
			return nil, err
		}
		if len(out) == max {
			return nil, fmt.Errorf("%w: more than %d %ss", ErrBadField, max, what)
		}
		if out[key], b, err = longString(rest, key); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeTyped reads a version 3 fields frame.
func decodeTyped(b []byte) (Fields, error) {
	out := make(Fields)
	seen := func(k string) bool { _, dup := out[k]; return dup }
	for len(b) > 0 {
		key, rest, err := nextKey(b, seen, "field")
		if err != nil {
			return nil, err
		}
		if len(out) == MaxFields {
			return nil, fmt.Errorf("%w: more than %d fields", ErrBadField, MaxFields)
		}
		if out[key], b, err = typedValue(rest, key); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func typedValue(b []byte, key string) (any, []byte, error) {
	if len(b) < 1 {
		return nil, nil, fmt.Errorf("%w: value of %q runs past the end", ErrBadField, key)
	}
	kind, b := b[0], b[1:]
	need := map[byte]int{kindInt: 8, kindFloat: 8, kindBool: 1}[kind]
	if kind != kindString && (need == 0 || len(b) < need) {
		return nil, nil, fmt.Errorf("%w: value of %q: kind %d or length", ErrBadField, key, kind)
	}
	switch kind {
	case kindString:
		return longString(b, key)
	case kindInt:
		return int64(binary.BigEndian.Uint64(b)), b[8:], nil
	case kindFloat:
		f := math.Float64frombits(binary.BigEndian.Uint64(b))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, nil, fmt.Errorf("%w: value of %q is not a finite number", ErrBadField, key)
		}
		return f, b[8:], nil
	}
	if b[0] > 1 {
		return nil, nil, fmt.Errorf("%w: value of %q: bool byte %d", ErrBadField, key, b[0])
	}
	return b[0] == 1, b[1:], nil
}
