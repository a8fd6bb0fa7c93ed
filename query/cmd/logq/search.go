package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/schema"
)

const searchUsage = `Usage: logq search [flags] [words...]

Finds events in the index under --data. Words are literal and ANDed; a word
holding spaces (quote it in the shell) or wrapped in double quotes is a
phrase. Flags may come before or after the words.

Examples:
  logq search --since 1h timeout --service api
  logq search --level error --since 2026-11-24 --until "2026-11-24 12:00"
  logq search '"connection refused"' --output json

Times (--since, --until): "now", a duration back from now (30m, 1h, 2d, 1w),
an RFC 3339 time (2026-11-24T15:04:05Z), or a local date or date-time
(2026-11-24, "2026-11-24 15:04").

Flags:
`

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runSearch(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logq search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, `run "logq search --help" for usage`) }
	dataDir := fs.String("data", defaultData(), "data directory ($ZLOG_DATA sets the default)")
	since := fs.String("since", "1h", "oldest event time to include")
	until := fs.String("until", "now", "newest event time to include")
	var services listFlag
	fs.Var(&services, "service", "only this service (repeatable)")
	topic := fs.String("topic", "", "only topics (<service>.<level>) starting with this prefix")
	host := fs.String("host", "", "only this host")
	level := fs.String("level", "", "minimum level: trace, debug, info, warn, error, fatal")
	limit := fs.Int("limit", 100, "most events to print; 0 prints all")
	order := fs.String("order", "newest", "newest (first) or oldest (first)")
	output := fs.String("output", "text", "text (log-file lines), json (one object per line) or raw (message only)")
	fs.StringVar(output, "o", "text", "shorthand for --output")
	fts := fs.String("fts", "", "raw SQLite FTS5 expression, ANDed with the words (e.g. 'time* NOT ok')")
	countOnly := fs.Bool("count", false, "print only the number of matching events (--limit does not apply)")

	words, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, searchUsage)
			fs.PrintDefaults()
			return exitMatch
		}
		return exitError
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "logq: "+format+"\n", a...)
		return exitError
	}

	now := time.Now()
	q := query.Query{Words: words, FTS: *fts, Services: services, TopicPrefix: *topic, Host: *host, Limit: *limit}
	if q.Since, err = query.ParseTime(*since, now, time.Local); err != nil {
		return fail("flag --since: %v", err)
	}
	if q.Until, err = query.ParseTime(*until, now, time.Local); err != nil {
		return fail("flag --until: %v", err)
	}
	if *level != "" {
		if q.MinLevel, err = schema.ParseLevel(*level); err != nil {
			return fail("flag --level: %v", err)
		}
	}
	switch *order {
	case "newest":
	case "oldest":
		q.OldestFirst = true
	default:
		return fail("flag --order: %q is not newest or oldest", *order)
	}
	var write func(*bufio.Writer, *schema.Event) error
	switch *output {
	case "text":
		write = func(w *bufio.Writer, ev *schema.Event) error {
			_, err := w.Write(schema.AppendLine(nil, ev))
			return err
		}
	case "raw":
		write = func(w *bufio.Writer, ev *schema.Event) error { _, err := fmt.Fprintln(w, ev.Message); return err }
	case "json":
		write = func(w *bufio.Writer, ev *schema.Event) error { return json.NewEncoder(w).Encode(ev) }
	default:
		return fail("flag --output: %q is not text, json or raw", *output)
	}

	searcher, err := query.NewSearcher(filepath.Join(*dataDir, "index"))
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *countOnly {
		n, err := searcher.Count(ctx, q)
		if err != nil {
			return fail("%v", err)
		}
		if *output == "json" {
			fmt.Fprintf(stdout, "{\"count\":%d}\n", n)
		} else {
			fmt.Fprintln(stdout, n)
		}
		if n == 0 {
			return exitNoMatch
		}
		return exitMatch
	}
	it, err := searcher.Search(ctx, q)
	if err != nil {
		return fail("%v", err)
	}
	defer it.Close()
	out := bufio.NewWriterSize(stdout, 64<<10)
	n := 0
	for it.Next() {
		ev := it.At()
		if err := write(out, &ev); err != nil {
			return fail("write output: %v", err)
		}
		n++
	}
	if err := out.Flush(); err != nil {
		return fail("write output: %v", err)
	}
	if err := it.Err(); err != nil {
		return fail("%v", err)
	}
	if n == 0 {
		fmt.Fprintf(stderr, "logq: no events matched between %s and %s\n", q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
		return exitNoMatch
	}
	return exitMatch
}

// parseInterleaved lets flags follow positional words, as users type them:
// "logq search --since 1h timeout --service api". "--" ends flag parsing.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return words, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(words, rest...), nil
		}
		words = append(words, rest[0])
		args = rest[1:]
	}
}

func defaultData() string {
	if d := os.Getenv("ZLOG_DATA"); d != "" {
		return d
	}
	return "./data"
}
