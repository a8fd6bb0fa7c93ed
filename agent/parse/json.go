package parse

import (
	"bytes"
	"strconv"

	"github.com/valyala/fastjson"
)

// jsonLine reads a line holding one JSON object. fastjson parses without
// building maps or reflecting, which is most of a line's cost.
func (p *Parser) jsonLine(line []byte, r *Result) bool {
	jp := p.json.Get()
	defer p.json.Put(jp)
	v, err := jp.ParseBytes(line)
	if err != nil || v.Type() != fastjson.TypeObject {
		return false
	}
	o, _ := v.Object()
	r.Format = JSON
	p.flatten(o, nil, r)
	p.takeRecord(r, &p.keys)
	return true
}

// flatten puts an object's members as fields, nested objects' with dotted
// keys ("http.status"); arrays keep their JSON text.
func (p *Parser) flatten(o *fastjson.Object, prefix []byte, r *Result) {
	o.Visit(func(key []byte, v *fastjson.Value) {
		k := key
		if len(prefix) > 0 {
			k = append(append(append(make([]byte, 0, len(prefix)+1+len(key)), prefix...), '.'), key...)
		}
		if v.Type() == fastjson.TypeObject {
			if inner, _ := v.Object(); inner.Len() > 0 {
				p.flatten(inner, k, r)
				return
			}
		}
		name, ok := p.interned[string(k)]
		if !ok {
			name = string(k)
		}
		r.put(name, jsonValue(k, v))
	})
}

// jsonValue maps a JSON value onto a field value: strings, booleans,
// integers that fit an int64 and other numbers keep their type; an integer
// too large for int64 keeps its digits as a string; null, arrays and empty
// objects keep their JSON text. journald writes a MESSAGE that is not
// UTF-8 as an array of its bytes, which becomes the text again.
func jsonValue(key []byte, v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	case fastjson.TypeNumber:
		raw := v.MarshalTo(nil)
		if bytes.IndexAny(raw, ".eE") < 0 {
			if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
				return i
			}
			return string(raw)
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return string(raw)
	case fastjson.TypeArray:
		if string(key) == "MESSAGE" {
			if b, ok := byteArray(v); ok {
				return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
			}
		}
	}
	return string(v.MarshalTo(nil))
}

// byteArray reads an array of numbers 0-255 as bytes.
func byteArray(v *fastjson.Value) ([]byte, bool) {
	items, _ := v.Array()
	b := make([]byte, 0, len(items))
	for _, it := range items {
		n, err := it.Int()
		if err != nil || n < 0 || n > 255 {
			return nil, false
		}
		b = append(b, byte(n))
	}
	return b, true
}
