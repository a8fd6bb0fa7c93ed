package query

import (
	"errors"
	"testing"

	"github.com/zlog/zlog/collector/index/block"
)

// Literal words, phrases and --fts expressions match events the way
// schema 3's FTS5 index did: by unicode61 words, case and accents folded.
func TestWordsMatch(t *testing.T) {
	cases := []struct {
		words   []string
		raw     string
		message string
		fields  string
		want    bool
	}{
		{[]string{"timeout"}, "", "upstream Timeout after 5s", "", true},
		{[]string{"timeout"}, "", "timeouts", "", false},
		{[]string{"timeout", "api"}, "", "timeout", `{"svc":"api"}`, true},
		{[]string{"item:123"}, "", "got item 123", "", true},
		{[]string{"item:123"}, "", "got 123 item", "", false},
		{[]string{"NOT"}, "", "not found", "", true},
		{[]string{"OR", "AND"}, "", "and or", "", true},
		{[]string{`"`}, "", `say "hi"`, "", true},
		{[]string{"*"}, "", "no star", "", false},
		{[]string{"*"}, "", "", `{"glob":"a*"}`, true},
		{[]string{`"lower case"`}, "", "LOWER Case", "", true},
		{[]string{"lower case"}, "", "case lower", "", false},
		{[]string{"cafe"}, "", "Café au lait", "", true},
		{[]string{"ünïcode"}, "", "UNICODE", "", true},
		{nil, "time* NOT ok", "timed out", "", true},
		{nil, "time* NOT ok", "timed out, ok", "", false},
		{nil, "a OR b c", "c", "", false},
		{nil, "a OR b c", "a", "", true},
		{nil, "(a OR b) c", "a", "", false},
		{nil, `"x y"*`, "x yz", "", true},
		{[]string{"x"}, "time*", "time x", "", true},
		{[]string{"x"}, "time*", "time", "", false},
		{nil, "message", "", `{"message":1}`, true}, // field names are words too
	}
	for _, c := range cases {
		x, err := buildWords(c.words, c.raw)
		if err != nil {
			t.Fatalf("buildWords(%q, %q): %v", c.words, c.raw, err)
		}
		var d doc
		d.reset(c.message, c.fields)
		if got := x == nil || x.match(&d); got != c.want {
			t.Errorf("words %q, fts %q on %q %s: %v, want %v", c.words, c.raw, c.message, c.fields, got, c.want)
		}
		f := block.NewFilter([]block.Row{{Message: c.message, Fields: c.fields}})
		if c.want && x != nil && !x.mayMatch(f.Bloom) {
			t.Errorf("words %q, fts %q: the filter of %q rules out a match", c.words, c.raw, c.message)
		}
	}
	if x, err := buildWords([]string{`""`, " "}, ""); x != nil || err != nil {
		t.Errorf("blank words: %v, %v", x, err)
	}
}

func TestFTSErrors(t *testing.T) {
	for _, raw := range []string{"AND AND", `"`, "a (b", "NOT x", "item:1", "a NEAR b", "()", `"--"`, "a )"} {
		if _, err := buildWords(nil, raw); !errors.Is(err, ErrBadQuery) {
			t.Errorf("fts %q: %v, want ErrBadQuery", raw, err)
		}
	}
}
