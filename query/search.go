// Package query searches the zlog index: it picks the day partitions a time
// range touches, rules out the blocks of events that cannot match by what
// each partition says about them (time range, series, word filter),
// decodes the rest, and streams the matches in time order.
package query

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers "sqlite3"
	"golang.org/x/sync/errgroup"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// Query selects events. Zero values mean "no constraint".
type Query struct {
	Words       []string // literal words and phrases, ANDed
	FTS         string   // full-text expression (FTS5 syntax: AND, OR, NOT, "phrase", prefix*), ANDed with Words
	Since       time.Time
	Until       time.Time
	Services    []string // exact service names, ORed
	TopicPrefix string   // prefix of "<service>.<level>"
	Host        string
	Labels      schema.Labels // source labels the event must all have
	MinLevel    schema.Level
	Limit       int  // 0 = no limit
	OldestFirst bool // default is newest first
	// Expr is a query in the query language, whose filter is ANDed with
	// the rest (its pipes are run by Run); Loc is the zone of its times
	// that name none (UTC when nil).
	Expr *ql.Query
	Loc  *time.Location
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
	Warn func(msg string)
	// Pool, when set, keeps the partitions' connections open for the
	// next search instead of closing them.
	Pool   *ConnPool
	warned sync.Map // path → true
}

// openPartition opens a partition read-only, from the pool when there is
// one; file is what it opened, nil without a pool.
func (s *Searcher) openPartition(path string) (db *sql.DB, file os.FileInfo, err error) {
	if s.Pool != nil {
		return s.Pool.open(path)
	}
	db, err = index.OpenReadOnly(path)
	return db, nil, err
}

// closePartition gives a partition's connection back to the pool, or
// closes it.
func (s *Searcher) closePartition(path string, db *sql.DB, file os.FileInfo) {
	if s.Pool != nil && file != nil {
		s.Pool.put(path, db, file)
		return
	}
	db.Close()
}

// skipDamaged reports whether err says the partition at path is damaged;
// then the caller skips it, and Warn hears of it once.
func (s *Searcher) skipDamaged(path string, err error) bool {
	var msg string
	switch {
	case err == nil:
		return false
	case index.IsDamaged(err):
		msg = fmt.Sprintf("skipping damaged index partition %s (%v); its events are missing from the answer, the log files still hold them", path, err)
	case errors.Is(err, index.ErrOlderSchema):
		msg = fmt.Sprintf("skipping index partition %s, in an older format: start this version's zlog-collector once to upgrade it; its events are missing from the answer until then", filepath.Base(path))
	default:
		return false
	}
	if _, seen := s.warned.LoadOrStore(path, true); !seen && s.Warn != nil {
		s.Warn(msg)
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

type plan struct {
	s        *Searcher
	q        Query
	words    wordExpr // nil: any words
	series   cond     // nil: no condition on series beyond q's
	rows     cond     // nil: no condition on each event beyond words
	rowNames []string // the fields rows reads
	lo       int64    // Since in ns
	hi       int64    // Until in ns
	parts    []index.Partition
	// msgLiteral is text every kept event's message holds (see
	// messageLiteral): rows without it are not tested
	msgLiteral string
}

// The range of event times: int64 nanoseconds since 1970.
var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

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
	words, err := buildWords(q.Words, q.FTS)
	if err != nil {
		return nil, err
	}
	p := &plan{s: s, q: q, words: words, lo: math.MinInt64, hi: math.MaxInt64}
	// Times beyond what int64 nanoseconds hold (before 1677, after
	// 2262-04-11) are clamped rather than overflowing into nonsense.
	if !q.Since.IsZero() && q.Since.After(minNano) {
		p.lo = q.Since.UnixNano()
	}
	if !q.Until.IsZero() && q.Until.Before(maxNano) {
		p.hi = q.Until.UnixNano()
	}
	if err := p.addExpr(); err != nil {
		return nil, err
	}
	if s.dir == "" { // compiled only, to match events found elsewhere (Over)
		return p, nil
	}
	all, err := index.ListPartitions(s.dir)
	if err != nil {
		return nil, err
	}
	for _, part := range all {
		if part.Day.Add(24*time.Hour).UnixNano() <= p.lo || part.Day.UnixNano() > p.hi {
			continue
		}
		p.parts = append(p.parts, part)
	}
	if !q.OldestFirst {
		slices.Reverse(p.parts)
	}
	return p, nil
}

// addExpr adds the query language's filter to the plan: its window, its
// words, its conditions on series and on events.
func (p *plan) addExpr() error {
	x := p.q.Expr
	if x == nil || x.Filter == nil {
		return nil
	}
	loc := p.q.Loc
	if loc == nil {
		loc = time.UTC
	}
	c, err := compileFilter(x.Filter, x.Src, time.Now(), loc)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadQuery, err)
	}
	p.lo, p.hi = max(p.lo, c.lo), min(p.hi, c.hi)
	if p.words != nil {
		c.words = append(c.words, p.words)
	}
	switch len(c.words) {
	case 0:
	case 1:
		p.words = c.words[0]
	default:
		p.words = andExpr(c.words)
	}
	if len(c.series) > 0 {
		p.series = andCond(c.series)
	}
	if len(c.rows) > 0 {
		p.rows = andCond(c.rows)
		p.rowNames = c.rowNames
		p.msgLiteral = p.messageLiteral()
	}
	return nil
}

// rowsRead reports whether the row conditions read the field name (the
// message, seq, …).
func (p *plan) rowsRead(name string) bool { return slices.Contains(p.rowNames, name) }

// fieldsFor is what a read of the plan's rows, and of names (a fold's),
// decodes of their fields (see fieldsToDecode): all of them for words,
// which look for themselves in every field.
func (p *plan) fieldsFor(names []string) []string {
	if p.words != nil {
		return nil
	}
	return fieldsToDecode(p.rowNames, names)
}

// labelFiltered reports whether the query filters by level, service,
// topic, host or labels.
func (p *plan) labelFiltered() bool {
	q := &p.q
	return q.MinLevel > schema.Levels()[0] || len(q.Services) > 0 || q.TopicPrefix != "" || q.Host != "" || len(q.Labels) > 0 || p.series != nil
}

// seriesOK reports whether events of a series pass the label filters:
// level, service, topic prefix, host and source labels.
func (p *plan) seriesOK(s *index.Series) bool {
	q := &p.q
	switch {
	case s.Level < q.MinLevel,
		len(q.Services) > 0 && !slices.Contains(q.Services, s.Service),
		q.TopicPrefix != "" && !strings.HasPrefix(s.Service+"."+s.Level.String(), q.TopicPrefix),
		q.Host != "" && s.Host != q.Host,
		!s.Labels.Contains(q.Labels):
		return false
	}
	return p.series == nil || p.series.eval(&evalCtx{s: s, parsed: true})
}

// Count returns the number of matching events (Limit is ignored). A block
// wholly inside the window is counted from its summary when it can be:
// without words, from its events per series; for one word, from its
// filter's exact count of the word, when every event of the block passes
// the label filters. The other blocks are decoded, one per core at once.
func (s *Searcher) Count(ctx context.Context, q Query) (int64, error) {
	p, err := s.plan(q)
	if err != nil {
		return 0, err
	}
	counts := make([]partCount, len(p.parts))
	defer func() {
		for _, c := range counts {
			if c.r != nil {
				c.r.close()
			}
		}
	}()
	// Partitions are summed up at once, one per core: most of a count over
	// a day is reading what the blocks say.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, part := range p.parts {
		g.Go(func() error {
			err := counts[i].summarise(gctx, p, part)
			if s.skipDamaged(part.Path, err) {
				counts[i].total, counts[i].todo = 0, nil // warned: its events are missing from the count
				return nil
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	var total int64
	var todo []countJob
	for _, c := range counts {
		total += c.total
		todo = append(todo, c.todo...)
	}
	n, err := countDecoded(ctx, todo)
	return total + n, err
}

type countJob struct {
	r *partReader
	b index.BlockMeta
	// noHead: what reads the rows (the plan's words and row conditions,
	// a fold) asks for messages and fields only, none of which is a label
	// of the partition's series, so a block wholly in the window with
	// every series wanted is read without its head (a fifth of a count
	// of a field comparison, measured).
	noHead bool
}

// partCount is one partition's share of a count: what the block summaries
// say, and the blocks left to decode.
type partCount struct {
	r     *partReader
	total int64
	todo  []countJob
}

func (c *partCount) summarise(ctx context.Context, p *plan, part index.Partition) error {
	r, err := p.openPart(ctx, part)
	if err != nil || r == nil {
		return err
	}
	c.r = r
	if p.words != nil && p.rows == nil {
		return c.summariseWords(ctx)
	}
	blocks, err := r.blocks(ctx)
	if err != nil {
		return err
	}
	noHead := readsNoHead(r, p.rowNames)
	for _, b := range blocks {
		if n, ok := r.countFromSummary(&b); ok {
			c.total += n
			continue
		}
		c.todo = append(c.todo, countJob{r: r, b: b, noHead: noHead})
	}
	return nil
}

// summariseWords counts what the blocks' filters know of the words. When
// they are one whole word, blocks wholly in the window, all of whose
// events pass the label filters, that keep an exact count of it (those
// where it is in 1/32 of the rows or more) are counted from it: a common
// word by one walk over the window's blocks and counts, a rarer one by
// reading only the counts of the blocks its bloom filters let through.
// The rest is left to decode.
func (c *partCount) summariseWords(ctx context.Context) error {
	r := c.r
	candidates, total, err := r.wordCandidates(ctx)
	if err != nil || len(candidates) == 0 {
		return err
	}
	w, single := r.p.singleWord()
	walked := single && len(candidates)*4 > total
	if walked {
		counted, err := c.countWord(ctx, w)
		if err != nil {
			return err
		}
		for id := range counted {
			delete(candidates, id)
		}
	}
	blocks, err := r.candidateBlocks(ctx, candidates, total)
	if err != nil {
		return err
	}
	var exact map[int64]uint32
	if single && !walked {
		if exact, err = r.wordCounts(ctx, blocks, w); err != nil {
			return err
		}
	}
	noHead := readsNoHead(r, r.p.rowNames)
	for _, b := range blocks {
		if n, ok := exact[b.ID]; ok {
			c.total += int64(n)
			continue
		}
		c.todo = append(c.todo, countJob{r: r, b: b, noHead: noHead})
	}
	return nil
}

// singleWord is the one whole word the words are, if they are.
func (p *plan) singleWord() (string, bool) {
	if ph, ok := p.words.(*phrase); ok {
		return ph.single()
	}
	return "", false
}

// countWord adds up the exact counts of w of the window's blocks that keep
// one, wholly in the window and all of whose events pass the label
// filters, in one walk over the blocks and their counts; it returns the
// blocks it counted.
func (c *partCount) countWord(ctx context.Context, w string) (map[int64]bool, error) {
	r := c.r
	counted := make(map[int64]bool)
	var bad error
	err := index.EachBlockCounts(ctx, r.db, r.p.lo, r.p.hi, !r.all, func(b *index.BlockMeta, counts block.Counts) {
		if !r.inside(b) {
			return
		}
		if all, err := r.allWanted(b); err != nil || !all {
			bad = cmp.Or(bad, err)
			return
		}
		if n, ok := counts.Rows(w); ok {
			c.total += int64(n)
			counted[b.ID] = true
		}
	})
	if err = cmp.Or(err, bad); err != nil {
		return nil, r.p.wrapErr(r.path, err)
	}
	return counted, nil
}

// wordCounts are the exact counts of w that blocks keep, of those wholly
// in the window all of whose events pass the label filters.
func (r *partReader) wordCounts(ctx context.Context, blocks []index.BlockMeta, w string) (map[int64]uint32, error) {
	var ids []int64
	for i := range blocks {
		if all, err := r.allWanted(&blocks[i]); err == nil && all && r.inside(&blocks[i]) {
			ids = append(ids, blocks[i].ID)
		}
	}
	exact := make(map[int64]uint32)
	if len(ids) == 0 {
		return exact, nil
	}
	err := index.EachCountsByID(ctx, r.db, ids, func(id int64, counts block.Counts) {
		if n, ok := counts.Rows(w); ok {
			exact[id] = n
		}
	})
	if err != nil {
		return nil, r.p.wrapErr(r.path, err)
	}
	return exact, nil
}

// countFromSummary counts a block without words wholly in the window from
// its series summary.
func (r *partReader) countFromSummary(b *index.BlockMeta) (int64, bool) {
	if !r.inside(b) || r.p.words != nil || r.p.rows != nil {
		return 0, false
	}
	if r.all {
		return int64(b.Rows), true
	}
	var n int64
	if err := b.EachSeries(func(s block.Series) bool {
		if r.want.has(s.ID) {
			n += int64(s.Rows)
		}
		return true
	}); err != nil {
		return 0, false // decoding the block says what is wrong
	}
	return n, true
}

// countDecoded decodes the jobs' blocks and counts their matching rows.
// A block that countByColumn can count is counted so.
func countDecoded(ctx context.Context, jobs []countJob) (int64, error) {
	counts := make([]int64, workersFor(jobs))
	err := eachJob(ctx, jobs, nil, func(ctx context.Context, w int, jw *jobWorker, j *countJob) error {
		n, ok, err := jw.countByColumn(ctx, j)
		if !ok && err == nil {
			var rows []block.Row
			rows, err = jw.matching(ctx, j, textNone, false)
			n = int64(len(rows))
		}
		counts[w] += n
		return err
	})
	var n int64
	for _, c := range counts {
		n += c
	}
	return n, err
}

// eachMatching decodes the jobs' blocks (see eachJob) and hands each
// block's matching rows to fn from its worker, with at least the text
// need asks for decoded (of the fields, those the plan and names read),
// and their seqs with seqs. A damaged block is skipped (Warn hears of
// it). The rows and their strings live in the worker's memory, reused
// for its next block: fn copies what it keeps (see kept).
func eachMatching(ctx context.Context, jobs []countJob, need textNeed, names []string, seqs bool, fn func(w int, j *countJob, rows []block.Row) error) error {
	return eachJob(ctx, jobs, names, func(ctx context.Context, w int, jw *jobWorker, j *countJob) error {
		rows, err := jw.matching(ctx, j, need, seqs)
		if err != nil {
			return err
		}
		return fn(w, j, rows)
	})
}

func workersFor(jobs []countJob) int { return max(min(runtime.GOMAXPROCS(0), len(jobs)), 1) }

// eachJob runs fn on each job, one worker per core (worker w of
// GOMAXPROCS, or of the jobs when fewer), each with its own codec and
// memory; names are the fields fn reads beyond the plan's (a fold's).
func eachJob(ctx context.Context, jobs []countJob, names []string, fn func(ctx context.Context, w int, jw *jobWorker, j *countJob) error) error {
	workers := workersFor(jobs)
	g, gctx := errgroup.WithContext(ctx)
	for w := range workers {
		g.Go(func() error {
			c, err := block.NewCodec()
			if err != nil {
				return err
			}
			c.Borrow() // a worker is done with a block's rows before the next: see eachMatching
			jw := &jobWorker{c: c, names: names}
			defer jw.close()
			for i := w; i < len(jobs); i += workers {
				if workers > 1 && len(jobs) >= ownReaderJobs {
					jw.sc.sealed = jw.sealedReader(gctx, jobs[i].r)
				}
				if err := fn(gctx, w, jw, &jobs[i]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// jobWorker is one worker of eachJob: its codec and memory, reused for
// every block, and what it decodes of the fields for the plan it last
// read.
type jobWorker struct {
	// sealed are the worker's own readers of each partition's sealed
	// blocks (nil where one could not be opened: the blocks are read
	// through the partition's transaction).
	sealed map[*partReader]workerReader
	c      *block.Codec
	in     []bool // rowsIn's, reused
	d      doc
	sc     scratch
	names  []string
	p      *plan
	only   []string
}

// ownReaderJobs is how many blocks a query reads before its workers open
// readers of their own (index.SealedReader): opening one costs about as
// much as reading a few blocks.
var ownReaderJobs = 32

// sealedReader is the worker's own reader of r's sealed blocks, opened
// at its first use; nil when it cannot be opened.
func (jw *jobWorker) sealedReader(ctx context.Context, r *partReader) *index.SealedReader {
	if s, ok := jw.sealed[r]; ok {
		return s.r
	}
	if jw.sealed == nil {
		jw.sealed = map[*partReader]workerReader{}
	}
	var s workerReader
	var err error
	if pool := r.p.s.Pool; pool != nil {
		s.r, s.file, err = pool.openSealed(ctx, r.path)
		s.pool = pool
	} else {
		s.r, err = index.OpenSealedReader(ctx, r.path, false)
	}
	if err != nil {
		s = workerReader{} // the partition's transaction reads every block
	}
	s.path = r.path
	jw.sealed[r] = s
	return s.r
}

// workerReader is a worker's reader of a partition's sealed blocks, and
// the pool it goes back to.
type workerReader struct {
	r    *index.SealedReader
	path string
	file os.FileInfo
	pool *ConnPool
}

func (jw *jobWorker) close() {
	for _, s := range jw.sealed {
		switch {
		case s.r == nil:
		case s.pool != nil:
			s.pool.putSealed(s.path, s.r, s.file)
		default:
			s.r.Close()
		}
	}
}

// matching is the rows of j's block that match its plan; none, and no
// error, for a damaged block, which is skipped (Warn hears of it).
func (jw *jobWorker) matching(ctx context.Context, j *countJob, need textNeed, seqs bool) ([]block.Row, error) {
	if j.r.p != jw.p {
		jw.p, jw.only = j.r.p, j.r.p.fieldsFor(jw.names)
	}
	var rows []block.Row
	var err error
	if j.noHead && j.r.headless(&j.b) {
		if rows, err = j.r.headlessRows(ctx, &j.b, jw.c, max(need, jw.p.textNeed()), jw.only, &jw.sc); err == nil {
			rows = j.r.headlessMatching(rows, &jw.d)
		}
	} else {
		rows, err = j.r.matchingIn(ctx, &j.b, jw.c, &jw.d, need, jw.only, seqs, &jw.sc)
	}
	if j.r.p.s.skipDamaged(j.r.path, err) {
		return nil, nil // warned: the block's events are missing from the answer
	}
	return rows, err
}

// countByColumn counts the rows of j's block that pass its plan when the
// plan is one comparison of a stored field with a number: it reads that
// field's column alone, with no row made (a count of duration_ms:>500
// over an hour spent most of its time making and testing rows,
// measured), and of a block not wholly in the window, or with series not
// wanted, the times and series of its head. ok is false when it cannot:
// for other plans, blocks whose fields are not columns, and escaped
// strings.
func (jw *jobWorker) countByColumn(ctx context.Context, j *countJob) (n int64, ok bool, err error) {
	fc, numeric := j.r.p.numericCond()
	if !numeric || !j.noHead {
		return 0, false, nil
	}
	col, ok, err := jw.column(ctx, j, fc.field)
	var in []bool
	if ok && err == nil && !j.r.headless(&j.b) {
		_, in, err = jw.times(j)
	}
	if j.r.p.s.skipDamaged(j.r.path, err) {
		return 0, true, nil // warned: the block's events are missing from the answer
	}
	if !ok || err != nil {
		return 0, false, err
	}
	n, ok = countColumn(fc, &col, j.b.Rows, in)
	return n, ok, nil
}

// times decodes the times and series of j's block, whose data
// jw.column read, and says which rows are in the plan's window and of a
// wanted series: in is nil when all are.
func (jw *jobWorker) times(j *countJob) (rows []block.Row, in []bool, err error) {
	rows, err = jw.c.DecodeTimesInto(jw.sc.data, jw.sc.rows)
	if err != nil {
		return nil, nil, j.r.p.wrapErr(j.r.path, fmt.Errorf("block %d: %w", j.b.ID, err))
	}
	if len(rows) != j.b.Rows {
		return nil, nil, j.r.p.wrapErr(j.r.path, fmt.Errorf("block %d: %w: %d rows, listed with %d", j.b.ID, block.ErrCorrupt, len(rows), j.b.Rows))
	}
	jw.sc.rows = rows
	if j.r.headless(&j.b) {
		return rows, nil, nil
	}
	in = jw.in[:0]
	for k := range rows {
		row := &rows[k]
		in = append(in, row.Time >= j.r.p.lo && row.Time <= j.r.p.hi && j.r.wanted(row.Series))
	}
	jw.in = in
	return rows, in, nil
}

// column reads one field's column of j's block (see block.DecodeColumn).
func (jw *jobWorker) column(ctx context.Context, j *countJob, name string) (block.Column, bool, error) {
	if err := j.r.appendBlock(ctx, &j.b, false, &jw.sc); err != nil {
		return block.Column{}, false, err
	}
	col, ok, err := jw.c.DecodeColumn(jw.sc.data, j.b.Rows, name)
	if err != nil {
		return block.Column{}, false, j.r.p.wrapErr(j.r.path, fmt.Errorf("block %d: %w", j.b.ID, err))
	}
	return col, ok, nil
}

// countColumn counts the rows of a block of count rows that pass fc, a
// comparison with a number, from its field's column, as fc.eval would;
// only the rows in lets through, when it is not nil.
func countColumn(fc fieldCond, col *block.Column, count int, in []bool) (n int64, ok bool) {
	if col.Kind == block.ColumnString {
		return 0, false
	}
	kept := func(rows []uint32, k int) bool { return in == nil || in[rows[k]] }
	for k, v := range col.Ints {
		if kept(col.Rows, k) && fc.num(float64(v)) {
			n++
		}
	}
	for k, tok := range col.Texts {
		x, isNumber, plain := tokenNumber(tok)
		if !plain {
			return 0, false
		}
		if kept(col.Rows, k) && isNumber && fc.num(x) {
			n++
		}
	}
	var ec evalCtx // one for all rows: it escapes
	for k, raw := range col.Whole {
		if ec = (evalCtx{raw: raw}); kept(col.WholeRows, k) && fc.eval(&ec) {
			n++
		}
	}
	if fc.absent {
		n += int64(countIn(in, count) - keptOf(in, col.Rows) - keptOf(in, col.WholeRows))
	}
	return n, true
}

// countIn is how many of a block's count rows in lets through: all when
// it is nil.
func countIn(in []bool, count int) int {
	if in == nil {
		return count
	}
	n := 0
	for _, ok := range in {
		if ok {
			n++
		}
	}
	return n
}

// keptOf is how many of rows in lets through: all when it is nil.
func keptOf(in []bool, rows []uint32) int {
	if in == nil {
		return len(rows)
	}
	n := 0
	for _, r := range rows {
		if in[r] {
			n++
		}
	}
	return n
}

// numericCond is the plan's row condition when it is its only condition
// beyond the window and the series, and a comparison of a stored field
// with a number (see fieldCond.num).
func (p *plan) numericCond() (fieldCond, bool) {
	and, ok := p.rows.(andCond)
	if p.words != nil || !ok || len(and) != 1 {
		return fieldCond{}, false
	}
	fc, ok := and[0].(fieldCond)
	return fc, ok && fc.num != nil
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
	r         *partReader
	part      *partIter
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
		if it.part == nil {
			if it.next >= len(it.plan.parts) {
				return false
			}
			it.next++
			if it.err = it.openPart(it.plan.parts[it.next-1]); it.err != nil {
				return false
			}
			continue
		}
		row, ok, err := it.part.next(it.ctx)
		if err != nil {
			if it.plan.s.skipDamaged(it.r.path, err) {
				it.closePart()
				continue
			}
			it.err = err
			return false
		}
		if !ok {
			it.closePart()
			continue
		}
		if it.cur, it.err = it.r.event(it.ctx, &row); it.err != nil {
			return false
		}
		if it.plan.q.Limit > 0 {
			it.remaining--
		}
		return true
	}
}

func (it *iterator) openPart(part index.Partition) error {
	r, err := it.plan.openPart(it.ctx, part)
	if err != nil || r == nil {
		return err
	}
	pi, err := newPartIter(it.ctx, r)
	if err != nil {
		r.close()
		if it.plan.s.skipDamaged(part.Path, err) {
			return nil
		}
		return err
	}
	it.r, it.part = r, pi
	return nil
}

func (it *iterator) closePart() {
	if it.part != nil {
		it.part.close()
	}
	if it.r != nil {
		it.r.close()
	}
	it.r, it.part = nil, nil
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
