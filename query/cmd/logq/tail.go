package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/zlog/zlog/query/live"
	"github.com/zlog/zlog/schema"
)

const tailUsage = `Usage: logq tail [flags] [words...]

Prints events live as the collector receives them. It subscribes on the
collector's XPUB socket with topic prefixes, so --service (and --level with
--service) filter at the collector; --topic subscribes to its prefix; other
filters and words (case-insensitive, all must appear in the message or a
field) apply here. It reconnects by itself when the collector restarts.

Examples:
  logq tail --service api --level warn
  logq tail --topic downcase timeout -o json

Flags:
`

func runTail(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("logq tail", stderr)
	src := addSourceFlags(fs)
	services := fs.StringArray("service", nil, "only this service (repeatable)")
	topic := fs.String("topic", "", "only topics (<service>.<level>) starting with this prefix")
	host := fs.String("host", "", "only this host")
	labels := fs.StringArray("label", nil, "only events with this source label, KEY=VALUE (repeatable: all must match)")
	level := fs.String("level", "", "minimum level: trace, debug, info, warn, error, fatal")
	output := fs.StringP("output", "o", "text", "text, json or raw")
	utc := fs.Bool("utc", false, "show times in UTC rather than local time")
	colorMode := fs.String("color", "auto", "colour levels: auto (on a terminal, unless $NO_COLOR is set), always or never")
	limit := fs.Int("limit", 0, "exit after this many events (0: until interrupted)")
	words, code, done := parseCommand(fs, args, stdout, tailUsage)
	if done {
		return code
	}
	fail := failer(stderr)
	f := live.Filter{Services: *services, Topic: *topic, Host: *host, Words: words}
	var err error
	if f.Labels, err = parseLabels(*labels); err != nil {
		return fail("%v", err)
	}
	if *level != "" {
		if f.MinLevel, err = schema.ParseLevel(*level); err != nil {
			return fail("flag --level: %v", err)
		}
	}
	for _, s := range *services {
		if err := schema.ValidateService(s); err != nil {
			return fail("flag --service: %v", err)
		}
	}
	write, err := outputFor(*output, *colorMode, zone(*utc), stdout)
	if err != nil {
		return fail("%v", err)
	}
	if *limit < 0 {
		return fail("flag --limit: %d is negative", *limit)
	}
	be, err := src.backend()
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := commandContext(true)
	defer stop()
	out := bufio.NewWriter(stdout)
	n := 0
	err = be.Tail(ctx, f, func(ev *schema.Event) error {
		if err := write(out, ev); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return live.ErrStop // the reader went away (e.g. | head)
		}
		if n++; *limit > 0 && n >= *limit {
			return live.ErrStop
		}
		return nil
	}, func(msg string) { fmt.Fprintf(stderr, "logq: %s\n", msg) })
	if err != nil && ctx.Err() == nil {
		return fail("%v", err)
	}
	return exitMatch
}
