package query

import (
	"container/heap"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/schema"
)

// partReader reads one partition's blocks for a plan: it knows which of
// the partition's series the plan's label filters let through, rules
// blocks out by their series and word filters, and decodes the rest.
type partReader struct {
	p      *plan
	path   string
	db     *sql.DB
	series map[int64]index.Series
	want   map[int64]bool // series the label filters let through
	codec  *block.Codec
	doc    doc
}

// openPart opens a partition for p; nil (and no error) when nothing in it
// can match, when it is not initialised yet, or when it is damaged (Warn
// hears of that).
func (p *plan) openPart(ctx context.Context, part index.Partition) (*partReader, error) {
	db, err := index.OpenReadOnly(part.Path)
	if errors.Is(err, index.ErrNotReady) || p.s.skipDamaged(part.Path, err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := &partReader{p: p, path: part.Path, db: db, want: make(map[int64]bool)}
	if r.series, err = index.ReadSeries(ctx, db); err != nil {
		return r.fail(err)
	}
	for id, s := range r.series {
		if p.seriesOK(&s) {
			r.want[id] = true
		}
	}
	if len(r.want) == 0 {
		db.Close()
		return nil, nil
	}
	if r.codec, err = block.NewCodec(); err != nil {
		return r.fail(err)
	}
	return r, nil
}

func (r *partReader) fail(err error) (*partReader, error) {
	r.db.Close()
	if r.p.s.skipDamaged(r.path, err) {
		return nil, nil
	}
	return nil, r.p.wrapErr(r.path, err)
}

func (r *partReader) close() { r.db.Close() }

// blocks are the partition's blocks in the plan's window that may hold a
// match, newest first.
func (r *partReader) blocks(ctx context.Context) ([]index.BlockMeta, error) {
	services := map[string]bool{}
	for id := range r.want {
		services[r.series[id].Service] = true
	}
	var only []string
	if len(r.want) < len(r.series) {
		only = slices.Sorted(maps.Keys(services))
	}
	all, err := index.ReadBlocks(ctx, r.db, r.p.lo, r.p.hi, only, r.p.words != nil)
	if err != nil {
		return nil, r.p.wrapErr(r.path, err)
	}
	out := all[:0]
	for _, b := range all {
		if !r.anyWanted(&b) {
			continue
		}
		if r.p.words != nil {
			f, err := b.Filter()
			if err != nil {
				return nil, r.p.wrapErr(r.path, err)
			}
			if !r.p.words.mayMatch(&f) {
				continue
			}
		}
		out = append(out, b)
	}
	return out, nil
}

func (r *partReader) anyWanted(b *index.BlockMeta) bool {
	for _, s := range b.Series {
		if r.want[s.ID] {
			return true
		}
	}
	return false
}

func (r *partReader) allWanted(b *index.BlockMeta) bool {
	for _, s := range b.Series {
		if !r.want[s.ID] {
			return false
		}
	}
	return true
}

// inside reports whether the whole block lies in the plan's window.
func (r *partReader) inside(b *index.BlockMeta) bool {
	return b.MinTime >= r.p.lo && b.MaxTime <= r.p.hi
}

// rows decodes a block.
func (r *partReader) rows(ctx context.Context, b *index.BlockMeta) ([]block.Row, error) {
	data, err := index.ReadBlockData(ctx, r.db, b.ID)
	if err != nil {
		return nil, r.p.wrapErr(r.path, err)
	}
	rows, err := r.codec.Decode(data)
	if err != nil {
		return nil, r.p.wrapErr(r.path, fmt.Errorf("block %d: %w", b.ID, err))
	}
	return rows, nil
}

// matches reports whether a decoded row matches the plan.
func (r *partReader) matches(row *block.Row) bool {
	if row.Time < r.p.lo || row.Time > r.p.hi || !r.want[row.Series] {
		return false
	}
	if r.p.words == nil {
		return true
	}
	r.doc.reset(row.Message, row.Fields)
	return r.p.words.match(&r.doc)
}

// event makes the event of a row.
func (r *partReader) event(row *block.Row) (schema.Event, error) {
	s := r.series[row.Series]
	ev := schema.Event{
		Time: time.Unix(0, row.Time).UTC(), Service: s.Service, Level: s.Level, Host: s.Host, Publisher: s.Publisher,
		Labels: s.Labels, Seq: row.Seq, Message: row.Message,
	}
	if row.Fields != "" {
		if err := json.Unmarshal([]byte(row.Fields), &ev.Fields); err != nil {
			return ev, r.p.wrapErr(r.path, fmt.Errorf("read fields of an event at %d: %w", row.Time, err))
		}
	}
	return ev, nil
}

// rowHeap orders matched rows newest first (or oldest first), ties in the
// order they were read.
type rowHeap struct {
	rows        []heapRow
	oldestFirst bool
}

type heapRow struct {
	row   block.Row
	order int64
}

func (h *rowHeap) Len() int { return len(h.rows) }
func (h *rowHeap) Less(i, j int) bool {
	a, b := &h.rows[i], &h.rows[j]
	if a.row.Time != b.row.Time {
		return (a.row.Time < b.row.Time) == h.oldestFirst
	}
	return a.order < b.order
}
func (h *rowHeap) Swap(i, j int) { h.rows[i], h.rows[j] = h.rows[j], h.rows[i] }
func (h *rowHeap) Push(x any)    { h.rows = append(h.rows, x.(heapRow)) }
func (h *rowHeap) Pop() any {
	last := h.rows[len(h.rows)-1]
	h.rows = h.rows[:len(h.rows)-1]
	return last
}

// partIter yields one partition's matches in the plan's order. Blocks of
// different services overlap in time, so it decodes them in the order of
// their newest (or oldest) event, and hands out a row only once no block
// left can hold one that comes before it.
type partIter struct {
	r      *partReader
	blocks []index.BlockMeta
	heap   rowHeap
	order  int64
}

func newPartIter(ctx context.Context, r *partReader) (*partIter, error) {
	blocks, err := r.blocks(ctx)
	if err != nil {
		return nil, err
	}
	it := &partIter{r: r, blocks: blocks, heap: rowHeap{oldestFirst: r.p.q.OldestFirst}}
	if it.heap.oldestFirst {
		sort.SliceStable(it.blocks, func(i, j int) bool { return it.blocks[i].MinTime < it.blocks[j].MinTime })
	}
	return it, nil
}

// next returns the next matching row; ok is false at the end.
func (it *partIter) next(ctx context.Context) (row block.Row, ok bool, err error) {
	for {
		if len(it.blocks) > 0 && (it.heap.Len() == 0 || !it.before(it.heap.rows[0].row.Time, &it.blocks[0])) {
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
	if it.heap.oldestFirst {
		return t < b.MinTime
	}
	return t > b.MaxTime
}

func (it *partIter) load(ctx context.Context, b *index.BlockMeta) error {
	rows, err := it.r.rows(ctx, b)
	if err != nil {
		return err
	}
	for i := range rows {
		if it.r.matches(&rows[i]) {
			it.order++
			heap.Push(&it.heap, heapRow{rows[i], it.order})
		}
	}
	return nil
}
