package query

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The literals a regex's matches must hold: only those of its top
// concatenation, never a case-folded one, never one under an alternation
// or a repetition; and a value holding them is then tested by the regex.
func TestRequiredLiterals(t *testing.T) {
	cases := []struct {
		re   string
		want []string
	}{
		{`took [0-9]{2}ms`, []string{"took ", "ms"}},
		{`timeout`, []string{"timeout"}},
		{`(took) \d+(ms)`, []string{"took", " ", "ms"}},
		{`(?i)took \d+ms`, nil},
		{`took|gave`, nil},
		{`(ab)+c`, []string{"c"}},
		{`a*`, nil},
		{`^err.*x$`, []string{"err", "x"}},
		{`é\d`, []string{"é"}},
	}
	for _, c := range cases {
		got := requiredLiterals(regexp.MustCompile(c.re))
		if !slices.Equal(got, c.want) {
			t.Errorf("requiredLiterals(%q) = %q, want %q", c.re, got, c.want)
		}
	}
	values := []string{"request took 42ms", "took 4ms", "mistook 12ms!", "TOOK 12MS", "took 12 ms", "", "took 123ms"}
	for _, c := range cases {
		re := regexp.MustCompile(c.re)
		test := matchesRegex(re)
		for _, v := range values {
			if got, want := test(v), re.MatchString(v); got != want {
				t.Errorf("%q on %q: %v, want %v", c.re, v, got, want)
			}
			if re.MatchString(v) {
				for _, l := range requiredLiterals(re) {
					if !strings.Contains(v, l) {
						t.Errorf("%q matches %q, which lacks its literal %q", c.re, v, l)
					}
				}
			}
		}
	}
}
