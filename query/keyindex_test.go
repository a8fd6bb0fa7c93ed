package query

import (
	"strings"
	"testing"
)

// Keys of every length around the short/long boundary, and keys that
// differ only by trailing zero bytes, keep numbers of their own.
func TestKeyIndexKeepsKeysApart(t *testing.T) {
	keys := []string{"", "\x00", "\x00\x00", "a", "a\x00", "u22435\x00"}
	for n := 20; n <= 26; n++ {
		keys = append(keys, strings.Repeat("k", n), strings.Repeat("k", n-1)+"\x00")
	}
	var x keyIndex
	for i, k := range keys {
		if _, ok := x.get([]byte(k)); ok {
			t.Fatalf("key %q found before it was put", k)
		}
		x.put([]byte(k), int32(i))
	}
	for i, k := range keys {
		if got, ok := x.get([]byte(k)); !ok || got != int32(i) {
			t.Errorf("key %q: got %d, %v; want %d", k, got, ok, i)
		}
	}
	if x.len() != len(keys) {
		t.Errorf("len %d, want %d", x.len(), len(keys))
	}
}
