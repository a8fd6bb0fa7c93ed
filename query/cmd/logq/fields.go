package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/ql"
)

const fieldsUsage = `Usage: logq fields [flags] [query...]

Lists the field names of the events that match (all of them by default),
each with how many events have it, how many distinct values it takes and
its most frequent values: what there is to filter on. It is the query
with "| field_names" after it.

Examples:
  logq fields --since 24h
  logq fields 'service:api level:error'

Flags:
`

func runFields(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("logq fields", stderr)
	filter := addFilterFlags(fs, "1h")
	output := fs.StringP("output", "o", "text", "text or json")
	words, code, done := parseCommand(fs, args, stdout, fieldsUsage)
	if done {
		return code
	}
	fail := failer(stderr)
	q, err := filter.query(words, time.Now())
	if err != nil {
		return fail("%v", err)
	}
	if q.HasPipes() {
		return fail("logq fields takes a filter; it adds | field_names itself")
	}
	// Parsed again as text: the API is sent the query's text.
	src := "* | field_names"
	if len(words) > 0 {
		src = strings.Join(words, " ") + " | field_names"
	}
	if q.Expr, err = ql.Parse(src); err != nil {
		return fail("%v", fmt.Errorf("%w: %w", query.ErrBadQuery, err))
	}
	be, err := filter.src.backend()
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := commandContext(false)
	defer stop()
	return runTable(ctx, be, q, *output, filter.location(), stdout, nil, fail)
}
