// Package query searches the zlog index: it picks the day partitions a time
// range touches, asks each one with parameterised SQL, and streams the
// matches in time order.
package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zlog/zlog/collector/index"

	_ "github.com/mattn/go-sqlite3"
	"golang.org/x/sync/errgroup" // registers "sqlite3"; built with -tags sqlite_fts5

	"github.com/zlog/zlog/schema"
)

// Query selects events. Zero values mean "no constraint".
type Query struct {
	Words       []string // literal words and phrases, ANDed
	FTS         string   // raw FTS5 expression, ANDed with Words
	Since       time.Time
	Until       time.Time
	Services    []string // exact service names, ORed
	TopicPrefix string   // prefix of "<service>.<level>"
	Host        string
	Labels      schema.Labels // source labels the event must all have
	MinLevel    schema.Level
	Limit       int  // 0 = no limit
	OldestFirst bool // default is newest first
}

// Errors a caller maps to exit code 2 (bad input) rather than 1 (no match).
var (
	ErrBadQuery = errors.New("invalid query")
	ErrNoIndex  = errors.New("no index")
)

// Searcher reads the partitions under an index directory. It holds no open
// files between calls, so it is safe while the collector writes.
type Searcher struct {
	dir string
	// Warn, when set, is told (once per file) about a damaged partition
	// the search skips; its events are not in the answer.
	Warn   func(msg string)
	warned sync.Map // path → true
}

// skipDamaged reports whether err says the partition at path is damaged;
// then the caller skips it, and Warn hears of it once.
func (s *Searcher) skipDamaged(path string, err error) bool {
	if err == nil || !index.IsDamaged(err) {
		return false
	}
	if _, seen := s.warned.LoadOrStore(path, true); !seen && s.Warn != nil {
		s.Warn(fmt.Sprintf("skipping damaged index partition %s (%v); its events are missing from the answer, the log files still hold them", path, err))
	}
	return true
}

// NewSearcher returns a searcher for <data>/index.
func NewSearcher(indexDir string) (*Searcher, error) {
	st, err := os.Stat(indexDir)
	if err != nil {
		return nil, fmt.Errorf("%w at %q (is --data right, and has the collector stored anything?): %w", ErrNoIndex, indexDir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %q is not a directory", ErrNoIndex, indexDir)
	}
	return &Searcher{dir: indexDir}, nil
}

// Iterator yields events one at a time: for it.Next() { ev := it.At() }; then
// check it.Err() and Close it.
type Iterator interface {
	Next() bool
	At() schema.Event
	Err() error
	Close() error
}

// Search returns the matching events in the query's order.
func (s *Searcher) Search(ctx context.Context, q Query) (Iterator, error) {
	plan, err := s.plan(q)
	if err != nil {
		return nil, err
	}
	return &iterator{ctx: ctx, plan: plan, remaining: q.Limit}, nil
}

// Count returns the number of matching events (Limit is ignored).
//
// A count of words walks FTS5 doclists, which for a common word is most of
// the work; a window of an hour or more is cut into one id range per core
// and the ranges are counted at once, each on its own connection.
func (s *Searcher) Count(ctx context.Context, q Query) (int64, error) {
	plan, err := s.plan(q)
	if err != nil {
		return 0, err
	}
	var tasks []countTask
	cuts := plan.countCuts()
	for _, p := range plan.parts {
		t, err := plan.countTasks(ctx, p, cuts)
		if err != nil {
			return 0, err
		}
		tasks = append(tasks, t...)
	}
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, t := range tasks {
		g.Go(func() error {
			db, err := index.OpenReadOnly(t.path)
			if s.skipDamaged(t.path, err) {
				return nil
			}
			if err != nil {
				return err
			}
			defer db.Close()
			var n int64
			if err := db.QueryRowContext(gctx, t.sql, t.args...).Scan(&n); s.skipDamaged(t.path, err) {
				return nil
			} else if err != nil {
				return plan.wrapErr(t.path, err)
			}
			total.Add(n)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return total.Load(), nil
}

// countTask is one statement whose single number adds to a count.
type countTask struct {
	path string
	sql  string
	args []any
}

// countCuts splits the window into one id range per core, by time, so the
// ranges hold about as many events each; a window under an hour is not
// worth the extra connections.
func (p *plan) countCuts() []int64 {
	if len(p.parts) == 0 {
		return nil
	}
	first, last := p.parts[0].Day, p.parts[0].Day // parts may be newest first
	for _, part := range p.parts {
		first, last = minTime(first, part.Day), maxTime(last, part.Day)
	}
	lo := max(p.lo, first.UnixNano())
	hi := min(p.hi, last.UnixNano()+int64(24*time.Hour)+idSlack-1)
	n := int64(runtime.GOMAXPROCS(0))
	if hi-lo < int64(time.Hour) || n < 2 {
		return []int64{lo, hi + 1}
	}
	cuts := []int64{lo}
	for i := int64(1); i < n; i++ {
		cuts = append(cuts, lo+(hi-lo)/n*i)
	}
	return append(cuts, hi+1)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// countTasks are the statements that count a partition's matches: for
// words without substrings, the doclist in each of the cut ranges that
// meets the partition (the first also corrects the window's edges);
// otherwise one statement.
func (p *plan) countTasks(ctx context.Context, part index.Partition, cuts []int64) ([]countTask, error) {
	db, err := index.OpenReadOnly(part.Path)
	if errors.Is(err, index.ErrNotReady) || p.s.skipDamaged(part.Path, err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	match, ok, err := p.match(ctx, db)
	db.Close()
	if p.s.skipDamaged(part.Path, err) {
		return nil, nil
	}
	if err != nil || !ok {
		if err != nil {
			err = p.wrapErr(part.Path, err)
		}
		return nil, err
	}
	if match == "" || len(p.terms.Substrings) > 0 {
		sqlText, args := p.query(match, true, 0)
		return []countTask{{part.Path, sqlText, args}}, nil
	}
	// Ids of this partition's events lie in [day, day+24h+idSlack).
	dayStart := part.Day.UnixNano()
	dayEnd := dayStart + int64(24*time.Hour) + idSlack - 1
	const core = "SELECT count(*) FROM events_fts f WHERE f.rowid BETWEEN ? AND ? AND events_fts MATCH ?"
	edgeSQL, edgeArgs := p.countEdges(match)
	var tasks []countTask
	for i := 0; i+1 < len(cuts); i++ {
		a, b := max(cuts[i], dayStart), min(cuts[i+1]-1, dayEnd)
		if a > b {
			continue
		}
		if len(tasks) == 0 {
			tasks = append(tasks, countTask{part.Path, "SELECT (" + core + ") + (" + edgeSQL + ")", append([]any{a, b, match}, edgeArgs...)})
			continue
		}
		tasks = append(tasks, countTask{part.Path, core, []any{a, b, match}})
	}
	if len(tasks) == 0 { // the window misses the day, but not its edge slack
		tasks = append(tasks, countTask{part.Path, edgeSQL, edgeArgs})
	}
	return tasks, nil
}

// countEdges corrects a doclist count over ids [lo, hi] at the window's
// two edges, where a bumped id and its exact time fall on different sides.
func (p *plan) countEdges(match string) (string, []any) {
	const edge = "(SELECT count(*) FROM events_fts f CROSS JOIN events e ON e.id = f.rowid WHERE f.rowid BETWEEN ? AND ? AND events_fts MATCH ? AND "
	return "SELECT " + edge + "e.id - e.bump <= ?) - " + edge + "e.id - e.bump < ?)",
		[]any{p.hi + 1, p.hi + idSlack, match, p.hi, p.lo, p.lo + idSlack, match, p.lo}
}

type plan struct {
	s     *Searcher
	q     Query
	terms Terms
	lo    int64 // Since in ns: lowest event time and lowest id
	hi    int64 // Until in ns: highest event time; ids reach up to hi+idSlack
	parts []index.Partition

	grouped              bool  // stats: group by series and time bucket
	bucketBase, bucketNs int64 // bucket = (time - bucketBase) / bucketNs
}

// The range of event times: int64 nanoseconds since 1970.
var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

// idSlack bounds how far a bump can move an id past its event time: a
// million events with one timestamp. Ids in [hi, hi+idSlack] and [lo,
// lo+idSlack] are checked against the exact time.
const idSlack = int64(time.Millisecond)

func (s *Searcher) plan(q Query) (*plan, error) {
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		return nil, fmt.Errorf("%w: --until %s is before --since %s", ErrBadQuery, q.Until.Format(time.RFC3339), q.Since.Format(time.RFC3339))
	}
	if q.Limit < 0 {
		return nil, fmt.Errorf("%w: --limit %d is negative", ErrBadQuery, q.Limit)
	}
	for _, svc := range q.Services {
		if err := schema.ValidateService(svc); err != nil {
			return nil, fmt.Errorf("%w: --service: %w", ErrBadQuery, err)
		}
	}
	p := &plan{s: s, q: q, terms: BuildTerms(q.Words, q.FTS), lo: math.MinInt64, hi: math.MaxInt64 - idSlack}
	if p.terms.Match != "" {
		if err := checkMatch("{message fields}: (" + p.terms.Match + ")"); err != nil {
			return nil, fmt.Errorf("%w: full-text expression %q: %v", ErrBadQuery, p.terms.Match, err)
		}
	}
	// Times beyond what int64 nanoseconds hold (before 1677, after
	// 2262-04-11) are clamped rather than overflowing into nonsense.
	if !q.Since.IsZero() && q.Since.After(minNano) {
		p.lo = q.Since.UnixNano()
	}
	if !q.Until.IsZero() && q.Until.Before(maxNano) {
		p.hi = min(q.Until.UnixNano(), math.MaxInt64-idSlack)
	}
	all, err := index.ListPartitions(s.dir)
	if err != nil {
		return nil, err
	}
	for _, part := range all {
		end := part.Day.Add(24 * time.Hour)
		if !q.Since.IsZero() && !end.After(q.Since) {
			continue
		}
		if !q.Until.IsZero() && part.Day.After(q.Until) {
			continue
		}
		p.parts = append(p.parts, part)
	}
	if !q.OldestFirst {
		for i, j := 0, len(p.parts)-1; i < j; i, j = i+1, j-1 {
			p.parts[i], p.parts[j] = p.parts[j], p.parts[i]
		}
	}
	return p, nil
}

// match builds the partition's FTS5 expression: the words, restricted to the
// message and fields columns, ANDed with the label filters as labels-column
// tokens. ok is false when no event in the partition can match (a topic
// prefix no stored service has).
func (p *plan) match(ctx context.Context, db *sql.DB) (expr string, ok bool, err error) {
	var parts []string
	if p.terms.Match != "" {
		parts = append(parts, "{message fields}: ("+p.terms.Match+")")
	}
	label := func(tokens []string) {
		parts = append(parts, "labels: ("+strings.Join(tokens, " OR ")+")")
	}
	levels := schema.Levels()
	if p.q.MinLevel > schema.LevelTrace {
		levels = levels[p.q.MinLevel-schema.LevelTrace:]
	}
	services := p.q.Services
	if tp := p.q.TopicPrefix; tp != "" {
		if svc, lvlPrefix, hasDot := cutLast(tp, "."); hasDot {
			if len(services) > 0 && !slices.Contains(services, svc) {
				return "", false, nil
			}
			services = []string{svc}
			levels = slices.DeleteFunc(slices.Clone(levels), func(l schema.Level) bool { return !strings.HasPrefix(l.String(), lvlPrefix) })
		} else {
			matched, err := servicesWithPrefix(ctx, db, tp)
			if err != nil {
				return "", false, err
			}
			if len(services) > 0 {
				matched = slices.DeleteFunc(matched, func(s string) bool { return !slices.Contains(services, s) })
			}
			services = matched
		}
		if len(services) == 0 {
			return "", false, nil
		}
	}
	if len(levels) == 0 {
		return "", false, nil
	}
	if len(levels) < len(schema.Levels()) {
		var tokens []string
		for _, l := range levels {
			tokens = append(tokens, index.LevelToken(l))
		}
		label(tokens)
	}
	if len(services) > 0 {
		var tokens []string
		for _, s := range services {
			tokens = append(tokens, index.ServiceToken(s))
		}
		label(tokens)
	}
	if p.q.Host != "" {
		label([]string{index.HostToken(p.q.Host)})
	}
	for _, k := range slices.Sorted(maps.Keys(p.q.Labels)) {
		label([]string{index.LabelToken(k, p.q.Labels[k])})
	}
	return strings.Join(parts, " AND "), true, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func servicesWithPrefix(ctx context.Context, db *sql.DB, prefix string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT DISTINCT service FROM series WHERE substr(service, 1, length(?)) = ?", prefix, prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// query builds the statement from constant fragments; every user-supplied
// value is a bound parameter. With a MATCH expression the FTS doclist drives
// (CROSS JOIN fixes that order), walking ids within the window in the
// requested order; without one, the events table's id range does.
func (p *plan) query(match string, count bool, limit int) (string, []any) {
	var b strings.Builder
	var args []any
	idCol := "e.id"
	switch {
	case count:
		b.WriteString("SELECT count(*) ")
	case p.grouped:
		// Stats: count and newest time per series and time bucket.
		b.WriteString("SELECT e.series, (e.id - e.bump - ?) / ?, count(*), max(e.id - e.bump) ")
		args = append(args, p.bucketBase, p.bucketNs)
	default:
		b.WriteString("SELECT " + eventColumns + " ")
	}
	if match != "" {
		b.WriteString("FROM events_fts f CROSS JOIN events e ON e.id = f.rowid ")
		idCol = "f.rowid"
	} else {
		b.WriteString("FROM events e ")
	}
	if !count && !p.grouped {
		b.WriteString("JOIN series s ON s.id = e.series ")
	}
	b.WriteString("WHERE " + idCol + " BETWEEN ? AND ? AND e.id - e.bump BETWEEN ? AND ? ")
	args = append(args, p.lo, p.hi+idSlack, p.lo, p.hi)
	if match != "" {
		b.WriteString("AND events_fts MATCH ? ")
		args = append(args, match)
	}
	for _, sub := range p.terms.Substrings {
		b.WriteString("AND (instr(e.message, ?) > 0 OR EXISTS (SELECT 1 FROM json_each(e.fields) WHERE instr(value, ?) > 0)) ")
		args = append(args, sub, sub)
	}
	if p.grouped {
		b.WriteString("GROUP BY 1, 2")
		return b.String(), args
	}
	if !count {
		if p.q.OldestFirst {
			b.WriteString("ORDER BY " + idCol + " ASC ")
		} else {
			b.WriteString("ORDER BY " + idCol + " DESC ")
		}
		if limit > 0 {
			b.WriteString("LIMIT ?")
			args = append(args, limit)
		}
	}
	return b.String(), args
}

// wrapErr says which partition failed, by its name only: an error of the
// API must not show the server's paths.
func (p *plan) wrapErr(path string, err error) error {
	return fmt.Errorf("search partition %s: %w", filepath.Base(path), err)
}

type iterator struct {
	ctx       context.Context
	plan      *plan
	remaining int // 0 = unlimited
	next      int // index into plan.parts
	db        *sql.DB
	rows      *sql.Rows
	cur       schema.Event
	err       error
}

func (it *iterator) Next() bool {
	if it.err != nil {
		return false
	}
	for {
		if it.plan.q.Limit > 0 && it.remaining == 0 {
			it.closePart()
			return false
		}
		if it.rows == nil {
			if it.next >= len(it.plan.parts) {
				return false
			}
			if !it.openPart(it.plan.parts[it.next]) {
				return false
			}
			it.next++
			if it.rows == nil {
				continue
			}
		}
		if it.rows.Next() {
			if err := it.scan(); err != nil {
				it.err = err
				return false
			}
			if it.plan.q.Limit > 0 {
				it.remaining--
			}
			return true
		}
		if err := it.rows.Err(); err != nil && !it.plan.s.skipDamaged(it.plan.parts[it.next-1].Path, err) {
			it.err = it.plan.wrapErr(it.plan.parts[it.next-1].Path, err)
			it.closePart()
			return false
		}
		it.closePart()
	}
}

func (it *iterator) openPart(p index.Partition) bool {
	db, err := index.OpenReadOnly(p.Path)
	if errors.Is(err, index.ErrNotReady) || it.plan.s.skipDamaged(p.Path, err) {
		return true // nothing here to read; Next moves on
	}
	if err != nil {
		it.err = err
		return false
	}
	match, ok, err := it.plan.match(it.ctx, db)
	if err != nil || !ok {
		db.Close()
		if err != nil && !it.plan.s.skipDamaged(p.Path, err) {
			it.err = it.plan.wrapErr(p.Path, err)
			return false
		}
		return true // nothing can match here; Next moves on
	}
	sqlText, args := it.plan.query(match, false, it.remaining)
	rows, err := db.QueryContext(it.ctx, sqlText, args...)
	if err != nil {
		db.Close()
		if it.plan.s.skipDamaged(p.Path, err) {
			return true
		}
		it.err = it.plan.wrapErr(p.Path, err)
		return false
	}
	it.db, it.rows = db, rows
	return true
}

func (it *iterator) scan() (err error) {
	it.cur, err = scanEvent(it.rows)
	return err
}

func (it *iterator) closePart() {
	if it.rows != nil {
		it.rows.Close()
		it.rows = nil
	}
	if it.db != nil {
		it.db.Close()
		it.db = nil
	}
}

func (it *iterator) At() schema.Event { return it.cur }
func (it *iterator) Err() error       { return it.err }
func (it *iterator) Close() error {
	it.closePart()
	return nil
}

// RetainedFrom is the oldest time the index answers for, once the
// collector's retention has removed a partition; ok is false before that.
func (s *Searcher) RetainedFrom() (time.Time, bool) {
	r, ok, err := index.ReadRetention(s.dir)
	if err != nil || !ok {
		return time.Time{}, false
	}
	return r.Oldest, true
}
