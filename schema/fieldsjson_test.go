package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/fieldstest"
)

// referenceFields decodes b as json.Unmarshal into Fields did before the
// plain reader: a validity check of the whole, then a decoder into a map
// of any, numbers converted by FieldValue.
func referenceFields(b []byte) (schema.Fields, error) {
	if !json.Valid(b) {
		return nil, errors.New("not JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, err
	}
	out := make(schema.Fields, len(raw))
	for k, v := range raw {
		out[k] = schema.FieldValue(v)
	}
	return out, nil
}

// Fields read from JSON are the same whether the plain reader took them
// or the decoder did: for json.Marshal's output of random fields (keys and
// strings from what JSON escapes and what it does not, every value type)
// and for the edge cases of the plain shape.
func TestPlainJSONReadsAsTheDecoderDoes(t *testing.T) {
	var inputs []string
	for _, f := range fieldstest.Random(3, 2000) {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(b))
	}
	inputs = append(inputs,
		`{"a":"x,y","b":"p:q"}`, `{"a":1,"a":2}`, `{"a":-0}`, `{"a":0}`, `{"a":-9223372036854775808}`,
		`{"a":9223372036854775808}`, `{"a":1.5}`, `{"a":1e3}`, `{"a":null}`, `{"a" : 1}`, `{"a":"\u00e9"}`, `{}`,
		`null`, `{"":""}`, `{"a":[1]}`, `{"a":{"b":1}}`, `{"a":"}"}`, `{"}":"a"}`,
		// not JSON: the plain reader must refuse them too
		`{"a":1,}`, `{,}`, `{"a":01}`, `{"a":-}`, `{"a":tru}`, `{"a":"x"`, `{"a":1}{"b":2}`, `{"a"}`, `{"a":}`,
		`{"a":"b`+"\x01"+`"}`, `{`, `}`,
	)
	plain := 0
	for _, in := range inputs {
		want, wantErr := referenceFields([]byte(in))
		var got schema.Fields
		err := json.Unmarshal([]byte(in), &got)
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("json.Unmarshal(%s) into Fields = %#v, %v; the decoder: %#v, %v", in, got, err, want, wantErr)
		}
		if f, ok := schema.ParsePlainJSON(in); ok {
			plain++
			if wantErr != nil || !reflect.DeepEqual(f, want) {
				t.Fatalf("ParsePlainJSON(%s) = %#v, the decoder %#v", in, f, want)
			}
		}
	}
	if plain < 20 || plain == len(inputs) {
		t.Errorf("%d of %d inputs read as plain: both ways must be tried", plain, len(inputs))
	}
}
