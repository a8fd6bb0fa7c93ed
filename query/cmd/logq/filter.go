package main

import (
	"fmt"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// filterFlags are the selection flags search, stats and topics share.
type filterFlags struct {
	src                                   *sourceFlags
	since, until, topic, host, level, fts *string
	services, labels                      []string
	utc                                   *bool
}

// location is where times are shown: local, or UTC with --utc.
func (f *filterFlags) location() *time.Location { return zone(*f.utc) }

// parseLabels reads --label KEY=VALUE flags.
func parseLabels(flags []string) (schema.Labels, error) {
	var out schema.Labels
	for _, s := range flags {
		k, v, err := schema.ParseLabel(s)
		if err != nil {
			return nil, fmt.Errorf("flag --label: %w", err)
		}
		if out == nil {
			out = schema.Labels{}
		}
		out[k] = v
	}
	return out, nil
}

func addFilterFlags(fs *flag.FlagSet, defaultSince string) *filterFlags {
	f := &filterFlags{}
	f.src = addSourceFlags(fs)
	f.since = fs.StringP("since", "S", defaultSince, "oldest event time to include")
	f.until = fs.StringP("until", "U", "now", "newest event time to include")
	f.utc = fs.Bool("utc", false, "show times in UTC rather than local time")
	fs.StringArrayVar(&f.services, "service", nil, "only this service (repeatable)")
	f.topic = fs.String("topic", "", "only topics (<service>.<level>) starting with this prefix")
	f.host = fs.String("host", "", "only this host")
	fs.StringArrayVar(&f.labels, "label", nil, "only events with this source label, KEY=VALUE, e.g. env=prod (repeatable: all must match)")
	f.level = fs.String("level", "", "minimum level: trace, debug, info, warn, error, fatal")
	f.fts = fs.String("fts", "", "full-text expression in FTS5 syntax, ANDed with the words (e.g. 'time* NOT ok')")
	return f
}

// query builds the query from the flags and the words, which together
// are a query in the query language; errors name the flag or the
// position in the query.
func (f *filterFlags) query(words []string, now time.Time) (query.Query, error) {
	q := query.Query{FTS: *f.fts, Services: f.services, TopicPrefix: *f.topic, Host: *f.host, Loc: time.Local}
	var err error
	if len(words) > 0 {
		if q.Expr, err = ql.Parse(strings.Join(words, " ")); err != nil {
			return q, fmt.Errorf("%w: %w", query.ErrBadQuery, err)
		}
	}
	if q.Labels, err = parseLabels(f.labels); err != nil {
		return q, err
	}
	if q.Since, err = query.ParseTime(*f.since, now, time.Local); err != nil {
		return q, fmt.Errorf("flag --since: %w", err)
	}
	if q.Until, err = query.ParseTime(*f.until, now, time.Local); err != nil {
		return q, fmt.Errorf("flag --until: %w", err)
	}
	if *f.level != "" {
		if q.MinLevel, err = schema.ParseLevel(*f.level); err != nil {
			return q, fmt.Errorf("flag --level: %w", err)
		}
	}
	return q, nil
}
