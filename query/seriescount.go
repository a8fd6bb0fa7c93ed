package query

import (
	"context"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/collector/index/block"
)

// seriesCount is how many matches fell in one group and bucket, and the
// newest of them.
type seriesCount struct {
	n    int64
	last int64
}

// groupBucket packs a group and a bucket number into one map key: a
// count touches the map once per row, and an int64 key is its fastest.
func groupBucket(group, bucket int64) int64 { return group<<32 | int64(uint32(bucket)) }

func unpackGroupBucket(k int64) (group, bucket int64) { return k >> 32, int64(int32(uint32(k))) }

// countSeries counts a partition's matches per group of series (groupOf
// says a series' group, asked once per series) and per bucket (bucket
// maps an event time to its bucket's number, which must fit in 32 bits).
// When the plan needs no event's text, a block wholly inside the window
// and one bucket is counted from its per-series summary, any other from
// its head alone; otherwise blocks are decoded and matched. add hears
// each group and bucket once.
//
// With byService (the group is the service's alone) and nothing filtering
// series, no series is read at all: a block holds one service, so its
// rows count for its service.
func (p *plan) countSeries(ctx context.Context, part index.Partition, bucket func(int64) int64,
	groupOf func(*index.Series) int64, byService bool, add func(group, bucket int64, c seriesCount)) error {
	r, err := p.openPart(ctx, part)
	if err != nil || r == nil {
		return err
	}
	defer r.close()
	byService = byService && r.all
	if r.all && !byService { // series are what is counted by
		if err := r.readSeries(ctx, true); err != nil {
			return p.wrapErr(part.Path, err)
		}
	}
	blocks, err := r.blocks(ctx)
	if err != nil {
		return err
	}
	groups := make(map[int64]int64, len(r.series))
	for id, s := range r.series {
		groups[id] = groupOf(&s)
	}
	counts := groupCounts{}
	count := func(series, at int64, n, last int64) { counts.add(groups[series], at, n, last) }
	for i := range blocks {
		b := &blocks[i]
		if byService {
			if err := r.countBlock(ctx, b, groupOf(&index.Series{Service: b.Service}), bucket, counts); err != nil {
				return err
			}
			continue
		}
		if at := bucket(b.MinTime); p.words == nil && p.rows == nil && r.inside(b) && at == bucket(b.MaxTime) {
			err := b.EachSeries(func(s block.Series) bool {
				if r.wanted(s.ID) {
					count(s.ID, at, int64(s.Rows), s.MaxTime)
				}
				return true
			})
			if err == nil {
				continue
			} // else decoding the block says what is wrong
		}
		rows, err := r.matching(ctx, b, r.codec, &r.doc, textNone)
		if err != nil {
			return err
		}
		for _, row := range rows {
			count(row.Series, bucket(row.Time), 1, row.Time)
		}
	}
	for k, c := range counts {
		g, b := unpackGroupBucket(k)
		add(g, b, *c)
	}
	return nil
}

// groupCounts are counts per groupBucket.
type groupCounts map[int64]*seriesCount

func (g groupCounts) add(group, at, n, last int64) {
	k := groupBucket(group, at)
	c := g[k]
	if c == nil {
		c = &seriesCount{last: last}
		g[k] = c
	}
	c.n += n
	c.last = max(c.last, last)
}

// countBlock counts a block's matches for one group: from its row count
// when it lies inside the window and one bucket and nothing needs its
// events, else from its rows.
func (r *partReader) countBlock(ctx context.Context, b *index.BlockMeta, group int64, bucket func(int64) int64, counts groupCounts) error {
	if at := bucket(b.MinTime); r.p.words == nil && r.p.rows == nil && r.inside(b) && at == bucket(b.MaxTime) {
		counts.add(group, at, int64(b.Rows), b.MaxTime)
		return nil
	}
	rows, err := r.matching(ctx, b, r.codec, &r.doc, textNone)
	for _, row := range rows {
		counts.add(group, bucket(row.Time), 1, row.Time)
	}
	return err
}

// groupIDs numbers group keys in the order they are first seen.
type groupIDs struct {
	ids  map[string]int64
	keys []string
}

func (g *groupIDs) id(key string) int64 {
	if id, ok := g.ids[key]; ok {
		return id
	}
	if g.ids == nil {
		g.ids = map[string]int64{}
	}
	g.ids[key] = int64(len(g.keys))
	g.keys = append(g.keys, key)
	return g.ids[key]
}
