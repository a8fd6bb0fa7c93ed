package ql

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is what every error of Parse is (errors.Is): the query, not
// the data, is wrong.
var ErrSyntax = errors.New("query syntax error")

// Error is a query error at a byte position of the query.
type Error struct {
	Query string
	Pos   int // byte offset into Query
	Msg   string
}

// Errorf makes an error at pos of query: for the parser, and for the
// engine when a value the parser let through (a time, a bucket, a level)
// turns out to be wrong.
func Errorf(query string, pos int, format string, args ...any) *Error {
	return &Error{Query: query, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s at position %d: %s", ErrSyntax, e.column(), e.Msg)
}

func (e *Error) Is(target error) bool { return target == ErrSyntax }

// column is the 1-based column, counted in runes, of Pos.
func (e *Error) column() int {
	pos := min(max(e.Pos, 0), len(e.Query))
	return len([]rune(e.Query[:pos])) + 1
}

// Caret shows the query with a caret under the error's position, as a
// terminal prints it under the message.
func (e *Error) Caret() string {
	q := strings.ReplaceAll(e.Query, "\n", " ")
	return "  " + q + "\n  " + strings.Repeat(" ", e.column()-1) + "^"
}
