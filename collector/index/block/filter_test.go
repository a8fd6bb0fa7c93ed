package block

import (
	"fmt"
	"reflect"
	"testing"
)

func TestWords(t *testing.T) {
	for text, want := range map[string][]string{
		"GET /api/v1/orders 200":     {"get", "api", "v1", "orders", "200"},
		"Überwacher: 日本語, ok.":       {"uberwacher", "日本語", "ok"},
		"Café CAFÉ cafe\u0301 ½":     {"cafe", "cafe", "cafe", "½"},
		`{"duration_ms":12}`:         {"duration", "ms", "12"},
		"":                           nil,
		"time.*out -- x":             {"time", "out", "x"},
		"id=8c4a605356 req=8C4A6053": {"id", "8c4a605356", "req", "8c4a6053"},
	} {
		var got []string
		Words(text, func(w string) { got = append(got, w) })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Words(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestFilter(t *testing.T) {
	rows := manyRows(2048) // "request", "took", "ms", "id" in every row; ids once each
	f := NewFilter(rows)
	for _, w := range []string{"request", "took", "ms", "id"} {
		if n, exact := f.Rows(w); !exact || n != 2048 {
			t.Errorf("Rows(%q) = %d, %v; want 2048, exact", w, n, exact)
		}
	}
	for i := range rows {
		Words(rows[i].Message, func(w string) {
			if !f.MayContain(w) {
				t.Fatalf("row %d: word %q not in the filter", i, w)
			}
		})
	}
	if n, exact := f.Rows("absentword"); exact && n != 0 {
		t.Errorf("absent word counted %d", n)
	}
	falsePositives := 0
	for i := 0; i < 10000; i++ {
		if f.MayContain(fmt.Sprintf("absent%d", i)) {
			falsePositives++
		}
	}
	if falsePositives > 300 { // 10 bits a word: about 1 %
		t.Errorf("%d of 10000 absent words pass the filter", falsePositives)
	}
	back, err := UnmarshalFilter(f.Marshal())
	if err != nil || !reflect.DeepEqual(back, f) {
		t.Fatalf("filter round trip: %v", err)
	}
	if _, err := UnmarshalFilter([]byte{200}); err == nil {
		t.Error("garbage filter accepted")
	}
}
