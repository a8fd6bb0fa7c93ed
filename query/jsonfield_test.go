package query

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/schema"
)

// TestJSONFieldAgreesWithDecoder: for fields as the index stores them,
// reading one field by the scan gives what decoding them all gives.
func TestJSONFieldAgreesWithDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []any{"plain", "with \"quotes\" and \\ back", "<html>&amp;", "ünïcode ✓", "", int64(0), int64(-42), int64(1 << 60),
		1.5, -0.001, 1e21, 3.0, true, false, "{not an object}", "a,b}c",
		// the keys' own text in values, as a search for "key": meets it
		`"duration_ms":1`, `,"user":"eve"`, `{"a":2}`, "user", "a", `\",\"ms\":`}
	keys := []string{"a", "duration_ms", "user", "x.y", "status", "k-1", "ms", "_ms", "<k>"}
	for n := 0; n < 2000; n++ {
		f := schema.Fields{}
		for _, k := range keys {
			if rng.IntN(2) == 0 {
				f[k] = values[rng.IntN(len(values))]
			}
		}
		raw := index.FieldsColumn(f)
		var want schema.Fields
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &want); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range append(keys, "missing") {
			got, ok := fieldOfRaw(raw, k)
			w, wok := want[k]
			if ok != wok || fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", w, w) {
				t.Fatalf("%s in %s: got %T %v %v, want %T %v %v", k, raw, got, got, ok, w, w, wok)
			}
			if _, _, fallback := jsonField(raw, k); fallback && plainKey(k) { // an escaped key is left to the decoder
				t.Errorf("%s in %s: the scan gave up on what the index writes", k, raw)
			}
		}
	}
}
