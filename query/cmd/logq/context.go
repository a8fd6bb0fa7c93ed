package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/schema"
)

const contextUsage = `Usage: logq context [flags] ID

Prints a stored event and the events around it from the same source (the
same publisher and service, every level), in time order. The ID is what
logq search -o json prints as "id": <publisher>/<service>.<level>/<seq>.

Examples:
  logq context vm-7fd34c18/api.error/1234
  logq context -C 20 vm-7fd34c18/api.error/1234 -o json

Flags:
`

// contextFlags are -A, -B and -C, as grep has them.
type contextFlags struct {
	fs                  *flag.FlagSet
	after, before, both *int
}

func addContextFlags(fs *flag.FlagSet, def int) *contextFlags {
	return &contextFlags{fs: fs,
		after:  fs.IntP("after-context", "A", def, "events after each one, from the same source (default: -C's)"),
		before: fs.IntP("before-context", "B", def, "events before each one, from the same source (default: -C's)"),
		both:   fs.IntP("context", "C", def, "events before and after each one"),
	}
}

// counts resolves -A/-B/-C into before and after: -A and -B win over -C.
func (c *contextFlags) counts() (before, after int, err error) {
	before, after = *c.both, *c.both
	if c.fs.Changed("before-context") {
		before = *c.before
	}
	if c.fs.Changed("after-context") {
		after = *c.after
	}
	if before < 0 || after < 0 {
		return 0, 0, errors.New("flags -A, -B, -C: want a count of events, 0 or more")
	}
	return before, after, nil
}

func (c *contextFlags) asked() bool {
	before, after, err := c.counts()
	return err != nil || before > 0 || after > 0
}

func runContext(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("logq context", stderr)
	src := addSourceFlags(fs)
	around := addContextFlags(fs, 5)
	output := fs.StringP("output", "o", "text", "text, json or raw")
	utc := fs.Bool("utc", false, "show times in UTC rather than local time")
	colorMode := fs.String("color", "auto", "colour levels: auto (on a terminal, unless $NO_COLOR is set), always or never")
	ids, code, done := parseCommand(fs, args, stdout, contextUsage)
	if done {
		return code
	}
	fail := failer(stderr)
	if len(ids) != 1 {
		return fail("context takes one event id (got %d); logq search -o json prints them", len(ids))
	}
	before, after, err := around.counts()
	if err != nil {
		return fail("%v", err)
	}
	write, err := outputFor(*output, *colorMode, zone(*utc), stdout)
	if err != nil {
		return fail("%v", err)
	}
	be, err := src.backend()
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := commandContext(false)
	defer stop()
	c, err := be.Context(ctx, ids[0], before, after)
	if errors.Is(err, query.ErrNotFound) {
		fmt.Fprintf(stderr, "logq: %v\n", err)
		return exitNoMatch
	}
	if err != nil {
		return fail("%v", err)
	}
	out := bufio.NewWriter(stdout)
	if err := writeContext(out, c, write); err != nil {
		return fail("write output: %v", err)
	}
	if err := out.Flush(); err != nil {
		return fail("write output: %v", err)
	}
	return exitMatch
}

// writeContext prints the events before, the event, the events after.
func writeContext(w *bufio.Writer, c *query.Context, write func(*bufio.Writer, *schema.Event) error) error {
	for _, group := range [][]schema.Event{c.Before, {c.Event}, c.After} {
		for i := range group {
			if err := write(w, &group[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func zone(utc bool) *time.Location {
	if utc {
		return time.UTC
	}
	return time.Local
}
