package query

import (
	"cmp"
	"container/heap"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// partReader reads one partition's blocks for a plan: it knows which of
// the partition's series the plan's label filters let through, rules
// blocks out by their series and word filters, and decodes the rest.
type partReader struct {
	p      *plan
	path   string
	conn   *sql.DB
	file   os.FileInfo            // what conn opened, for Searcher.Pool
	db     *sql.Tx                // one read transaction: every read sees one snapshot
	series map[int64]index.Series // all of them when filtered; else those read so far
	// byID points at the series readSeries read: what workers look rows'
	// series up in (a copy per row would be an allocation per row).
	byID  seriesMap[*index.Series]
	all   bool      // no label filter: every series is wanted
	want  seriesSet // with label filters, the series they let through
	codec *block.Codec
	doc   doc
	err   error // the first error of a probe, which answers "may match"
	// labelKeys are the names of the labels of the partition's series,
	// once readLabelKeys read them.
	labelKeys map[string]bool
}

// openPart opens a partition for p; nil (and no error) when nothing in it
// can match, when it is not initialised yet, or when it is damaged (Warn
// hears of that). Without label filters it reads no series until events
// are made of rows: a partition may have thousands.
func (p *plan) openPart(ctx context.Context, part index.Partition) (*partReader, error) {
	db, file, err := p.s.openPartition(part.Path)
	if errors.Is(err, index.ErrNotReady) || p.s.skipDamaged(part.Path, err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := &partReader{p: p, path: part.Path, conn: db, file: file, all: !p.labelFiltered(), series: make(map[int64]index.Series)}
	// The collector merges and seals blocks as it writes: what a reader
	// lists must be what it then reads, so it reads in one transaction.
	// It lives until close, past the context that opened it (a count
	// opens partitions in an errgroup and decodes after it is done).
	if r.db, err = db.BeginTx(context.WithoutCancel(ctx), &sql.TxOptions{ReadOnly: true}); err != nil {
		db.Close()
		return nil, p.wrapErr(part.Path, err)
	}
	if r.codec, err = block.NewCodec(); err != nil {
		return r.fail(err)
	}
	if r.all && p.rows == nil {
		return r, nil
	}
	if err := r.readLabelKeys(ctx); err != nil {
		return r.fail(err)
	}
	if r.all && !r.namesSeries(p.rowNames) {
		return r, nil // reading the series was most of a short count (measured)
	}
	// Conditions on events read the series of each row, maybe from several
	// workers at once: all are read first.
	if err := r.readSeries(ctx, r.all); err != nil {
		return r.fail(err)
	}
	if r.want.len() == 0 {
		r.close()
		return nil, nil
	}
	return r, nil
}

// readSeries reads the series the label filters may let through (all of
// them with everySeries), and which of them they do (after which all is
// false). The level and services narrow what is read; seriesOK decides.
func (r *partReader) readSeries(ctx context.Context, everySeries bool) error {
	minLevel, services := r.p.q.MinLevel, r.p.q.Services
	if everySeries {
		minLevel, services = 0, nil
	}
	var err error
	if r.series, err = index.ReadSeries(ctx, r.db, minLevel, services); err != nil {
		return err
	}
	r.all, r.want = false, seriesSet{}
	r.byID = seriesMap[*index.Series]{}
	for id, s := range r.series {
		if r.p.seriesOK(&s) {
			r.want.add(id)
		}
		r.byID.set(id, &s)
	}
	return nil
}

// readLabelKeys reads the names of the partition's labels, once.
func (r *partReader) readLabelKeys(ctx context.Context) error {
	if r.labelKeys != nil {
		return nil
	}
	keys, err := index.ReadLabelKeys(ctx, r.db)
	if err != nil {
		return r.p.wrapErr(r.path, err)
	}
	r.labelKeys = keys
	return nil
}

// namesSeries reports whether any of names is answered by an event's
// series: a built-in of series or a label (see readLabelKeys).
func (r *partReader) namesSeries(names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return seriesFields[n] || r.labelKeys[n] })
}

func (r *partReader) fail(err error) (*partReader, error) {
	r.close()
	if r.p.s.skipDamaged(r.path, err) {
		return nil, nil
	}
	return nil, r.p.wrapErr(r.path, err)
}

func (r *partReader) close() {
	r.db.Rollback() // read only: nothing to keep
	r.p.s.closePartition(r.path, r.conn, r.file)
}

func (r *partReader) wanted(series int64) bool { return r.all || r.want.has(series) }

// seriesOf returns a series, reading it once.
func (r *partReader) seriesOf(ctx context.Context, id int64) (index.Series, error) {
	if s, ok := r.series[id]; ok {
		return s, nil
	}
	s, err := index.ReadSeriesByID(ctx, r.db, id)
	if err != nil {
		return s, r.p.wrapErr(r.path, err)
	}
	r.series[id] = s
	return s, nil
}

// blocks are the partition's blocks in the plan's window that may hold a
// match, newest first.
func (r *partReader) blocks(ctx context.Context) ([]index.BlockMeta, error) {
	if r.p.words != nil {
		return r.blocksWithWords(ctx)
	}
	all, err := index.ReadBlocks(ctx, r.db, r.p.lo, r.p.hi, r.services(), !r.all)
	if err != nil {
		return nil, r.p.wrapErr(r.path, err)
	}
	return r.wantedBlocks(all)
}

// services are the services of the series the label filters let through;
// nil for all.
func (r *partReader) services() []string {
	if r.all {
		return nil
	}
	services := map[string]bool{}
	for id := range r.want.ids {
		services[r.series[id].Service] = true
	}
	return slices.Sorted(maps.Keys(services))
}

// wantedBlocks keeps the blocks with a series the label filters let
// through.
func (r *partReader) wantedBlocks(all []index.BlockMeta) ([]index.BlockMeta, error) {
	out := all[:0]
	for _, b := range all {
		if ok, err := r.anyWanted(&b); err != nil {
			return nil, r.p.wrapErr(r.path, err)
		} else if ok {
			out = append(out, b)
		}
	}
	return out, nil
}

// blocksWithWords finds the blocks in the window whose bloom filters let
// the words through and that hold a wanted series.
func (r *partReader) blocksWithWords(ctx context.Context) ([]index.BlockMeta, error) {
	candidates, total, err := r.wordCandidates(ctx)
	if err != nil {
		return nil, err
	}
	return r.candidateBlocks(ctx, candidates, total)
}

// wordCandidates asks the bloom filters of the window's blocks about the
// words: grouped filters a line per filter size per group, the others one
// by one. It returns the blocks that may match, and how many were asked.
func (r *partReader) wordCandidates(ctx context.Context) (map[int64]bool, int, error) {
	groups, err := index.ReadGroups(ctx, r.db, r.p.lo, r.p.hi)
	if err != nil {
		return nil, 0, r.p.wrapErr(r.path, err)
	}
	// The lines of every word the filters may be asked about are read in
	// one statement.
	var hashes []uint64
	r.p.words.filterWords(func(w string) {
		if h := block.HashWord(w); !slices.Contains(hashes, h) {
			hashes = append(hashes, h)
		}
	})
	if err := index.LoadLines(ctx, r.db, groups, hashes); err != nil {
		return nil, 0, r.p.wrapErr(r.path, err)
	}
	candidates := make(map[int64]bool)
	total := 0
	for _, g := range groups {
		for i, m := range g.Members {
			total++
			if r.p.words.mayMatch(groupProbe{ctx, r, g, i}) {
				candidates[m.ID] = true
			}
		}
	}
	if err := index.EachUngroupedLines(ctx, r.db, r.p.lo, r.p.hi, hashes, func(id int64, p block.Probe) {
		total++
		if r.p.words.mayMatch(p) {
			candidates[id] = true
		}
	}); err != nil {
		return nil, 0, r.p.wrapErr(r.path, err)
	}
	return candidates, total, r.err
}

// candidateBlocks reads the candidates' rows (by id, unless they are a
// good part of the window's total: common words, where one walk over the
// window is cheaper) and keeps those in the window with a wanted series.
// (A group's members may lie outside the window that the group meets.)
func (r *partReader) candidateBlocks(ctx context.Context, candidates map[int64]bool, total int) ([]index.BlockMeta, error) {
	if len(candidates) == 0 {
		return nil, nil
	}
	var blocks []index.BlockMeta
	var err error
	if len(candidates)*4 > total {
		blocks, err = index.ReadBlocks(ctx, r.db, r.p.lo, r.p.hi, r.services(), !r.all)
	} else {
		blocks, err = index.ReadBlocksByID(ctx, r.db, slices.Collect(maps.Keys(candidates)), !r.all)
	}
	if err != nil {
		return nil, r.p.wrapErr(r.path, err)
	}
	blocks = slices.DeleteFunc(blocks, func(b index.BlockMeta) bool {
		return !candidates[b.ID] || b.MaxTime < r.p.lo || b.MinTime > r.p.hi
	})
	return r.wantedBlocks(blocks)
}

// groupProbe asks a filter group about one member's words.
type groupProbe struct {
	ctx context.Context
	r   *partReader
	g   *index.Group
	i   int
}

func (p groupProbe) MayContain(w string) bool {
	ok, err := p.g.MayContain(p.ctx, p.r.db, p.i, block.HashWord(w))
	if err != nil && p.r.err == nil {
		p.r.err = err
	}
	return ok
}

func (r *partReader) anyWanted(b *index.BlockMeta) (bool, error) {
	if r.all {
		return true, nil
	}
	found := false
	err := b.EachSeries(func(s block.Series) bool {
		found = r.want.has(s.ID)
		return !found
	})
	return found, err
}

func (r *partReader) allWanted(b *index.BlockMeta) (bool, error) {
	if r.all {
		return true, nil
	}
	all := true
	err := b.EachSeries(func(s block.Series) bool {
		all = r.want.has(s.ID)
		return all
	})
	return all && err == nil, err
}

// inside reports whether the whole block lies in the plan's window.
func (r *partReader) inside(b *index.BlockMeta) bool {
	return b.MinTime >= r.p.lo && b.MaxTime <= r.p.hi
}

// textNeed is how much of a block's text is decoded: none (times, series
// and seqs only), the fields, or the messages and fields.
type textNeed int

const (
	textNone textNeed = iota
	textFields
	textAll
)

// textNeed is what the plan's own matching reads: words read messages and
// fields; row conditions what they name.
func (p *plan) textNeed() textNeed {
	switch {
	case p.words != nil || p.rowsRead(ql.Message):
		return textAll
	case p.rows != nil:
		return textFields
	}
	return textNone
}

// matching decodes a block's rows that match the plan, with c and d (the
// reader's own, or a worker's). The text columns are decoded only when a
// row is in the window and of a wanted series, as much of them as the
// plan or need asks for.
func (r *partReader) matching(ctx context.Context, b *index.BlockMeta, c *block.Codec, d *doc, need textNeed) ([]block.Row, error) {
	return r.matchingIn(ctx, b, c, d, need, nil, true, &scratch{})
}

// matchingIn is matching in the scratch's memory, decoding of the fields
// those only names (nil: all; see block.Codec.DecodeFields): the rows live until its
// next use. Workers that are done with a block before the next reuse
// theirs (fresh memory is first touched by a page fault, which cost
// a cold logq a third of a count's time, measured). The rows' seqs are
// decoded when seqs or the plan's conditions ask for them: their chain
// was a fifth of a count of a field comparison (measured).
func (r *partReader) matchingIn(ctx context.Context, b *index.BlockMeta, c *block.Codec, d *doc, need textNeed, only []string, seqs bool, sc *scratch) ([]block.Row, error) {
	rows, err := r.decodeBlock(ctx, b, c, need, only, seqs, sc)
	if err != nil {
		return nil, err
	}
	return r.keepMatching(b, rows, d), nil
}

// decodeBlock reads b into the scratch and decodes its head and, when a
// row lies in the window, its text: the rows live until the scratch's
// next use. It reads the plan and nothing else of r's that changes, so
// that a readAhead can run it beside the reader.
func (r *partReader) decodeBlock(ctx context.Context, b *index.BlockMeta, c *block.Codec, need textNeed, only []string, seqs bool, sc *scratch) ([]block.Row, error) {
	need = max(need, r.p.textNeed())
	if err := r.appendBlock(ctx, b, need == textAll, sc); err != nil {
		return nil, err
	}
	data, messages := sc.data, sc.messages
	decode := c.DecodeTimesInto
	if seqs || r.p.rowsRead(seqField) {
		decode = c.DecodeHeadInto
	}
	rows, err := decode(data, sc.rows)
	if err != nil {
		return nil, r.p.wrapErr(r.path, fmt.Errorf("block %d: %w", b.ID, err))
	}
	sc.rows = rows
	if !slices.ContainsFunc(rows, func(row block.Row) bool { return row.Time >= r.p.lo && row.Time <= r.p.hi }) {
		return rows, nil // keepMatching keeps none: no text needed
	}
	switch need {
	case textAll:
		err = c.DecodeText(data, messages, rows, only)
	case textFields:
		err = c.DecodeFields(data, rows, only)
	}
	if err != nil {
		return nil, r.p.wrapErr(r.path, fmt.Errorf("block %d: %w", b.ID, err))
	}
	return rows, nil
}

// keepMatching keeps the decoded rows of b that are in the window, of a
// wanted series, and pass the plan's words and row conditions.
func (r *partReader) keepMatching(b *index.BlockMeta, rows []block.Row, d *doc) []block.Row {
	every := r.all // every row's series is wanted: no lookup per row
	if !every {
		every, _ = r.allWanted(b)
	}
	var in []int // rows in the window, of wanted series
	for k := range rows {
		if row := &rows[k]; row.Time >= r.p.lo && row.Time <= r.p.hi && (every || r.wanted(row.Series)) {
			in = append(in, k)
		}
	}
	if r.p.words != nil && len(in) > 0 && !r.p.words.mayMatch(d.blockText(rows, in)) {
		return nil // a bloom filter's false positive, most likely
	}
	marks := r.p.literalMarks(rows, d)
	out := rows[:0]
	var ec evalCtx
	for _, k := range in {
		if marks != nil && !marks[k] {
			continue
		}
		row := &rows[k]
		d.reset(row.Message, row.Fields)
		if r.p.words != nil && !r.p.words.match(d) {
			continue
		}
		if r.p.rows != nil {
			ec = evalCtx{s: r.byID.get(row.Series), time: row.Time, seq: row.Seq, msg: row.Message, raw: row.Fields, doc: d}
			if !r.p.rows.eval(&ec) {
				continue
			}
		}
		out = append(out, *row)
	}
	return out
}

// headless reports whether every row of b is in the plan's window and of
// a wanted series: then a job that reads messages and fields alone (its
// row conditions too) skips the head.
func (r *partReader) headless(b *index.BlockMeta) bool {
	if !r.inside(b) {
		return false
	}
	all, err := r.allWanted(b)
	return all && err == nil
}

// headlessRows is the rows of a headless block, with their fields only
// or, for textAll, their messages too, in the scratch's memory: they live
// until its next use. A fold's worker reuses it for every block (fresh
// rows for each block were most of the memory, and their first touch
// most of the time, of a top by a field).
func (r *partReader) headlessRows(ctx context.Context, b *index.BlockMeta, c *block.Codec, need textNeed, only []string, sc *scratch) ([]block.Row, error) {
	if err := r.appendBlock(ctx, b, need == textAll, sc); err != nil {
		return nil, err
	}
	var err error
	if need == textAll {
		sc.rows, err = c.DecodeTextInto(sc.data, sc.messages, b.Rows, sc.rows, only)
	} else {
		sc.rows, err = c.DecodeFieldsInto(sc.data, b.Rows, sc.rows, only)
	}
	if err != nil {
		return nil, r.p.wrapErr(r.path, fmt.Errorf("block %d: %w", b.ID, err))
	}
	return sc.rows, nil
}

// headlessMatching keeps the rows of a headless block that pass the
// plan's words and row conditions, which read their messages and fields
// alone.
func (r *partReader) headlessMatching(rows []block.Row, d *doc) []block.Row {
	if r.p.rows == nil && r.p.words == nil {
		return rows
	}
	marks := r.p.literalMarks(rows, d)
	out := rows[:0]
	var ec evalCtx // one for all rows: it escapes
	for k := range rows {
		if marks != nil && !marks[k] {
			continue
		}
		row := &rows[k]
		d.reset(row.Message, row.Fields) // words, and conditions on words, read it
		if r.p.words != nil && !r.p.words.match(d) {
			continue
		}
		if r.p.rows != nil {
			if ec = (evalCtx{msg: row.Message, raw: row.Fields, doc: d}); !r.p.rows.eval(&ec) {
				continue
			}
		}
		out = append(out, *row)
	}
	return out
}

// scratch is memory a worker reuses from block to block.
type scratch struct {
	data, messages []byte
	rows           []block.Row
	// sealed, when not nil, is the worker's own reader of the partition
	// the scratch is used for (see index.SealedReader)
	sealed *index.SealedReader
}

// appendBlock reads b's data, and with withMessages its messages, into
// sc: through sc.sealed when b is sealed, else through r's transaction.
func (r *partReader) appendBlock(ctx context.Context, b *index.BlockMeta, withMessages bool, sc *scratch) error {
	var err error
	if sc.sealed != nil && index.Sealed(b.Rows) {
		sc.data, sc.messages, err = sc.sealed.AppendBlock(ctx, b.ID, withMessages, sc.data, sc.messages)
	} else {
		sc.data, sc.messages, err = index.AppendBlock(ctx, r.db, b.ID, withMessages, sc.data, sc.messages)
	}
	if err != nil {
		return r.p.wrapErr(r.path, err)
	}
	return nil
}

// event makes the event of a row.
func (r *partReader) event(ctx context.Context, row *block.Row) (schema.Event, error) {
	s, err := r.seriesOf(ctx, row.Series)
	if err != nil {
		return schema.Event{}, err
	}
	ev := schema.Event{
		Time: time.Unix(0, row.Time).UTC(), Service: s.Service, Level: s.Level, Host: s.Host, Publisher: s.Publisher,
		Labels: s.Labels, Seq: row.Seq, Message: row.Message,
	}
	if ev.Fields, err = index.ParseFieldsColumn(row.Fields); err != nil {
		return ev, r.p.wrapErr(r.path, fmt.Errorf("read fields of an event at %d: %w", row.Time, err))
	}
	return ev, nil
}

// heapRow is a matched row on a partIter's heap, which orders them oldest
// first, or newest first, events of one time in the order they were
// stored (by block, then place in the block), or the reverse: newest
// first is oldest first read backwards.
type heapRow struct {
	row   block.Row
	block int64
	pos   int
}

func rowOrder(oldestFirst bool) func(a, b *heapRow) bool {
	if oldestFirst {
		return func(a, b *heapRow) bool { return compareStored(a, b) < 0 }
	}
	return func(a, b *heapRow) bool { return compareStored(a, b) > 0 }
}

// compareStored orders rows oldest first: by time, then block (blocks are
// numbered as they are written), then place.
func compareStored(a, b *heapRow) int {
	return cmp.Or(cmp.Compare(a.row.Time, b.row.Time), cmp.Compare(a.block, b.block), cmp.Compare(a.pos, b.pos))
}

// partIter yields one partition's matches in the plan's order. Blocks of
// different services overlap in time, so it decodes them in the order of
// their oldest (or newest) event, and hands out a row only once no block
// left can hold one that comes before it (or one of the same time: ties
// go by block).
type partIter struct {
	r      *partReader
	blocks []index.BlockMeta
	heap   ordered[heapRow]
	ahead  readAhead
}

func newPartIter(ctx context.Context, r *partReader) (*partIter, error) {
	blocks, err := r.blocks(ctx)
	if err != nil {
		return nil, err
	}
	it := &partIter{r: r, blocks: blocks, heap: ordered[heapRow]{less: rowOrder(r.p.q.OldestFirst)}, ahead: readAhead{r: r, ctx: ctx}}
	slices.SortFunc(it.blocks, func(a, b index.BlockMeta) int {
		if r.p.q.OldestFirst {
			return cmp.Or(cmp.Compare(a.MinTime, b.MinTime), cmp.Compare(a.ID, b.ID))
		}
		return cmp.Or(cmp.Compare(b.MaxTime, a.MaxTime), cmp.Compare(b.ID, a.ID))
	})
	return it, nil
}

// next returns the next matching row; ok is false at the end.
func (it *partIter) next(ctx context.Context) (row block.Row, ok bool, err error) {
	for {
		if len(it.blocks) > 0 && (it.heap.Len() == 0 || !it.before(it.heap.items[0].row.Time, &it.blocks[0])) {
			b := it.blocks[0]
			it.blocks = it.blocks[1:]
			if err := it.load(ctx, &b); err != nil {
				return row, false, err
			}
			continue
		}
		if it.heap.Len() == 0 {
			return row, false, nil
		}
		return heap.Pop(&it.heap).(heapRow).row, true, nil
	}
}

// before reports whether a row at t comes before anything block b holds.
func (it *partIter) before(t int64, b *index.BlockMeta) bool {
	if it.r.p.q.OldestFirst {
		return t < b.MinTime
	}
	return t > b.MaxTime
}

// load pushes b's matching rows on the heap, decoded ahead when they
// were, and starts decoding the blocks after it. Rows decoded ahead
// borrow their decoder's memory: those kept are copied before it is
// given back.
func (it *partIter) load(ctx context.Context, b *index.BlockMeta) error {
	rows, dec, ahead, err := it.ahead.take(b)
	it.ahead.fill(it.blocks)
	if !ahead {
		rows, err = it.r.decodeBlock(ctx, b, it.r.codec, textAll, nil, true, &scratch{})
	}
	if err == nil {
		for i, row := range it.r.keepMatching(b, rows, &it.r.doc) {
			if dec != nil {
				row.Message, row.Fields = strings.Clone(row.Message), strings.Clone(row.Fields)
			}
			heap.Push(&it.heap, heapRow{row, b.ID, i})
		}
	}
	if dec != nil {
		it.ahead.giveBack(dec)
	}
	if err != nil {
		return err
	}
	it.ahead.fill(it.blocks) // with the decoder given back
	return nil
}

// close waits for the blocks decoded ahead; the reader closes after it.
func (it *partIter) close() { it.ahead.close() }
