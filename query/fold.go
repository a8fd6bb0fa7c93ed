package query

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// folder is a pipe that folds events in any order (stats, top, uniq): as
// the first pipe, it reads the matches of several blocks at once, each
// worker into its own fold, and only the fields it asks for.
type folder interface {
	step
	fields() []string
	newFold() fold
}

// fold adds up events, each seen through get (a field's value by name,
// as filters look them up), so that a row need not become a record.
type fold interface {
	add(get getter)
	merge(other fold)
	records() ([]record, []string)
	held() int // groups and distinct values held, which maxHeld bounds
}

type getter func(name string) (any, bool)

// timedFold is a fold that takes an event's time apart from its getter.
type timedFold interface {
	addAt(get getter, timeNs int64)
}

// bareSkipper is a fold that an event holding none of the fields it
// names leaves as it was (top, uniq): a worker passes over the rows with
// no fields of blocks it reads for their fields alone (seven in eight
// events of the bench's workload, whose getters were a tenth of a top by
// user, measured).
type bareSkipper interface{ skipsBare() bool }

// rawFold is a fold that can read an event's stored fields (JSON) itself,
// for a fold of fields alone: with no getter, and no value made unless
// it is new (a tenth of a top by user each, measured). ok is false when
// it cannot, and the event goes to add.
type rawFold interface{ addRaw(fields string) (ok bool) }

// columnFold is a fold of one stored field that can take a block's
// column of it (block.Column) instead of its rows: no row is made, and no
// fields text joined and scanned again (measured: a tenth of a top by
// user). columnField is that field, "" when it has none; addColumn
// reports false, having added nothing, for values it leaves to rows.
type columnFold interface {
	columnField() string
	addColumn(col *block.Column) (ok bool)
}

func skipsBare(f fold) bool {
	b, ok := f.(bareSkipper)
	return ok && b.skipsBare()
}

// foldAll is a folder's apply: its fold over records already made.
func foldAll(f folder, in []record) ([]record, []string) {
	fo := f.newFold()
	for _, r := range in {
		fo.add(recordGetter(r))
	}
	return fo.records()
}

// foldEvents folds every match of q, decoding its blocks one worker per
// core, each worker with its own fold; then the folds are merged.
func (s *Searcher) foldEvents(ctx context.Context, q Query, f folder) ([]record, []string, error) {
	p, err := s.plan(q)
	if err != nil {
		return nil, nil, err
	}
	var jobs []countJob
	var readers []*partReader
	defer func() {
		for _, r := range readers {
			r.close()
		}
	}()
	for _, part := range p.parts {
		r, err := p.openPart(ctx, part)
		if r != nil {
			readers = append(readers, r)
		}
		noHead := false
		if err == nil && r != nil {
			noHead, err = r.prepareFold(ctx, f)
		}
		var blocks []index.BlockMeta
		if err == nil && r != nil {
			blocks, err = r.blocks(ctx)
		}
		if s.skipDamaged(part.Path, err) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, b := range blocks {
			jobs = append(jobs, countJob{r: r, b: b, noHead: noHead})
		}
	}
	folds, err := foldJobs(ctx, jobs, f)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range folds[1:] {
		folds[0].merge(o)
	}
	if err := checkHeld(folds[0]); err != nil {
		return nil, nil, err
	}
	out, cols := folds[0].records()
	if r, ok := folds[0].(releaser); ok {
		r.release()
	}
	return out, cols, nil
}

// releaser is a fold holding memory outside the Go heap, which it gives
// back when its records are made and it is done with.
type releaser interface{ release() }

// prepareFold reads what a fold of r's rows needs of its series: every
// series, unless the fold and the plan's conditions read messages and
// fields alone (noHead), when none are.
func (r *partReader) prepareFold(ctx context.Context, f folder) (noHead bool, err error) {
	if err := r.readLabelKeys(ctx); err != nil {
		return false, err
	}
	noHead = readsNoHead(r, f.fields()) && readsNoHead(r, r.p.rowNames)
	if !noHead && r.all {
		err = r.readSeries(ctx, true) // workers read series: all are read first
	}
	return noHead, err
}

func foldJobs(ctx context.Context, jobs []countJob, f folder) ([]fold, error) {
	workers := make([]*foldWorker, max(min(runtime.GOMAXPROCS(0), len(jobs)), 1))
	for w := range workers {
		workers[w] = newFoldWorker(f.newFold())
	}
	need := textFields // a fold reads the fields it names, rarely the message
	if slices.Contains(f.fields(), ql.Message) {
		need = textAll
	}
	// A fold of fields alone over a block read without its head reads
	// its rows' fields and nothing else.
	fieldsOnly := !slices.Contains(f.fields(), ql.Message)
	seqs := slices.Contains(f.fields(), seqField)
	err := eachJob(ctx, jobs, f.fields(), func(ctx context.Context, w int, jw *jobWorker, j *countJob) error {
		fw := workers[w]
		add := fw.addColumnOf
		if fw.timedColumn != nil {
			add = fw.addTimedColumnOf
		}
		if ok, err := add(ctx, jw, j); ok || err != nil {
			return errors.Join(err, checkHeld(fw.fold))
		}
		rows, err := jw.matching(ctx, j, need, seqs)
		if err != nil {
			return err
		}
		fw.addRows(j, rows, j.noHead && fieldsOnly)
		return checkHeld(fw.fold)
	})
	folds := make([]fold, len(workers))
	for w, fw := range workers {
		folds[w] = fw.fold
	}
	return folds, err
}

// foldWorker is one worker's fold and the event its getter reads.
type foldWorker struct {
	fold  fold
	ev    evalCtx
	get   getter
	timed timedFold // the fold, when it takes times apart
	raw   rawFold   // the fold, when it reads stored fields itself
	bare  bool      // the fold skips events without its fields
	// column is the fold when it takes a column, of field; timedColumn
	// when it takes one with the rows' times
	column      columnFold
	timedColumn timedColumnFold
	field       string
}

func newFoldWorker(f fold) *foldWorker {
	fw := &foldWorker{fold: f, bare: skipsBare(f)}
	fw.timed, _ = f.(timedFold)
	fw.raw, _ = f.(rawFold)
	if fw.column, _ = f.(columnFold); fw.column != nil {
		fw.field = fw.column.columnField()
	}
	if fw.timedColumn, _ = f.(timedColumnFold); fw.timedColumn != nil {
		fw.field = fw.timedColumn.columnField()
	}
	fw.get = func(name string) (any, bool) {
		switch name {
		case ql.Time:
			return time.Unix(0, fw.ev.time).UTC(), true
		case allFields:
			return fw.ev.allFields(), true
		}
		return fw.ev.value(name)
	}
	return fw
}

// addRows adds a block's matching rows; with fieldsOnly, what the fold
// reads is the rows' fields alone.
func (fw *foldWorker) addRows(j *countJob, rows []block.Row, fieldsOnly bool) {
	var s *index.Series // rows of a series come in runs: one lookup a run
	last := int64(-1)
	for k := range rows {
		row := &rows[k]
		if fieldsOnly {
			if fw.bare && row.Fields == "" {
				continue
			}
			if fw.raw != nil && fw.raw.addRaw(row.Fields) {
				continue
			}
		}
		if row.Series != last && !j.noHead {
			s, last = j.r.byID.get(row.Series), row.Series
		}
		fw.ev = evalCtx{s: s, time: row.Time, seq: row.Seq, msg: row.Message, raw: row.Fields}
		if fw.timed != nil {
			fw.timed.addAt(fw.get, row.Time)
		} else {
			fw.fold.add(fw.get)
		}
	}
}

// addColumnOf adds the column of the fold's field of j's block, when the
// block is wholly in the window with every series wanted and the plan
// has no condition beyond them: ok is false when it cannot (then the
// block's rows are to be added). Its fields stored whole are added
// one by one.
func (fw *foldWorker) addColumnOf(ctx context.Context, jw *jobWorker, j *countJob) (ok bool, err error) {
	p := j.r.p
	if fw.field == "" || !fw.bare || fw.raw == nil || p.rows != nil || p.words != nil || !j.noHead || !j.r.headless(&j.b) {
		return false, nil
	}
	col, ok, err := jw.column(ctx, j, fw.field)
	if p.s.skipDamaged(j.r.path, err) {
		return true, nil // warned: the block's events are missing from the answer
	}
	if err != nil || !ok || !fw.column.addColumn(&col) {
		return false, err
	}
	for _, raw := range col.Whole {
		if !fw.raw.addRaw(raw) {
			fw.ev = evalCtx{raw: raw}
			fw.fold.add(fw.get)
		}
	}
	return true, nil
}

// addTimedColumnOf adds the times and the column of the fold's field of
// j's block, when the plan has no condition beyond the window and the
// series: ok is false when it cannot (then the block's rows are to be
// added).
func (fw *foldWorker) addTimedColumnOf(ctx context.Context, jw *jobWorker, j *countJob) (ok bool, err error) {
	p := j.r.p
	if fw.field == "" || p.rows != nil || p.words != nil || !readsFieldsAlone(j.r, []string{fw.field}) {
		return false, nil
	}
	col, ok, err := jw.column(ctx, j, fw.field)
	var rows []block.Row
	var in []bool
	if ok && err == nil {
		rows, in, err = jw.times(j)
	}
	if p.s.skipDamaged(j.r.path, err) {
		return true, nil // warned: the block's events are missing from the answer
	}
	if err != nil || !ok {
		return false, err
	}
	return fw.timedColumn.addTimedColumn(rows, in, &col), nil
}

// maxHeld bounds the groups (and distinct values of count_uniq) a fold
// holds: past it the query is refused, rather than a top by request id
// over ten million events exhausting the collector's or logq's memory.
var maxHeld = 2_000_000

func checkHeld(f fold) error {
	if n := f.held(); n > maxHeld {
		return fmt.Errorf("%w: the query holds more than %d groups or distinct values for its pipes (stats, top, uniq); narrow the time or the filter, or group by a field with fewer values", ErrBadQuery, maxHeld)
	}
	return nil
}

// readsFieldsAlone reports whether names are all fields of the events
// themselves: no built-in, and no label of any of r's series (a label
// answers for an event without the field, and needs its series); r has
// read its label keys.
func readsFieldsAlone(r *partReader, names []string) bool {
	return !slices.ContainsFunc(names, func(n string) bool { return n == allFields || shadowsFields(n) || r.labelKeys[n] })
}

// readsNoHead reports whether names are all the message or fields of the
// events themselves (see readsFieldsAlone): what a block's head holds
// (times, series, seqs) is not among them.
func readsNoHead(r *partReader, names []string) bool {
	return readsFieldsAlone(r, slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == ql.Message }))
}

// recordGetter sees a record as a fold sees an event; allFields is what
// is not a built-in column (its fields and labels).
func recordGetter(r record) getter {
	return func(name string) (any, bool) {
		if name == allFields {
			f := schema.Fields{}
			for k, v := range r {
				if !slices.Contains(eventColumns, k) {
					f[k] = v
				}
			}
			return f, true
		}
		v, ok := r[name]
		return v, ok
	}
}
