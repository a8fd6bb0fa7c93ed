package query

import (
	"strings"
	"unicode"
)

// Terms is what a list of search words turns into: an FTS5 MATCH expression
// for the words the index can see, and literal substrings for those it can't
// (a lone "*" or "-" has no letters or digits, so FTS5 has no token for it).
type Terms struct {
	Match      string   // "" when no word is indexable and no raw expression was given
	Substrings []string // each must appear in the message or fields
}

// BuildTerms turns literal words into FTS5 syntax that cannot fail to parse:
// every word becomes a quoted FTS5 string (inner quotes doubled), so input
// such as item:123, a-b, NOT, OR, * or a lone " is matched literally and
// never read as an operator. A word holding spaces, or wrapped in double
// quotes, is a phrase: its tokens must be adjacent. Words are ANDed.
//
// raw, when not empty, is a hand-written FTS5 expression (from --fts) ANDed
// with the words and passed through unchanged; its syntax errors are the
// user's to see.
func BuildTerms(words []string, raw string) Terms {
	var t Terms
	var parts []string
	if raw = strings.TrimSpace(raw); raw != "" {
		parts = append(parts, "("+raw+")")
	}
	for _, w := range words {
		if len(w) >= 2 && w[0] == '"' && w[len(w)-1] == '"' {
			w = w[1 : len(w)-1]
		}
		if strings.TrimSpace(w) == "" {
			continue
		}
		if !hasToken(w) {
			t.Substrings = append(t.Substrings, w)
			continue
		}
		parts = append(parts, `"`+strings.ReplaceAll(w, `"`, `""`)+`"`)
	}
	t.Match = strings.Join(parts, " AND ")
	return t
}

// hasToken reports whether the unicode61 tokenizer finds a token in w.
func hasToken(w string) bool {
	for _, r := range w {
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			return true
		}
	}
	return false
}
