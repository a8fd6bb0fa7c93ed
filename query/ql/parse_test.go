package ql

import (
	"bufio"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/queries.golden from the parser")

// TestParseGolden parses every query of testdata/queries.txt and compares
// its canonical form, or its error, with testdata/queries.golden.
func TestParseGolden(t *testing.T) {
	in, err := os.ReadFile("testdata/queries.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, src := range strings.Split(strings.TrimRight(string(in), "\n"), "\n") {
		if src == "" || strings.HasPrefix(src, "#") {
			continue
		}
		got.WriteString(src + "\n\t" + parsed(src) + "\n")
	}
	if *update {
		if err := os.WriteFile("testdata/queries.golden", []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/queries.golden")
	if err != nil {
		t.Fatal(err)
	}
	gotLines, wantLines := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gotLines), len(wantLines)); i++ {
		var g, w string
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, g, w)
		}
	}
}

func parsed(src string) string {
	q, err := Parse(src)
	if err != nil {
		return "error: " + err.Error()
	}
	return q.String()
}

// TestCanonicalReparses checks that every canonical form parses to
// itself: what the API and the web UI show can be pasted back.
func TestCanonicalReparses(t *testing.T) {
	f, err := os.Open("testdata/queries.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		q, err := Parse(sc.Text())
		if err != nil || strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		again, err := Parse(q.String())
		if err != nil {
			t.Errorf("%q → %q: %v", sc.Text(), q.String(), err)
			continue
		}
		if again.String() != q.String() {
			t.Errorf("%q → %q → %q", sc.Text(), q.String(), again.String())
		}
	}
}

func TestErrorPosition(t *testing.T) {
	for _, tc := range []struct {
		src    string
		column int
	}{
		{"duration_ms:", 13},
		{"(a OR b", 1},
		{"a | stats avg(", 15},
		{"héllo ~\"(\"", 8},
		{"a | frobnicate", 5},
	} {
		_, err := Parse(tc.src)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: got %v, want a syntax error", tc.src, err)
			continue
		}
		if e.column() != tc.column {
			t.Errorf("%q: error at column %d, want %d: %v\n%s", tc.src, e.column(), tc.column, err, e.Caret())
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a b", `f:>5 | stats by (_time:1m) count()`, `x:~"a(b"`, `-(a OR "b c")`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("%q: error %v is not ErrSyntax", src, err)
			}
			return
		}
		again, err := Parse(q.String())
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", src, q.String(), err)
		}
		if again.String() != q.String() {
			t.Fatalf("%q → %q → %q", src, q.String(), again.String())
		}
	})
}
