package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	flag "github.com/spf13/pflag"

	"golang.org/x/term"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

const searchUsage = `Usage: logq search [flags] [query...]

Finds events in the index under --data. The words are a query in zlog's
query language (query/README.md): words, "phrases", prefix*, -word, OR,
( ), field:value, field:>N, field:~"regex", _time:5m, then pipes such as
| stats count() by (service). Flags are shorthands ANDed with it, and may
come before or after it; put -- before a query starting with "-".

Examples:
  logq search --since 1h timeout --service api
  logq search --level error --since 2026-11-24 --until "2026-11-24 12:00"
  logq search '"connection refused"' --output json
  logq search 'duration_ms:>500 -healthz' --since 1h
  logq search 'level:error | stats count() by (service)' --since 24h
  logq search -C 3 'level:error timeout'      # each match with 3 events around it

Times (--since/-S, --until/-U): "now", "today", "yesterday", a duration back
from now (30m, -1h, 2d, 1w, "1 hour ago"), @ and Unix seconds
(@1732900000), an RFC 3339 time (2026-11-24T15:04:05Z), or a local date or
date-time (2026-11-24, "2026-11-24 15:04"). Text output shows local time;
--utc shows UTC (JSON is always UTC).

Flags:
`

func runSearch(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("logq search", stderr)
	f := addSearchFlags(fs)
	words, code, done := parseCommand(fs, args, stdout, searchUsage)
	if done {
		return code
	}
	fail := failer(stderr)
	s, err := f.search(fs, words, stdout)
	if err != nil {
		return fail("%v", err)
	}
	be, err := f.filter.src.backend()
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := commandContext(*f.follow || isTerminal(stdout))
	defer stop()
	s.be, s.fail = be, fail
	s.noted = noteRetention(ctx, stderr, be, s.q.Since)
	defer s.noted()
	switch {
	case s.q.HasPipes():
		return runTable(ctx, be, s.q, *f.output, f.filter.location(), stdout, s.noted, fail)
	case *f.countOnly:
		return s.count(ctx, stdout, *f.output == "json")
	case *f.follow:
		return s.follow(ctx, stdout, stderr)
	}
	return s.list(ctx, stdout, stderr)
}

// searchFlags are logq search's flags.
type searchFlags struct {
	filter                   *filterFlags
	limit                    *int
	order, output, colorMode *string
	countOnly, follow        *bool
	around                   *contextFlags
}

func addSearchFlags(fs *flag.FlagSet) *searchFlags {
	return &searchFlags{
		filter:    addFilterFlags(fs, "1h"),
		limit:     fs.Int("limit", 100, "most events to print; 0 prints all, and stderr says when it cut the listing (with --follow: the newest this many, then live)"),
		order:     fs.String("order", "newest", "newest (first) or oldest (first)"),
		output:    fs.StringP("output", "o", "text", "text (log-file lines), json (one object per line) or raw (message only)"),
		countOnly: fs.Bool("count", false, "print only the number of matching events (--limit does not apply)"),
		follow:    fs.BoolP("follow", "f", false, "after the matches in the index, keep printing new ones live, oldest first, until interrupted"),
		around:    addContextFlags(fs, 0),
		colorMode: fs.String("color", "auto", "colour levels: auto (on a terminal, unless $NO_COLOR is set), always or never"),
	}
}

// search is one logq search, its flags checked.
type search struct {
	q             query.Query
	write         func(*bufio.Writer, *schema.Event) error
	before, after int
	around, json  bool
	be            backend
	noted         func() // waits for the retention note
	fail          func(format string, a ...any) int
}

// search checks the flags against each other and builds the query.
func (f *searchFlags) search(fs *flag.FlagSet, words []string, stdout io.Writer) (*search, error) {
	q, err := f.filter.query(words, time.Now())
	if err != nil {
		return nil, err
	}
	q.Limit = *f.limit
	switch *f.order {
	case "newest":
	case "oldest":
		q.OldestFirst = true
	default:
		return nil, fmt.Errorf("flag --order: %q is not newest or oldest", *f.order)
	}
	s := &search{q: q, around: f.around.asked(), json: *f.output == "json"}
	if s.write, err = outputFor(*f.output, *f.colorMode, f.filter.location(), stdout); err != nil {
		return nil, err
	}
	if s.before, s.after, err = f.around.counts(); err != nil {
		return nil, err
	}
	switch {
	case s.around && (*f.follow || *f.countOnly || q.HasPipes()):
		return nil, errors.New("flags -A, -B, -C print events around matches: not with --follow, --count or pipes")
	case *f.follow && *f.countOnly:
		return nil, errors.New("flags --follow and --count cannot be used together")
	case *f.follow && flagGiven(fs, "until"):
		return nil, errors.New("flags --follow and --until cannot be used together: following has no end")
	case q.HasPipes() && (*f.countOnly || *f.follow):
		return nil, errors.New("a query with pipes (| stats …) cannot be used with --count or --follow")
	case *f.follow:
		s.q.Until = time.Time{}
	}
	return s, nil
}

// count prints how many events match.
func (s *search) count(ctx context.Context, stdout io.Writer, json bool) int {
	n, err := s.be.Count(ctx, s.q)
	s.noted()
	if err != nil {
		return s.fail("%v", err)
	}
	if json {
		fmt.Fprintf(stdout, "{\"count\":%d}\n", n)
	} else {
		fmt.Fprintln(stdout, n)
	}
	if n == 0 {
		return exitNoMatch
	}
	return exitMatch
}

// follow prints the matches in the index, then new ones live.
func (s *search) follow(ctx context.Context, stdout, stderr io.Writer) int {
	dst, closePager := pager(stdout, false)
	defer closePager()
	out := bufio.NewWriterSize(dst, 64<<10)
	s.noted()
	err := s.be.Follow(ctx, s.q, func(ev *schema.Event) error {
		if err := s.write(out, ev); err != nil {
			return err
		}
		return out.Flush()
	}, func(msg string) { fmt.Fprintf(stderr, "logq: %s\n", msg) })
	if err != nil && ctx.Err() == nil {
		return s.fail("%v", err)
	}
	return exitMatch
}

// list prints the matches, with the events around each when asked, and
// says on stderr when --limit cut the listing.
func (s *search) list(ctx context.Context, stdout, stderr io.Writer) int {
	dst, closePager := pager(stdout, true)
	defer closePager()
	out := bufio.NewWriterSize(dst, 64<<10)
	q, most := s.q, s.q.Limit
	if most > 0 {
		q.Limit = most + 1 // one more tells whether --limit cut the listing
	}
	it, err := s.be.Search(ctx, q)
	s.noted()
	if err != nil {
		return s.fail("%v", err)
	}
	defer it.Close()
	n, cut, err := s.print(ctx, out, it, most)
	if errors.Is(err, errPagerQuit) {
		return exitMatch
	}
	if err != nil {
		return s.fail("%v", err)
	}
	if n == 0 {
		fmt.Fprintf(stderr, "logq: no events matched between %s and %s\n", q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
		return exitNoMatch
	}
	if cut {
		noteCut(ctx, stderr, s.be, s.q, n)
	}
	return exitMatch
}

// print writes up to most (0: all) of it's events and flushes; cut says
// whether more were left.
func (s *search) print(ctx context.Context, out *bufio.Writer, it query.Iterator, most int) (n int, cut bool, err error) {
	for it.Next() {
		if cut = most > 0 && n == most; cut {
			break
		}
		ev := it.At()
		if s.around {
			err = writeWithContext(ctx, out, s.be, &ev, s.before, s.after, n > 0 && !s.json, s.write)
		} else {
			err = s.write(out, &ev)
		}
		if err != nil {
			return n, cut, err
		}
		n++
	}
	if err := out.Flush(); err != nil {
		if errors.Is(err, errPagerQuit) {
			return n, cut, err
		}
		return n, cut, fmt.Errorf("write output: %w", err)
	}
	return n, cut, it.Err()
}

// writeWithContext prints a match with the events around it from its
// source, after a "--" line between groups as grep does (sep).
func writeWithContext(ctx context.Context, w *bufio.Writer, be backend, ev *schema.Event, before, after int, sep bool,
	write func(*bufio.Writer, *schema.Event) error) error {
	if sep {
		w.WriteString("--\n")
	}
	c := &query.Context{Event: *ev}
	if id := ev.ID(); id != "" { // an unsequenced event cannot be found again
		var err error
		if c, err = be.Context(ctx, id, before, after); err != nil {
			return err
		}
	}
	if err := writeContext(w, c, write); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// noteCut says on stderr that --limit cut the listing: the output alone
// cannot tell 100 matches from 100 of 880. A person at a terminal is told
// how many matched; a script, which pays for every millisecond, is told
// that more did (counting them can cost more than the search).
func noteCut(ctx context.Context, stderr io.Writer, be backend, q query.Query, shown int) {
	if isTerminal(stderr) {
		if total, err := be.Count(ctx, q); err == nil && total > int64(shown) {
			fmt.Fprintf(stderr, "logq: %d of %d shown; --limit 0 for all\n", shown, total)
			return
		}
	}
	fmt.Fprintf(stderr, "logq: %d shown, more match; --limit 0 for all, --count for how many\n", shown)
}

// isTerminal reports whether w is a terminal (not a pipe or a file).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// flagGiven reports whether the command line set the flag.
func flagGiven(fs *flag.FlagSet, name string) bool { return fs.Changed(name) }

// parseCommand parses a subcommand's flags and words; flags may come
// before or after the words ("logq search --since 1h timeout --service
// api"), and "--" ends them. With --help it prints usage and the flags to
// stdout; done says the command ends with code.
// newFlagSet is a command's flag set, its errors on stderr, and a bad
// flag answered with where the usage is.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "run %q for usage\n", name+" --help") }
	return fs
}

func parseCommand(fs *flag.FlagSet, args []string, stdout io.Writer, usage string) (words []string, code int, done bool) {
	err := fs.Parse(args)
	if err == nil {
		return fs.Args(), 0, false
	}
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprint(stdout, usage)
		fs.PrintDefaults()
		return nil, exitMatch, true
	}
	fmt.Fprintf(fs.Output(), "logq: %v\n", err)
	fs.Usage()
	return nil, exitError, true
}

// failer prints "logq: <message>" and returns the error exit code. An
// error in the query is shown under the query, with a caret at it.
func failer(stderr io.Writer) func(format string, a ...any) int {
	return func(format string, a ...any) int {
		fmt.Fprintf(stderr, "logq: "+format+"\n", a...)
		for _, x := range a {
			var qe *ql.Error
			if err, ok := x.(error); ok && errors.As(err, &qe) {
				fmt.Fprintln(stderr, qe.Caret())
			}
		}
		return exitError
	}
}

func defaultData() string {
	if d := os.Getenv("ZLOG_DATA"); d != "" {
		return d
	}
	return "./data"
}

// eventWriter returns the writer for an --output value.
// outputFor is the event writer for --output and --color on stdout.
func outputFor(output, colorMode string, loc *time.Location, stdout io.Writer) (func(*bufio.Writer, *schema.Event) error, error) {
	color, err := colorWanted(colorMode, stdout)
	if err != nil {
		return nil, err
	}
	return eventWriter(output, loc, color)
}

// Text shows times in loc, levels in colour with color; JSON keeps times
// in UTC, for programs.
func eventWriter(output string, loc *time.Location, color bool) (func(*bufio.Writer, *schema.Event) error, error) {
	switch output {
	case "text":
		var line, stamp []byte
		return func(w *bufio.Writer, ev *schema.Event) error {
			line = schema.AppendLineIn(line[:0], ev, loc)
			if color {
				stamp = ev.Time.In(loc).AppendFormat(stamp[:0], schema.LineTimeFormat)
				_, err := w.Write(colorLevel(line, ev, len(stamp)))
				return err
			}
			_, err := w.Write(line)
			return err
		}, nil
	case "raw":
		return func(w *bufio.Writer, ev *schema.Event) error {
			_, err := w.Write(append(schema.AppendTerminal(nil, ev.Message), '\n'))
			return err
		}, nil
	case "json":
		return func(w *bufio.Writer, ev *schema.Event) error {
			return json.NewEncoder(w).Encode(struct {
				ID string `json:"id,omitempty"` // for logq context
				*schema.Event
			}{ev.ID(), ev})
		}, nil
	}
	return nil, fmt.Errorf("flag --output: %q is not text, json or raw", output)
}
