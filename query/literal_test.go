package query

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/zlog/zlog/collector/index/block"
)

// rowsOf gives rows whose messages lie end to end in one string, as a
// borrowing codec leaves them.
func rowsOf(msgs ...string) []block.Row {
	all := strings.Join(msgs, "")
	rows := make([]block.Row, len(msgs))
	at := 0
	for i, m := range msgs {
		rows[i].Message = all[at : at+len(m)]
		at += len(m)
	}
	return rows
}

func TestLiteralRowsMarksRowsHoldingTheLiteral(t *testing.T) {
	for _, c := range []struct {
		name string
		msgs []string
		lit  string
		want string // one mark per row: x holds it
	}{
		{"none", []string{"a", "b"}, "took", ".."},
		{"each", []string{"took 1", "it took", "took took"}, "took", "xxx"},
		{"across two messages marks neither", []string{"it to", "ok then", "took"}, "took", "..x"},
		{"overlapping candidates", []string{"tttook", "ttoo"}, "took", "x."},
		{"empty messages between", []string{"", "took", "", "", "no", "", "took"}, "took", ".x....x"},
		{"at the very end", []string{"xx", "ms"}, "ms", ".x"},
		{"no rows", nil, "ms", ""},
		{"rare byte at the start of a message", []string{"k took", "k"}, "took", "x."},
	} {
		rows := rowsOf(c.msgs...)
		joined, ok := joinedMessages(rows)
		if !ok {
			t.Fatalf("%s: messages end to end not seen as joined", c.name)
		}
		marks := literalRows(joined, rows, c.lit, []bool{true, true, true})
		var got strings.Builder
		for _, m := range marks {
			got.WriteByte(map[bool]byte{true: 'x', false: '.'}[m])
		}
		if got.String() != c.want {
			t.Errorf("%s: marks %q, want %q", c.name, got.String(), c.want)
		}
	}
}

// Rows whose messages are apart in memory are not joined: every row is
// then tested on its own.
func TestJoinedMessagesNeedsRowsEndToEnd(t *testing.T) {
	rows := []block.Row{{Message: strings.Clone("took")}, {Message: strings.Clone("took")}}
	if _, ok := joinedMessages(rows); ok {
		t.Fatal("separate strings seen as one text")
	}
	if j, ok := joinedMessages(rowsOf("", "")); !ok || j != "" {
		t.Fatalf("empty messages: %q %v", j, ok)
	}
}

// The finder agrees with strings.Index on random texts over a small
// alphabet, where candidates and near misses abound.
func TestLiteralFinderAgreesWithIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "tok ms"
	gen := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		lit, s := gen(1+r.IntN(5)), gen(r.IntN(40))
		if got, want := newLiteralFinder(lit).index(s), strings.Index(s, lit); got != want {
			t.Fatalf("index of %q in %q: %d, want %d", lit, s, got, want)
		}
	}
}
