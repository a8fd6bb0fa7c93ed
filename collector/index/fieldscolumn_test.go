package index

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/zlog/zlog/schema"
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
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abz09_-./:<>&\"\\ \t\x7f\x1fé"
	for range 2000 {
		f := schema.Fields{}
		for range 1 + r.IntN(20) {
			var k []rune
			for range r.IntN(6) {
				k = append(k, []rune(alphabet)[r.IntN(len([]rune(alphabet)))])
			}
			switch r.IntN(4) {
			case 0:
				f[string(k)] = string(k) + fmt.Sprint(r.IntN(100))
			case 1:
				f[string(k)] = r.Int64() - r.Int64()
			case 2:
				f[string(k)] = r.IntN(2) == 0
			case 3:
				f[string(k)] = r.NormFloat64() * 1e6
			}
		}
		cases = append(cases, f)
	}
	plain := 0
	for _, f := range cases {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := FieldsColumn(f); got != string(want) {
			t.Fatalf("FieldsColumn(%#v) = %s, want %s", f, got, want)
		}
		if _, ok := appendPlainFields(nil, f); ok {
			plain++
		}
	}
	if plain < 20 || plain == len(cases) {
		t.Errorf("%d of %d cases written without json.Marshal: both ways must be tried", plain, len(cases))
	}
}
