// Package vlsearch answers zlog's queries from VictoriaLogs, where a
// collector with --store victorialogs keeps its events (issue #19): each
// query's filter is translated to LogsQL, so that the cluster's indexes
// pick the rows, and each row is then checked and its pipes run as the
// SQLite engine does (query.Over), so that both stores answer alike.
// Where VictoriaLogs can count or limit by itself (the translation is
// exact), it does.
package vlsearch

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/collector/vlstore"
	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// Reader answers queries from VictoriaLogs' vlselect (or a single node).
// A query that a storage node cannot answer fails: partial answers are
// never taken for whole ones.
type Reader struct {
	store   *vlstore.Store
	partial func(msg string) // set by AllowPartial
}

// AllowPartial lets searches that list events (not counts, stats or
// pipes) answer from the storage nodes that answer when one does not;
// warn is told each time, since VictoriaLogs does not say which rows
// are missing.
func (r *Reader) AllowPartial(warn func(msg string)) { r.partial = warn }

// New reads through store.
func New(store *vlstore.Store) *Reader { return &Reader{store: store} }

var _ query.Reader = (*Reader)(nil)

// plan compiles q and translates its filter, asking VictoriaLogs for the
// field names a word without a field must be looked for in.
func (r *Reader) plan(ctx context.Context, q query.Query) (*query.Over, logsQL, error) {
	o, err := query.Compile(q)
	if err != nil {
		return nil, logsQL{}, err
	}
	lo, hi := o.Window()
	t := &translator{}
	f := t.query(q, lo, hi)
	if t.bare {
		w := window(lo, hi)
		if w == "" {
			w = anything
		}
		names, err := r.store.FieldNames(ctx, w)
		if err != nil {
			return nil, logsQL{}, err
		}
		for _, n := range names {
			if !builtinName[n] {
				t.fields = append(t.fields, n)
			}
		}
		f = t.query(q, lo, hi)
	}
	return o, f, nil
}

// builtinName are the stored names that are not an event's fields.
var builtinName = map[string]bool{ql.Message: true, ql.Time: true, "_stream": true, "_stream_id": true, "service": true,
	"host": true, "publisher": true, "topic": true, "level": true, "seq": true, vlstore.LabelsField: true}

// order of the rows asked for.
type order int

const (
	anyOrder order = iota
	newestFirst
	oldestFirst
)

func orderOf(q query.Query) order {
	if q.OldestFirst {
		return oldestFirst
	}
	return newestFirst
}

// errEnough ends a query whose caller has what it needs.
var errEnough = errors.New("enough rows")

// each gives fn every row of f, in order, that o matches, up to limit of
// them (0: all).
func (r *Reader) each(ctx context.Context, o *query.Over, f logsQL, ord order, limit int, fn func(*schema.Event) error) error {
	return r.eachWith(ctx, o, f, ord, limit, nil, fn)
}

// eachPartial is each, answered from the storage nodes that answer when
// one does not and partial answers were allowed (AllowPartial).
func (r *Reader) eachPartial(ctx context.Context, o *query.Over, f logsQL, ord order, limit int, fn func(*schema.Event) error) error {
	sent := false
	err := r.eachWith(ctx, o, f, ord, limit, nil, func(ev *schema.Event) error { sent = true; return fn(ev) })
	if err == nil || r.partial == nil || sent || !errors.Is(err, vlstore.ErrUnavailable) {
		return err
	}
	r.partial(fmt.Sprintf("partial answer: %v; the events of the storage nodes that did not answer are missing", err))
	return r.eachWith(ctx, o, f, ord, limit, vlstore.AllowPartial, fn)
}

// withoutStreamTags ends the filter of every query that lists rows.
// VictoriaLogs skips, without a word, the blocks of a stream whose tags
// are not in its stream index yet (lib/logstorage/block_result.go,
// addStreamColumn) when a query asks for _stream, as one listing every
// field does; its index takes a second or more to show a new stream, and
// counts do not ask for _stream. Measured: a search listed 0 rows while
// the same filter counted 8,400, and a follower missed the first 4,300
// events of each stream. zlog reads neither field back (Row.Event).
const withoutStreamTags = " | delete _stream, _stream_id"

func (r *Reader) eachWith(ctx context.Context, o *query.Over, f logsQL, ord order, limit int, extra url.Values, fn func(*schema.Event) error) error {
	text := f.text + withoutStreamTags
	switch ord {
	case newestFirst:
		text += " | sort by (_time desc)"
	case oldestFirst:
		text += " | sort by (_time)"
	}
	if f.exact && limit > 0 {
		if ord == anyOrder {
			text += " | limit " + strconv.Itoa(limit)
		} else {
			text += " limit " + strconv.Itoa(limit)
		}
	}
	n := 0
	err := r.store.Each(ctx, text, extra, func(row vlstore.Row) error {
		ev, err := row.Event()
		if err != nil {
			return err
		}
		if !o.Match(&ev) {
			return nil
		}
		if err := fn(&ev); err != nil {
			return err
		}
		if n++; limit > 0 && n >= limit {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

// Search returns the matching events in the query's order.
func (r *Reader) Search(ctx context.Context, q query.Query) (query.Iterator, error) {
	o, f, err := r.plan(ctx, q)
	if err != nil {
		return nil, err
	}
	return newIterator(ctx, func(ctx context.Context, emit func(*schema.Event) error) error {
		return r.eachPartial(ctx, o, f, orderOf(q), q.Limit, emit)
	}), nil
}

// Count is how many events q matches: counted by VictoriaLogs when the
// translation is exact, else row by row.
func (r *Reader) Count(ctx context.Context, q query.Query) (int64, error) {
	o, f, err := r.plan(ctx, q)
	if err != nil {
		return 0, err
	}
	if f.exact {
		rows, err := r.store.Query(ctx, f.text+" | stats count() as n")
		if err != nil || len(rows) == 0 {
			return 0, err
		}
		return strconv.ParseInt(rows[0]["n"], 10, 64)
	}
	var n int64
	err = r.each(ctx, o, f, anyOrder, 0, func(*schema.Event) error { n++; return nil })
	return n, err
}

// Run answers a query with pipes as a table (or, without, its newest
// Limit events).
func (r *Reader) Run(ctx context.Context, q query.Query) (*query.Table, error) {
	o, f, err := r.plan(ctx, q)
	if err != nil {
		return nil, err
	}
	if fields, bucket, ok := o.CountsBy(); ok && f.exact {
		return r.countGroups(ctx, o, f, fields, bucket)
	}
	t := o.NewTable()
	ord, limit := orderOf(q), q.Limit
	switch n, head := o.Head(); {
	case o.Steps() == 0:
	case head:
		limit = n
	case o.Folds():
		ord, limit = anyOrder, 0
	default:
		limit = 0
	}
	if err := r.each(ctx, o, f, ord, limit, t.Add); err != nil {
		return nil, err
	}
	return t.Table(), nil
}

// countGroups has VictoriaLogs count a query's groups (Over.CountsBy):
// one row per group, never the events.
func (r *Reader) countGroups(ctx context.Context, o *query.Over, f logsQL, fields []string, bucket time.Duration) (*query.Table, error) {
	by := make([]string, 0, len(fields)+1)
	for _, k := range fields {
		by = append(by, strconv.Quote(k))
	}
	if bucket > 0 {
		by = append(by, ql.Time+":"+strconv.FormatInt(int64(bucket/time.Millisecond), 10)+"ms")
	}
	text := f.text + " | stats "
	if len(by) > 0 {
		text += "by (" + strings.Join(by, ", ") + ") "
	}
	text += "count() as " + countColumn
	var groups []query.CountGroup
	err := r.store.Each(ctx, text, nil, func(row vlstore.Row) error {
		g := query.CountGroup{Values: map[string]string{}}
		var err error
		if g.N, err = strconv.ParseInt(row[countColumn], 10, 64); err != nil {
			return fmt.Errorf("%w: count %q of %v", vlstore.ErrStore, row[countColumn], row)
		}
		for _, k := range fields {
			if v := row[k]; v != "" { // as the index: a part an event lacks is no key
				g.Values[k] = v
			}
		}
		if bucket > 0 {
			if g.Time, err = time.Parse(time.RFC3339Nano, row[ql.Time]); err != nil {
				return fmt.Errorf("%w: bucket %q: %w", vlstore.ErrStore, row[ql.Time], err)
			}
		}
		groups = append(groups, g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return o.TableFromCounts(groups), nil
}

// countColumn names VictoriaLogs' count in countGroups' answer.
const countColumn = "zlog_count"

// Stats counts what q matches by by, per every-long bucket.
func (r *Reader) Stats(ctx context.Context, q query.Query, by query.GroupBy, every time.Duration) (*query.Stats, error) {
	o, f, err := r.plan(ctx, q)
	if err != nil {
		return nil, err
	}
	s, err := o.NewStats(by, every)
	if err != nil {
		return nil, err
	}
	err = r.each(ctx, o, f, anyOrder, 0, func(ev *schema.Event) error { s.Add(ev); return nil })
	if err != nil {
		return nil, err
	}
	return s.Stats(), nil
}

func (r *Reader) EventByID(ctx context.Context, id string) (schema.Event, error) {
	return query.EventByID(ctx, r, id)
}

func (r *Reader) ContextOf(ctx context.Context, ev schema.Event, before, after int) (*query.Context, error) {
	return query.ContextOf(ctx, r, ev, before, after)
}

// Check reports what is wrong with q without asking VictoriaLogs.
func (r *Reader) Check(q query.Query) error {
	_, err := query.Compile(q)
	return err
}

// RetainedFrom is unknown: VictoriaLogs' -retentionPeriod is its own.
func (r *Reader) RetainedFrom() (time.Time, bool) { return time.Time{}, false }

// String names the store in messages.
func (r *Reader) String() string { return fmt.Sprintf("VictoriaLogs at %s", r.store) }
