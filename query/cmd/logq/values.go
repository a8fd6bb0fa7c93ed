package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// completionTimeout bounds a completion's question to the index: a slow
// answer is worse than none while the user waits at the prompt.
const completionTimeout = 2 * time.Second

// runValues prints, one per line, the values the shell completes:
// levels, the services, hosts and labels (KEY=VALUE) of the last week,
// or the field names of the last hour as "name:" for a query.
func runValues(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logq completion values", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := addSourceFlags(fs)
	kinds, code, done := parseCommand(fs, args, stdout, "Usage: logq completion values level|service|host|label|field\n\nFlags:\n")
	if done {
		return code
	}
	if len(kinds) != 1 {
		return failer(stderr)("completion values: want one of level, service, host, label, field")
	}
	if kinds[0] == "level" {
		for _, l := range schema.Levels() {
			fmt.Fprintln(stdout, l)
		}
		return exitMatch
	}
	be, err := src.backend()
	if err != nil {
		return failer(stderr)("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	values, err := completionValues(ctx, be, kinds[0])
	if err != nil {
		return failer(stderr)("%v", err)
	}
	for _, v := range values {
		fmt.Fprintln(stdout, v)
	}
	return exitMatch
}

func completionValues(ctx context.Context, be backend, kind string) ([]string, error) {
	now := time.Now()
	week := query.Query{Since: now.Add(-7 * 24 * time.Hour), Until: now}
	var out []string
	switch kind {
	case "service", "host", "label":
		by := map[string]query.GroupBy{"service": query.ByService, "host": query.ByHost, "label": query.ByLabels}[kind]
		st, err := be.Stats(ctx, week, by, 0)
		if err != nil {
			return nil, err
		}
		for _, r := range st.Rows {
			if kind != "label" {
				out = append(out, r.Key)
				continue
			}
			for _, kv := range strings.Split(strings.Trim(r.Key, "{}"), ",") { // {env=prod,pod=a}
				if kv != "" {
					out = append(out, kv)
				}
			}
		}
	case "field":
		x, err := ql.Parse("* | field_names")
		if err != nil {
			return nil, err
		}
		t, err := be.Run(ctx, query.Query{Since: now.Add(-time.Hour), Until: now, Expr: x})
		if err != nil {
			return nil, err
		}
		for _, row := range t.Rows {
			out = append(out, fmt.Sprint(row[0])+":")
		}
		out = append(out, "service:", "level:", "host:", "_time:", "_msg:")
	default:
		return nil, fmt.Errorf("completion values: %q is not level, service, host, label or field", kind)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
