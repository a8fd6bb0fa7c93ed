package query

import (
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
