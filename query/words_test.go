package query

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/zlog/zlog/collector/index/block"
)

func TestBlockTextRulesOutOnlyAbsentWords(t *testing.T) {
	rows := []block.Row{
		{Message: "Connection TIMEOUT after 30s", Fields: `{"user":"Alice"}`},
		{Message: "skipped row: needle", Fields: ""},
		{Message: "plain ascii", Fields: `{"n":1}`},
	}
	var d doc
	for _, c := range []struct {
		selected []int
		word     string
		may      bool
	}{
		{[]int{0, 2}, "timeout", true},
		{[]int{0, 2}, "alice", true},
		{[]int{0, 2}, "ascii", true},
		{[]int{0, 2}, "needle", false}, // only in a row not selected
		{[]int{0, 1, 2}, "needle", true},
		{[]int{2}, "connection", false},
		{[]int{0}, "30s", true},
	} {
		if got := d.blockText(rows, c.selected).MayContain(c.word); got != c.may {
			t.Errorf("rows %v, word %q: MayContain = %v, want %v", c.selected, c.word, got, c.may)
		}
	}
	// Beyond ASCII folding may make any word: the filter cannot say no.
	beyond := []block.Row{{Message: "Straße ÉTÉ"}}
	if !d.blockText(beyond, []int{0}).MayContain("anything") {
		t.Error("text beyond ASCII ruled a word out")
	}
	// Texts are kept apart: a word does not span two of them.
	apart := []block.Row{{Message: "nee", Fields: "dle"}}
	if d.blockText(apart, []int{0}).MayContain("needle") {
		t.Error("a word was found across two texts")
	}
}

// Lower-casing eight bytes at a time gives what the table gives byte by
// byte, and sees a byte beyond ASCII wherever it is.
func TestLowerASCIIMatchesTheTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		src := make([]byte, r.IntN(40))
		for i := range src {
			switch r.IntN(4) {
			case 0:
				src[i] = byte(r.IntN(256))
			default:
				src[i] = byte('@' + r.IntN(60)) // around A-Z and a-z
			}
		}
		want, nonASCII := make([]byte, len(src)), false
		for i, c := range src {
			want[i], nonASCII = asciiLower[c], nonASCII || c >= 0x80
		}
		got := make([]byte, len(src))
		if hi := lowerASCII(got, string(src)); !bytes.Equal(got, want) || hi != nonASCII {
			t.Fatalf("%q: %q %v, want %q %v", src, got, hi, want, nonASCII)
		}
	}
}
