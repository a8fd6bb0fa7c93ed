package index

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/fieldstest"
)

// FieldsColumn's bytes are json.Marshal's, whether it writes them itself
// or leaves them to json.Marshal: stored events and the words found in
// them must not depend on which did.
func TestFieldsColumnIsJSONMarshal(t *testing.T) {
	cases := []schema.Fields{
		{"user": "u1"},
		{"duration_ms": int64(637), "status": int64(200), "user": "u87131"},
		{"b": true, "a": false, "c": int64(-9223372036854775808)},
		{"ratio": 0.25}, {"big": 1e21}, {"tiny": 1e-7},
		{"html": "<b>&amp;</b>"}, {"quote": `say "hi"`}, {"back": `C:\dir`},
		{"ctl": "a\tb\nc\x01"}, {"utf8": "größe"}, {"sep": "a\u2028b"},
		{"<key>": "v"}, {"": ""}, {"k": ""},
	}
	cases = append(cases, fieldstest.Random(1, 2000)...)
	plain := 0
	for _, f := range cases {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := FieldsColumn(f); got != string(want) {
			t.Fatalf("FieldsColumn(%#v) = %s, want %s", f, got, want)
		}
		if _, ok := schema.AppendPlainJSON(nil, f); ok {
			plain++
		}
	}
	if plain < 20 || plain == len(cases) {
		t.Errorf("%d of %d cases written without json.Marshal: both ways must be tried", plain, len(cases))
	}
}

// ParseFieldsColumn reads what FieldsColumn wrote as json.Unmarshal does,
// whether it reads it itself or leaves it to json.Unmarshal; and it
// refuses what json.Unmarshal refuses.
func TestParseFieldsColumnIsJSONUnmarshal(t *testing.T) {
	var columns []string
	for _, f := range fieldstest.Random(1, 2000) {
		columns = append(columns, FieldsColumn(f))
	}
	columns = append(columns,
		`{"a":"x,y","b":"p:q"}`, `{"a":1,"a":2}`, `{"a":-0}`, `{"a":0}`, `{"a":-9223372036854775808}`,
		`{"a":9223372036854775808}`, `{"a":1.5}`, `{"a":1e3}`, `{"a":null}`, `{"a" : 1}`, `{"a":"\u00e9"}`, `{}`,
		`{"a":1,}`, `{,}`, `{"a":01}`, `{"a":-}`, `{"a":tru}`, `{"a":"x"`, `{"a":1}{"b":2}`, `{"a"}`, `{"a":}`,
		`{"a":"b"`+"\x01"+`"}`, `{"a":[1]}`, `{"a":{"b":1}}`, `{"":""}`, `[]`, `"a"`, `{`, `}`,
	)
	plain := 0
	for _, col := range columns {
		var want schema.Fields
		wantErr := json.Unmarshal([]byte(col), &want)
		got, err := ParseFieldsColumn(col)
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseFieldsColumn(%s) = %#v, %v; json.Unmarshal: %#v, %v", col, got, err, want, wantErr)
		}
		if _, ok := schema.ParsePlainJSON(col); ok {
			plain++
		}
	}
	if plain < 20 || plain == len(columns) {
		t.Errorf("%d of %d columns read without json.Unmarshal: both ways must be tried", plain, len(columns))
	}
}
