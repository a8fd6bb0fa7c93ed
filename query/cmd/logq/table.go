package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// runTable answers a query with pipes: a table, aligned in columns, or
// with -o json one object per row with the keys in column order. answered,
// when not nil, is called once the query has answered.
func runTable(ctx context.Context, be backend, q query.Query, output string, loc *time.Location, stdout io.Writer,
	answered func(), fail func(string, ...any) int) int {
	t, err := be.Run(ctx, q)
	if answered != nil {
		answered()
	}
	if err != nil {
		return fail("%v", err)
	}
	out := bufio.NewWriter(stdout)
	switch output {
	case "json":
		err = writeTableJSON(out, t)
	case "text", "raw":
		err = writeTableText(out, t, loc)
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		return fail("write output: %v", err)
	}
	if len(t.Rows) == 0 {
		return exitNoMatch
	}
	return exitMatch
}

func writeTableText(w io.Writer, t *query.Table, loc *time.Location) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.Columns, "\t"))
	for _, row := range t.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = cellText(t.Columns[i], v, loc)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// cellText shows a value; times (_time over the API is RFC 3339 text)
// in loc.
func cellText(column string, v any, loc *time.Location) string {
	if s, ok := v.(string); ok && column == ql.Time {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			v = t
		}
	}
	switch v := v.(type) {
	case nil:
		return "-"
	case time.Time:
		return v.In(loc).Format(time.RFC3339Nano)
	case float64:
		if v != math.Trunc(v) {
			return fmt.Sprintf("%.6g", v)
		}
	}
	return strings.ReplaceAll(schema.FormatValue(v), "\n", `\n`)
}

func writeTableJSON(w io.Writer, t *query.Table) error {
	for _, row := range t.Rows {
		b := []byte{'{'}
		for i, c := range t.Columns {
			if row[i] == nil {
				continue
			}
			if len(b) > 1 {
				b = append(b, ',')
			}
			k, _ := json.Marshal(c)
			v, err := json.Marshal(row[i])
			if err != nil {
				return err
			}
			b = append(append(append(b, k...), ':'), v...)
		}
		if _, err := w.Write(append(b, '}', '\n')); err != nil {
			return err
		}
	}
	return nil
}
