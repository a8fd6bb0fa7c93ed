package query

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/zlog/zlog/schema"
)

// buildWords turns literal search words, and a --fts expression, into one
// wordExpr (nil when there is nothing to match). Every literal word is
// matched as it is, never read as an operator: item:123, a-b, NOT, OR or a
// lone " are words. A word holding spaces, or wrapped in double quotes, is
// a phrase: its words must follow each other. A word with no letters or
// digits (a lone "*") must appear as a substring. All are ANDed, with the
// --fts expression, whose syntax errors are the user's (ErrBadQuery).
func buildWords(words []string, raw string) (wordExpr, error) {
	var all andExpr
	if raw = strings.TrimSpace(raw); raw != "" {
		x, err := parseFTS(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: full-text expression %q: %w", ErrBadQuery, raw, err)
		}
		all = append(all, x)
	}
	for _, w := range words {
		if len(w) >= 2 && w[0] == '"' && w[len(w)-1] == '"' {
			w = w[1 : len(w)-1]
		}
		switch {
		case strings.TrimSpace(w) == "":
		case !hasWord(w):
			all = append(all, substring(w))
		default:
			all = append(all, phraseOf(w, false))
		}
	}
	switch len(all) {
	case 0:
		return nil, nil
	case 1:
		return all[0], nil
	}
	return all, nil
}

// fieldValuesContain reports whether a value of the fields (stored JSON)
// holds sub as it is shown: "5" for 5, "true" for true.
func fieldValuesContain(fields, sub string) bool {
	if fields == "" {
		return false
	}
	var f schema.Fields
	if err := json.Unmarshal([]byte(fields), &f); err != nil {
		return false
	}
	for _, v := range f {
		if strings.Contains(schema.FormatValue(v), sub) {
			return true
		}
	}
	return false
}
