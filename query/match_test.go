package query

import (
	"reflect"
	"testing"
)

func TestBuildTerms(t *testing.T) {
	cases := []struct {
		words []string
		raw   string
		want  Terms
	}{
		{[]string{"timeout"}, "", Terms{Match: `"timeout"`}},
		{[]string{"timeout", "api"}, "", Terms{Match: `"timeout" AND "api"`}},
		{[]string{"item:123"}, "", Terms{Match: `"item:123"`}},
		{[]string{"a-b"}, "", Terms{Match: `"a-b"`}},
		{[]string{"NOT"}, "", Terms{Match: `"NOT"`}},
		{[]string{"OR", "AND"}, "", Terms{Match: `"OR" AND "AND"`}},
		{[]string{`"`}, "", Terms{Substrings: []string{`"`}}},
		{[]string{"*"}, "", Terms{Substrings: []string{"*"}}},
		{[]string{`say "hi"`}, "", Terms{Match: `"say ""hi"""`}},
		{[]string{`"lower case"`}, "", Terms{Match: `"lower case"`}},
		{[]string{"lower case"}, "", Terms{Match: `"lower case"`}},
		{[]string{`""`, " "}, "", Terms{}},
		{[]string{"x"}, "time* NOT ok", Terms{Match: `(time* NOT ok) AND "x"`}},
		{nil, "", Terms{}},
		{[]string{"ünïcode", "→"}, "", Terms{Match: `"ünïcode"`, Substrings: []string{"→"}}},
	}
	for _, c := range cases {
		if got := BuildTerms(c.words, c.raw); !reflect.DeepEqual(got, c.want) {
			t.Errorf("BuildTerms(%q, %q) = %+v, want %+v", c.words, c.raw, got, c.want)
		}
	}
}
