package query

import (
	"context"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"

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
// its head alone; otherwise blocks are decoded and matched, one worker
// per core (a damaged one is skipped with a warning). add hears
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
	serviceGroups := map[string]int64{} // with byService
	counts := groupCounts{}
	var blocks []index.BlockMeta
	if byService && r.wholeWindowInBucket(bucket) {
		blocks, err = r.totalsByService(ctx, bucket, groupOf, serviceGroups, counts)
	} else {
		blocks, err = r.blocks(ctx)
	}
	if err != nil {
		return err
	}
	groups := seriesMap[int64]{}
	for id, s := range r.series {
		groups.set(id, groupOf(&s))
	}
	var todo []countJob
	for i := range blocks {
		b := &blocks[i]
		whole := r.wholeInBucket(b, bucket)
		if byService {
			g, ok := serviceGroups[b.Service]
			if !ok {
				g = groupOf(&index.Series{Service: b.Service})
				serviceGroups[b.Service] = g
			}
			if whole {
				counts.add(g, bucket(b.MinTime), int64(b.Rows), b.MaxTime)
				continue
			}
		} else if whole && r.countSummary(b, bucket(b.MinTime), groups, counts) {
			continue
		}
		todo = append(todo, countJob{r: r, b: *b})
	}
	decoded, err := countRows(ctx, todo, bucket, func(j *countJob, row *block.Row) int64 {
		if byService {
			return serviceGroups[j.b.Service]
		}
		return groups.get(row.Series)
	})
	if err != nil {
		return err
	}
	counts.merge(decoded)
	for k, c := range counts {
		g, b := unpackGroupBucket(k)
		add(g, b, *c)
	}
	return nil
}

// countSeriesParts is countSeries over parts, as many at once as there
// are cores (a count by service over two days of 10M events spent 8 ms
// reading one partition's block list after the other). groupOf and add
// are called under one lock; skip says whether a part's error leaves the
// answer without it (a damaged partition) or ends it.
func (p *plan) countSeriesParts(ctx context.Context, parts []index.Partition, bucket func(int64) int64,
	groupOf func(*index.Series) int64, byService bool, add func(group, bucket int64, c seriesCount),
	skip func(path string, err error) bool) error {
	var mu sync.Mutex
	lockedGroupOf := func(s *index.Series) int64 {
		mu.Lock()
		defer mu.Unlock()
		return groupOf(s)
	}
	lockedAdd := func(group, b int64, c seriesCount) {
		mu.Lock()
		defer mu.Unlock()
		add(group, b, c)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, part := range parts {
		g.Go(func() error {
			err := p.countSeries(gctx, part, bucket, lockedGroupOf, byService, lockedAdd)
			if err != nil && !skip(part.Path, err) {
				return err
			}
			return nil
		})
	}
	return g.Wait()
}

// countRows decodes the jobs' blocks, one worker per core, each counting
// the matching rows in their group (groupOf, which must be safe to call
// from several goroutines) and bucket apart.
func countRows(ctx context.Context, jobs []countJob, bucket func(int64) int64, groupOf func(*countJob, *block.Row) int64) (groupCounts, error) {
	perWorker := make([]groupCounts, runtime.GOMAXPROCS(0))
	tallies := make([]blockTally, len(perWorker))
	err := eachMatching(ctx, jobs, textNone, nil, false, func(w int, j *countJob, rows []block.Row) error {
		if perWorker[w] == nil {
			perWorker[w] = groupCounts{}
		}
		t := &tallies[w]
		for k := range rows {
			row := &rows[k]
			t.add(groupOf(j, row), bucket(row.Time), row.Time)
		}
		t.flush(perWorker[w])
		return nil
	})
	all := groupCounts{}
	for _, c := range perWorker {
		all.merge(c)
	}
	return all, err
}

// blockTally counts one block's rows per group and bucket before they go
// to the map: a block holds a few of each (its series, the buckets its
// time span crosses), so a short slice scanned per row beats a map lookup
// per row, which was most of a per-level histogram's time (measured).
type blockTally struct{ counts []groupBucketCount }

type groupBucketCount struct {
	group, bucket, n, last int64
}

func (t *blockTally) add(group, bucket, time int64) {
	for i := range t.counts {
		if c := &t.counts[i]; c.group == group && c.bucket == bucket {
			c.n++
			c.last = max(c.last, time)
			return
		}
	}
	t.counts = append(t.counts, groupBucketCount{group, bucket, 1, time})
}

func (t *blockTally) flush(into groupCounts) {
	for _, c := range t.counts {
		into.add(c.group, c.bucket, c.n, c.last)
	}
	t.counts = t.counts[:0]
}

// wholeWindowInBucket reports whether every block inside the window is
// counted whole in one bucket: the window is one bucket and the plan needs
// no event's text.
func (r *partReader) wholeWindowInBucket(bucket func(int64) int64) bool {
	return r.p.words == nil && r.p.rows == nil && bucket(r.p.lo) == bucket(r.p.hi)
}

// totalsByService counts the blocks wholly inside the window by service
// from SQLite's sums (see index.ServiceTotals) and returns the others,
// which a count decodes.
func (r *partReader) totalsByService(ctx context.Context, bucket func(int64) int64, groupOf func(*index.Series) int64,
	serviceGroups map[string]int64, counts groupCounts) ([]index.BlockMeta, error) {
	totals, err := index.ServiceTotals(ctx, r.db, r.p.lo, r.p.hi)
	if err != nil {
		return nil, r.p.wrapErr(r.path, err)
	}
	for _, t := range totals {
		g := groupOf(&index.Series{Service: t.Service})
		serviceGroups[t.Service] = g
		counts.add(g, bucket(r.p.lo), t.Rows, t.MaxTime)
	}
	across, err := index.ReadBlocksAcross(ctx, r.db, r.p.lo, r.p.hi, false)
	if err != nil {
		return nil, r.p.wrapErr(r.path, err)
	}
	return across, nil
}

// wholeInBucket reports whether a block counts as a whole: nothing needs
// its events, and it lies inside the window and one bucket.
func (r *partReader) wholeInBucket(b *index.BlockMeta, bucket func(int64) int64) bool {
	return r.p.words == nil && r.p.rows == nil && r.inside(b) && bucket(b.MinTime) == bucket(b.MaxTime)
}

// countSummary counts a whole block's wanted series from its summary,
// each in its group, reporting whether the summary could be read (else
// decoding the block says what is wrong).
func (r *partReader) countSummary(b *index.BlockMeta, at int64, groups seriesMap[int64], counts groupCounts) bool {
	err := b.EachSeries(func(s block.Series) bool {
		if r.wanted(s.ID) {
			counts.add(groups.get(s.ID), at, int64(s.Rows), s.MaxTime)
		}
		return true
	})
	return err == nil
}

// groupCounts are counts per groupBucket.
type groupCounts map[int64]*seriesCount

func (g groupCounts) merge(o groupCounts) {
	for k, c := range o {
		group, at := unpackGroupBucket(k)
		g.add(group, at, c.n, c.last)
	}
}

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
