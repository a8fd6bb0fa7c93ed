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
	counts := Counts(MarshalCounts(f.Counts))
	for _, w := range []string{"request", "took", "ms", "id"} {
		if n, ok := counts.Rows(w); !ok || n != 2048 {
			t.Errorf("Rows(%q) = %d, %v; want 2048, exact", w, n, ok)
		}
	}
	if _, ok := counts.Rows("absentword"); ok {
		t.Error("absent word counted")
	}
	for i := range rows {
		Words(rows[i].Message, func(w string) {
			if !f.Bloom.MayContain(w) {
				t.Fatalf("row %d: word %q not in the filter", i, w)
			}
		})
	}
	falsePositives := 0
	for i := 0; i < 100000; i++ {
		if f.Bloom.MayContain(fmt.Sprintf("absent%d", i)) {
			falsePositives++
		}
	}
	if falsePositives > 300 { // 14 bits a word or more, 7 hashes, blocked: about 0.25 %
		t.Errorf("%d of 100000 absent words pass the filter", falsePositives)
	}
	t.Logf("false positives: %.3f %%; %d lines for %d rows", float64(falsePositives)/1000, f.Bloom.Lines(), len(rows))
	back, err := unmarshalCounts(counts)
	if err != nil || !reflect.DeepEqual(back, f.Counts) {
		t.Fatalf("counts round trip: %v", err)
	}
	if _, err := unmarshalCounts([]byte{200}); err == nil {
		t.Error("garbage counts accepted")
	}
	if !Bloom([]byte{1, 2, 3}).MayContain("x") || !Bloom(nil).MayContain("x") {
		t.Error("a damaged filter ruled a word out")
	}
}

func TestBloomLines(t *testing.T) {
	prev := 0
	for n := 0; n < 100000; n += 37 {
		l := BloomLines(n)
		if l < prev || l*LineBytes*8 < n*bloomBits || l > 1 && (l-1)*LineBytes*8 >= n*bloomBits*9/8+LineBytes*8 {
			t.Fatalf("BloomLines(%d) = %d (after %d)", n, l, prev)
		}
		prev = l
	}
}

// wordsByRune is Words written plainly, rune by rune: the fast path over
// ASCII must split every text the same way.
func wordsByRune(text string, fn func(string)) {
	start := -1
	for i, r := range text {
		if isWordRune(r) {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			fn(word(text[start:i], false))
			start = -1
		}
	}
	if start >= 0 {
		fn(word(text[start:], false))
	}
}

func FuzzWords(f *testing.F) {
	for _, s := range []string{"GET /api 200", "Überwacher: 日本語, ok.", "abc→def", "x\u0301y", "A-b_C", "\xff\xfeab", "½ café"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var fast, plain []string
		Words(text, func(w string) { fast = append(fast, w) })
		wordsByRune(text, func(w string) { plain = append(plain, w) })
		if !reflect.DeepEqual(fast, plain) {
			t.Fatalf("Words(%q) = %q, rune by rune %q", text, fast, plain)
		}
	})
}

// unmarshalCounts decodes what MarshalCounts encoded, for the round trip
// (the index reads counts in place, with Counts.Rows).
func unmarshalCounts(b []byte) ([]WordCount, error) {
	r := reader{b: b}
	n := r.uvarint()
	if n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: filter counts", ErrCorrupt)
	}
	var out []WordCount
	for i := uint64(0); i < n && r.err == nil; i++ {
		l := r.uvarint()
		if l > uint64(len(r.b)) {
			r.fail()
			break
		}
		w := string(r.b[:l])
		r.b = r.b[l:]
		out = append(out, WordCount{w, uint32(r.uvarint())})
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: filter counts", ErrCorrupt)
	}
	return out, nil
}

func TestWordIndexFindsEveryHashThroughGrowth(t *testing.T) {
	var x wordIndex
	for round := 0; round < 2; round++ { // the second reuses the slots
		x.reset(0)
		var hashes []uint64
		for i := 0; i < 5000; i++ {
			// Hashes sharing their low bits land in one probe run.
			h := uint64(i)<<40 | uint64(i%3)
			if j, ok := x.find(h, int32(i)); ok || j != int32(i) {
				t.Fatalf("round %d: new hash %#x: find = %d, %v; want %d, false", round, h, j, ok, i)
			}
			hashes = append(hashes, h)
		}
		for i, h := range hashes {
			if j, ok := x.find(h, -1); !ok || j != int32(i) {
				t.Fatalf("round %d: hash %#x: find = %d, %v; want %d, true", round, h, j, ok, i)
			}
		}
		if x.used != len(hashes) || 2*x.used > len(x.slots) {
			t.Fatalf("round %d: %d used of %d slots", round, x.used, len(x.slots))
		}
	}
}
