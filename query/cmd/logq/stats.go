package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/zlog/zlog/query"
)

const statsUsage = `Usage: logq stats [flags] [query...]

Counts the events that match, per service, level, host or topic, with a bar
chart; with --every, also a histogram per group (one character per bucket).

Examples:
  logq stats --since 1h --by service          # what is noisy right now?
  logq stats --since 24h --by level --every 1h
  logq stats --since 1h --level error --by host timeout

Flags:
`

const topicsUsage = `Usage: logq topics [flags]

Lists the topics (<service>.<level>) seen in the window, with their counts
and when each was last seen.

Flags:
`

func runStats(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("logq stats", stderr)
	filter := addFilterFlags(fs, "24h")
	by := fs.String("by", "service", "group by service, level, host, topic, labels (the whole label set) or label:KEY (one label's value)")
	every := fs.String("every", "", "also count per bucket of this length (5m, 1h, 1d), aligned to round times, drawn as a histogram")
	output := fs.StringP("output", "o", "text", "text or json")
	chart := fs.String("chart", "auto", "auto (unicode on a terminal, ascii otherwise), unicode, ascii or none")
	return statsCommand(fs, args, stdout, stderr, statsUsage, filter, by, every, output, chart, false)
}

func runTopics(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("logq topics", stderr)
	filter := addFilterFlags(fs, "24h")
	output := fs.StringP("output", "o", "text", "text or json")
	by, every, chart := "topic", "", "none"
	return statsCommand(fs, args, stdout, stderr, topicsUsage, filter, &by, &every, output, &chart, true)
}

func statsCommand(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, usage string, filter *filterFlags,
	by, every, output, chart *string, topics bool) int {
	words, code, done := parseCommand(fs, args, stdout, usage)
	if done {
		return code
	}
	fail := failer(stderr)
	if topics && len(words) > 0 {
		return fail("topics takes no words (got %q)", words[0])
	}
	q, err := filter.query(words, time.Now())
	if err != nil {
		return fail("%v", err)
	}
	if q.HasPipes() {
		return fail("logq stats takes a filter; run a query with pipes with logq search '… | stats …'")
	}
	var bucket time.Duration
	if *every != "" {
		if bucket, err = query.ParseDuration(*every); err != nil {
			return fail("flag --every: %v", err)
		}
	}
	groupBy, err := query.ParseGroupBy(*by)
	if err != nil {
		return fail("%v", err)
	}
	if *output != "text" && *output != "json" {
		return fail("flag --output: %q is not text or json", *output)
	}
	style, err := chartStyle(*chart, stdout)
	if err != nil {
		return fail("%v", err)
	}
	be, err := filter.src.backend()
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := commandContext(false)
	defer stop()
	noted := noteRetention(ctx, stderr, be, q.Since)
	defer noted()
	st, err := be.Stats(ctx, q, groupBy, bucket)
	noted()
	if err != nil {
		return fail("%v", err)
	}
	if *output == "json" {
		if err := json.NewEncoder(stdout).Encode(st); err != nil {
			return fail("write output: %v", err)
		}
	} else if topics {
		fmt.Fprintf(stdout, "%-40s %10s  %s\n", "TOPIC", "EVENTS", "LAST SEEN")
		for _, r := range st.Rows {
			fmt.Fprintf(stdout, "%-40s %10d  %s (%s ago)\n", r.Key, r.Count, r.Last.In(filter.location()).Format(time.RFC3339), query.FormatDuration(time.Since(r.Last).Round(time.Second)))
		}
	} else {
		writeStatsTable(stdout, st, style, filter.location())
	}
	if st.Total == 0 {
		fmt.Fprintf(stderr, "logq: no events matched between %s and %s\n", q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
		return exitNoMatch
	}
	return exitMatch
}

type chartChars struct {
	bar   string   // one unit of a bar
	spark []string // histogram levels, lowest first
}

var (
	unicodeChart = &chartChars{bar: "█", spark: []string{" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}}
	asciiChart   = &chartChars{bar: "#", spark: []string{" ", ".", ":", "-", "=", "+", "*", "#", "@"}}
)

func chartStyle(name string, out io.Writer) (*chartChars, error) {
	switch name {
	case "auto":
		if f, ok := out.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				return unicodeChart, nil
			}
		}
		return asciiChart, nil
	case "unicode":
		return unicodeChart, nil
	case "ascii":
		return asciiChart, nil
	case "none":
		return nil, nil
	}
	return nil, fmt.Errorf("flag --chart: %q is not auto, unicode, ascii or none", name)
}

// writeStatsTable prints one row per group: key, count, share, a bar
// scaled to the largest group, and with buckets a histogram scaled to the
// largest bucket of all rows (so rows compare), with the row's largest
// bucket in numbers.
func writeStatsTable(w io.Writer, st *query.Stats, style *chartChars, loc *time.Location) {
	keyW := len(string(st.By))
	var maxCount, maxBucket int64
	for _, r := range st.Rows {
		keyW = max(keyW, len(r.Key))
		maxCount = max(maxCount, r.Count)
		for _, b := range r.Buckets {
			maxBucket = max(maxBucket, b)
		}
	}
	const barWidth = 30
	header := fmt.Sprintf("%-*s %10s %6s", keyW, strings.ToUpper(string(st.By)), "EVENTS", "SHARE")
	if st.Every > 0 {
		header += fmt.Sprintf("  per %s from %s", query.FormatDuration(st.Every), st.Since.In(loc).Format("2006-01-02 15:04"))
	}
	fmt.Fprintln(w, header)
	for _, r := range st.Rows {
		share := 100 * float64(r.Count) / float64(max(st.Total, 1))
		line := fmt.Sprintf("%-*s %10d %5.1f%%", keyW, r.Key, r.Count, share)
		if style != nil && st.Every == 0 {
			n := int((r.Count*barWidth + maxCount - 1) / max(maxCount, 1))
			line += "  " + strings.Repeat(style.bar, n)
		}
		if style != nil && st.Every > 0 {
			var b strings.Builder
			for _, c := range r.Buckets {
				lvl := 0
				if c > 0 {
					lvl = 1 + int(c*int64(len(style.spark)-2)/max(maxBucket, 1))
				}
				b.WriteString(style.spark[lvl])
			}
			line += "  |" + b.String() + "|  max " + strconv.FormatInt(slices.Max(r.Buckets), 10)
		}
		if style == nil && st.Every > 0 {
			line += "  " + strings.Trim(fmt.Sprint(r.Buckets), "[]")
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "%-*s %10d\n", keyW, "total", st.Total)
}

// noteRetention tells the user when the window reaches back before what
// the collector's retention has kept: those events cannot be answered for.
// The returned func prints the note, once; call it when the query has
// answered, and defer it. It asks then, not before: the collector says it
// with every answer (api.RetainedFromHeader), so the query's answer has
// told the client already, and a local index answers from a small file.
func noteRetention(ctx context.Context, w io.Writer, be backend, since time.Time) (note func()) {
	var once sync.Once
	return func() {
		once.Do(func() {
			if oldest, ok, err := be.RetainedFrom(ctx); err == nil && ok && since.Before(oldest) {
				fmt.Fprintf(w, "logq: note: retention removed events before %s; the index cannot answer for earlier times\n", oldest.Format(time.RFC3339))
			}
		})
	}
}
