// Package api is the collector's HTTP query API and its client: search,
// count, stats, follow and tail over the same index and live stream that
// logq reads locally, so a user on another host gets the same answers.
//
// Every endpoint is a GET under /api/v1/ taking a query in URL parameters;
// streams are NDJSON, one event per line as logq -o json prints them.
// Errors are JSON {"error": "..."} with status 400 for bad input.
package api

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// Parameter names of a query.
const (
	pWord    = "word"
	pQuery   = "q" // the query language
	pFTS     = "fts"
	pSince   = "since"
	pUntil   = "until"
	pService = "service"
	pTopic   = "topic"
	pHost    = "host"
	pLevel   = "level"
	pLimit   = "limit"
	pOrder   = "order"
	pBy      = "by"
	pEvery   = "every"
	pLabel   = "label" // KEY=VALUE, repeatable
	pTZ      = "tz"    // the zone of q's times that name none: IANA name or ±hh:mm
)

var (
	queryParams  = []string{pQuery, pWord, pFTS, pSince, pUntil, pService, pTopic, pHost, pLabel, pLevel, pTZ}
	searchParams = append(slices.Clone(queryParams), pLimit, pOrder)
	statsParams  = append(slices.Clone(queryParams), pBy, pEvery)
	tailParams   = []string{pWord, pService, pTopic, pHost, pLabel, pLevel}
)

// EncodeQuery writes q as URL parameters; times are absolute.
func EncodeQuery(q query.Query) url.Values {
	v := url.Values{}
	for _, w := range q.Words {
		v.Add(pWord, w)
	}
	for _, s := range q.Services {
		v.Add(pService, s)
	}
	addLabels(v, q.Labels)
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	if q.Expr != nil {
		v.Set(pQuery, q.Expr.Src)
		set(pTZ, ZoneName(q.Loc, time.Now()))
	}
	set(pFTS, q.FTS)
	set(pTopic, q.TopicPrefix)
	set(pHost, q.Host)
	if !q.Since.IsZero() {
		v.Set(pSince, q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set(pUntil, q.Until.Format(time.RFC3339Nano))
	}
	if q.MinLevel > schema.LevelTrace {
		v.Set(pLevel, q.MinLevel.String())
	}
	v.Set(pLimit, strconv.Itoa(q.Limit)) // always: 0 means all, absent means the default
	if q.OldestFirst {
		v.Set(pOrder, "oldest")
	}
	return v
}

// decodeQuery reads the query parameters; allowed lists what the endpoint
// takes, and anything else is an error (a misspelt parameter would
// otherwise silently widen the search).
func decodeQuery(v url.Values, allowed []string, now time.Time) (query.Query, error) {
	var q query.Query
	for k, vals := range v {
		if !slices.Contains(allowed, k) {
			return q, fmt.Errorf("%w: unknown parameter %q (this endpoint takes %v)", query.ErrBadQuery, k, allowed)
		}
		if len(vals) > 1 && k != pWord && k != pService && k != pLabel {
			return q, fmt.Errorf("%w: parameter %q given %d times", query.ErrBadQuery, k, len(vals))
		}
	}
	var err error
	q.Words, q.Services = v[pWord], v[pService]
	if q.Labels, err = decodeLabels(v[pLabel]); err != nil {
		return q, err
	}
	q.FTS, q.TopicPrefix, q.Host = v.Get(pFTS), v.Get(pTopic), v.Get(pHost)
	if s := v.Get(pTZ); s != "" {
		if q.Loc, err = ParseZone(s); err != nil {
			return q, fmt.Errorf("%w: parameter tz: %w", query.ErrBadQuery, err)
		}
	}
	if s := v.Get(pQuery); s != "" {
		if q.Expr, err = ql.Parse(s); err != nil {
			return q, fmt.Errorf("%w: parameter q: %w", query.ErrBadQuery, err)
		}
	}
	if s := v.Get(pSince); s != "" {
		if q.Since, err = query.ParseTime(s, now, time.UTC); err != nil {
			return q, fmt.Errorf("%w: parameter since: %w", query.ErrBadQuery, err)
		}
	}
	if s := v.Get(pUntil); s != "" {
		if q.Until, err = query.ParseTime(s, now, time.UTC); err != nil {
			return q, fmt.Errorf("%w: parameter until: %w", query.ErrBadQuery, err)
		}
	}
	if s := v.Get(pLevel); s != "" {
		if q.MinLevel, err = schema.ParseLevel(s); err != nil {
			return q, fmt.Errorf("%w: parameter level: %w", query.ErrBadQuery, err)
		}
	}
	for _, s := range q.Services {
		if err := schema.ValidateService(s); err != nil {
			return q, fmt.Errorf("%w: parameter service: %w", query.ErrBadQuery, err)
		}
	}
	if s := v.Get(pLimit); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 0 {
			return q, fmt.Errorf("%w: parameter limit: %q is not a count", query.ErrBadQuery, s)
		}
	}
	switch o := v.Get(pOrder); o {
	case "", "newest":
	case "oldest":
		q.OldestFirst = true
	default:
		return q, fmt.Errorf("%w: parameter order: %q is not newest or oldest", query.ErrBadQuery, o)
	}
	return q, nil
}

func addLabels(v url.Values, labels schema.Labels) {
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v.Add(pLabel, k+"="+labels[k])
	}
}

func decodeLabels(vals []string) (schema.Labels, error) {
	var out schema.Labels
	for _, s := range vals {
		k, val, err := schema.ParseLabel(s)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter label: %w", query.ErrBadQuery, err)
		}
		if out == nil {
			out = schema.Labels{}
		}
		out[k] = val
	}
	return out, nil
}
