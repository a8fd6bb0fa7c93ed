package query

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/zlog/zlog/collector/index/block"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// Table is what a query with pipes answers: rows of named values, with
// the columns in the order they are shown.
type Table struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// maxKept bounds the events a query holds in memory for pipes that need
// them all (sort, fields): past it the query is refused, not the
// collector's or logq's memory exhausted.
var maxKept = 1_000_000

// record is one row between pipes.
type record map[string]any

// HasPipes reports whether the query's Expr has pipes, which Run answers
// (Search and Count answer its filter alone).
func (q *Query) HasPipes() bool { return q.Expr != nil && len(q.Expr.Pipes) > 0 }

// Run answers a query as a table: the events its filter matches (in the
// query's order, the newest Limit of them when it has no pipes),
// reshaped by each pipe in turn.
func (s *Searcher) Run(ctx context.Context, q Query) (*Table, error) {
	var steps []step
	if q.HasPipes() {
		var err error
		if steps, err = compilePipes(q.Expr); err != nil {
			return nil, err
		}
		q.Limit = 0 // pipes see every match
		if st, ok := steps[0].(*statsStep); ok && st.countsBySeries() {
			recs, err := s.countBySeries(ctx, q, st)
			if err != nil {
				return nil, err
			}
			return applySteps(recs, st.columns(), steps[1:]), nil
		}
		if f, ok := steps[0].(folder); ok {
			recs, cols, err := s.foldEvents(ctx, q, f)
			if err != nil {
				return nil, err
			}
			return applySteps(recs, cols, steps[1:]), nil
		}
	}
	if len(steps) > 0 {
		if n, ok := steps[0].(limitStep); ok { // the first N matches need no more read
			q.Limit, steps = int(n), steps[1:]
		}
	}
	it, err := s.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var recs []record
	cols := eventColumns
	for it.Next() {
		if len(recs) == maxKept {
			return nil, fmt.Errorf("%w: the query keeps more than %d events for its pipes (sort, fields); narrow the time or the filter, or start the pipes with stats, top or limit", ErrBadQuery, maxKept)
		}
		ev := it.At()
		recs = append(recs, eventRecord(&ev))
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return applySteps(recs, cols, steps), nil
}

func applySteps(recs []record, cols []string, steps []step) *Table {
	for _, st := range steps {
		recs, cols = st.apply(recs, cols)
	}
	return toTable(recs, cols)
}

// eventColumns are an event's columns before its labels and fields.
var eventColumns = []string{ql.Time, "service", "level", "host", "publisher", seqField, ql.Message}

// eventRecord is an event as a record: the built-ins, labels and fields,
// looked up as filters look them up.
func eventRecord(ev *schema.Event) record {
	r := make(record, len(eventColumns)+len(ev.Labels)+len(ev.Fields))
	for k, v := range ev.Labels {
		r[k] = v
	}
	for k, v := range ev.Fields {
		r[k] = v
	}
	s := index.Series{Service: ev.Service, Level: ev.Level, Host: ev.Host, Publisher: ev.Publisher, Labels: ev.Labels}
	e := evalCtx{s: &s, time: ev.Time.UnixNano(), seq: ev.Seq, msg: ev.Message, fields: ev.Fields, parsed: true}
	for _, c := range eventColumns[1:] {
		if v, ok := e.value(c); ok {
			r[c] = v
		}
	}
	r[ql.Time] = ev.Time // a time, not its text: it sorts and buckets as one
	return r
}

// toTable lays records out in cols, then any other keys they have, sorted.
func toTable(recs []record, cols []string) *Table {
	known := make(map[string]bool, len(cols))
	for _, c := range cols {
		known[c] = true
	}
	extra := map[string]bool{}
	for _, r := range recs {
		for k := range r {
			if !known[k] {
				extra[k] = true
			}
		}
	}
	t := &Table{Columns: append(slices.Clone(cols), slices.Sorted(maps.Keys(extra))...), Rows: [][]any{}}
	for _, r := range recs {
		row := make([]any, len(t.Columns))
		for i, c := range t.Columns {
			row[i] = r[c]
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// step is a compiled pipe.
type step interface {
	apply(in []record, cols []string) ([]record, []string)
}

func compilePipes(x *ql.Query) ([]step, error) {
	var out []step
	for _, p := range x.Pipes {
		var st step
		switch p := p.(type) {
		case *ql.Stats:
			s, err := compileStats(p, x.Src)
			if err != nil {
				return nil, err
			}
			st = s
		case *ql.Top:
			st = topStep{n: p.N, by: p.By}
		case *ql.Sort:
			st = sortStep(p.Keys)
		case *ql.Fields:
			st = fieldsStep(p.Names)
		case *ql.Uniq:
			st = uniqStep(p.By)
		case *ql.Limit:
			st = limitStep(p.N)
		case *ql.FieldNames:
			st = fieldNamesStep{}
		default:
			return nil, fmt.Errorf("%w: %w", ErrBadQuery, ql.Errorf(x.Src, p.Position(), "unknown pipe %s", p))
		}
		out = append(out, st)
	}
	return out, nil
}

type limitStep int

func (n limitStep) apply(in []record, cols []string) ([]record, []string) {
	return in[:min(len(in), int(n))], cols
}

type fieldsStep []string

func (f fieldsStep) apply(in []record, _ []string) ([]record, []string) {
	out := make([]record, len(in))
	for i, r := range in {
		out[i] = make(record, len(f))
		for _, k := range f {
			if v, ok := r[k]; ok {
				out[i][k] = v
			}
		}
	}
	return out, f
}

type sortStep []ql.SortKey

func (keys sortStep) apply(in []record, cols []string) ([]record, []string) {
	slices.SortStableFunc(in, func(a, b record) int {
		for _, k := range keys {
			c := compareValues(a[k.Field], b[k.Field])
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return in, cols
}

// compareValues orders values: absent first, numbers as numbers, the
// rest by their text.
func compareValues(a, b any) int {
	if a == nil || b == nil {
		return cmp.Compare(boolInt(a != nil), boolInt(b != nil))
	}
	if x, ok := a.(time.Time); ok {
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	}
	x, xok := number(a)
	y, yok := number(b)
	if xok && yok {
		return cmp.Compare(x, y)
	}
	return cmp.Compare(schema.FormatValue(a), schema.FormatValue(b))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// appendKeyValue appends a value as part of a group key: times by their
// nanoseconds (formatting a time per event would cost more than the rest
// of a stats by _time), the rest as they are shown.
func appendKeyValue(b []byte, v any) []byte {
	if t, ok := v.(time.Time); ok {
		return appendTimeKey(b, t.UnixNano())
	}
	return schema.AppendValue(b, v)
}

// appendTimeKey is appendKeyValue of a time given in Unix ns: 't' and 8
// bytes, since formatting it in decimal was a twelfth of a stats by
// (_time:1m) (measured).
func appendTimeKey(b []byte, ns int64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 't'), uint64(ns))
}

// uniqStep is the distinct combinations of its fields, in their order.
type uniqStep []string

func (by uniqStep) apply(in []record, _ []string) ([]record, []string) { return foldAll(by, in) }
func (by uniqStep) fields() []string                                   { return by }
func (by uniqStep) newFold() fold                                      { return &tally{by: by} }

// topStep is the n most frequent combinations of by, with their counts
// as "hits"; ties in the order of their values.
type topStep struct {
	n  int
	by []string
}

func (t topStep) apply(in []record, _ []string) ([]record, []string) { return foldAll(t, in) }
func (t topStep) fields() []string                                   { return t.by }
func (t topStep) newFold() fold                                      { return &tally{by: t.by, top: t.n, hits: true} }

// tally counts the combinations of by's values: top and uniq. A group
// is found with one map lookup per event and lives in a slice, so that a
// top over a hundred thousand users makes no record per user until the
// end (measured: the map of records was a third of such a query).
type tally struct {
	by     []string
	top    int  // the most frequent this many; 0 = all, in key order
	hits   bool // with their counts
	index  keyIndex
	groups chunked[tallyGroup]
	// counts are the groups' counts while events are added, apart from
	// the groups so that counting touches 8 bytes a group (a group's
	// count in its struct was a cache miss an event, measured); settle
	// moves them into the groups.
	counts []int64
	key    []byte // reused
	vals   []any  // reused
	// pending are short string keys whose lookups addRaw put off, by
	// their part of the index: a part's are looked up together, once
	// pendingLookups of them wait (see keyIndex). One slab made once,
	// each part's at its own offset: slices growing by appends were
	// copied and cleared page by page, 44 % of a top by user's page
	// faults (measured).
	pending  []shortKey
	waiting  [keyParts]uint16 // how many of each part's wait
	npending int
	// strs count the keys put off, by part; a key that also has a group
	// (the same text reached as a number or an escaped string) is moved
	// into it when the tally settles.
	strs  [keyParts]countTable
	nstrs int
	arena *slotArena // of pending and strs, once either is used
}

const pendingLookups = 512

type tallyGroup struct {
	key  string
	vals []any // by's values, nil where absent
	n    int64
}

func (t *tally) add(get getter) {
	if t.vals == nil {
		t.vals = make([]any, len(t.by))
	}
	key, any := t.key[:0], false
	for i, f := range t.by {
		v, ok := get(f)
		if ok {
			key = appendKeyValue(key, v)
			any = true
		} else {
			v = nil
		}
		t.vals[i] = v
		key = append(key, 0)
	}
	t.key = key
	if any {
		t.addGroup(key, t.vals, 1)
	}
}

// addGroup adds n to the group of key, made with vals (copied) when new.
func (t *tally) addGroup(key []byte, vals []any, n int64) {
	if i, ok := t.index.get(key); ok {
		t.counts[i] += n
		return
	}
	t.index.put(key, int32(len(t.counts)))
	t.counts = append(t.counts, n)
	t.groups.add(tallyGroup{key: string(key), vals: keptAll(vals)})
}

// kept is v as a fold keeps it: the strings of the rows it is handed
// point into a codec's memory (block.Codec.Borrow), reused for the next
// block.
func kept(v any) any {
	if s, ok := v.(string); ok {
		return strings.Clone(s)
	}
	return v
}

func keptAll(vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = kept(v)
	}
	return out
}

// appendKey appends the values of fields, each ended by a NUL: a group's
// key; any says whether one was there.
func appendKey(b []byte, get getter, fields []string) (key []byte, any bool) {
	for _, f := range fields {
		if v, ok := get(f); ok {
			b = appendKeyValue(b, v)
			any = true
		}
		b = append(b, 0)
	}
	return b, any
}

// addRaw is add for a single field read from stored fields: a string is
// its own key (as appendKeyValue makes it); other values are made.
func (t *tally) addRaw(fields string) bool {
	if len(t.by) != 1 {
		return false
	}
	tok, found, fallback := jsonToken(fields, t.by[0])
	switch {
	case fallback:
		return false
	case !found:
		return true // none of by: no group, as in add
	}
	key := t.key[:0]
	if len(tok) >= 2 && tok[0] == '"' && strings.IndexByte(tok, '\\') < 0 {
		key = append(key, tok[1:len(tok)-1]...)
	} else if v, good := jsonScalar(tok); good {
		key = appendKeyValue(key, v)
	} else {
		return false
	}
	t.key = append(key, 0)
	if tok[0] == '"' {
		if k, short := makeShortKey(t.key); short {
			t.putOff(k)
			return true
		}
	}
	if i, ok := t.index.get(t.key); ok {
		t.counts[i]++
		return true
	}
	v, good := jsonScalar(tok)
	if !good {
		return false
	}
	t.addGroup(t.key, []any{v}, 1)
	return true
}

func (t *tally) columnField() string {
	if len(t.by) != 1 {
		return ""
	}
	return t.by[0]
}

// addColumn counts a column's integers and strings as addRaw would
// their texts; it leaves other values, and escaped strings, to addRaw.
func (t *tally) addColumn(col *block.Column) bool {
	switch col.Kind {
	case block.ColumnInt:
		for _, n := range col.Ints {
			t.key = append(strconv.AppendInt(t.key[:0], n, 10), 0)
			if i, ok := t.index.get(t.key); ok {
				t.counts[i]++
			} else {
				t.addGroup(t.key, []any{n}, 1)
			}
		}
		return true
	case block.ColumnString:
		if slices.ContainsFunc(col.Texts, func(s string) bool { return strings.IndexByte(s, '\\') >= 0 }) {
			return false
		}
		for _, s := range col.Texts {
			if len(s) < len(shortKey{}.b) { // the key straight from s, with its NUL
				t.putOffWords(stringKeyWords(s))
				continue
			}
			t.key = append(append(t.key[:0], s...), 0)
			if i, ok := t.index.get(t.key); ok {
				t.counts[i]++
			} else {
				t.addGroup(t.key, []any{s}, 1)
			}
		}
		return true
	}
	return false
}

// putOff counts k, a string's key, when its part of the index is looked
// up.
func (t *tally) putOff(k shortKey) {
	w := k.words()
	t.putOffWords(w[0], w[1], w[2])
}

// putOffWords is putOff of the key whose words are w0, w1 and w2.
func (t *tally) putOffWords(w0, w1, w2 uint64) {
	if t.pending == nil {
		t.useArena()
		if t.pending = arenaSlice[shortKey](t.arena, keyParts*pendingLookups); t.pending == nil {
			t.pending = make([]shortKey, keyParts*pendingLookups)
		}
	}
	part := int(hashWords(w0, w1, w2) >> (64 - keyPartBits))
	*t.pending[part*pendingLookups+int(t.waiting[part])].words() = [3]uint64{w0, w1, w2}
	t.npending++
	if t.waiting[part]++; t.waiting[part] == pendingLookups {
		t.lookUp(part)
	}
}

// lookUp counts the keys put off in part.
func (t *tally) lookUp(part int) {
	table := &t.strs[part]
	waiting := t.pending[part*pendingLookups:][:t.waiting[part]]
	t.nstrs -= table.n
	for j := range waiting {
		table.add(&waiting[j], waiting[j].hash(), 1)
	}
	t.nstrs += table.n
	t.npending -= len(waiting)
	t.waiting[part] = 0
}

// skipsBare: an event without any of by adds no group.
func (t *tally) skipsBare() bool { return true }

// held looks the keys put off up when they could take it past maxHeld.
func (t *tally) held() int {
	if t.index.len()+t.nstrs+t.npending > maxHeld {
		t.lookUpAll()
	}
	return t.index.len() + t.nstrs
}

func (t *tally) lookUpAll() {
	for part, n := range t.waiting {
		if n > 0 {
			t.lookUp(part)
		}
	}
}

// settle counts the keys put off, moves the counts of strings that also
// have a group into it, and puts the counts into the groups.
func (t *tally) settle() {
	t.lookUpAll()
	if t.nstrs > 0 {
		for part := range t.index.short {
			for k, i := range t.index.short[part] {
				if n := t.strs[part].take(&k, k.hash()); n > 0 {
					t.counts[i] += n
					t.nstrs--
				}
			}
		}
	}
	for i, n := range t.counts {
		t.groups.at(i).n = n
	}
}

// merge adds other's counts a part at a time, for the cache (see
// keyIndex): a worker's hundred thousand users were merged in a tenth of
// a top by user, by one lookup each in insertion order.
func (t *tally) merge(other fold) {
	o := other.(*tally)
	o.settle()
	t.lookUpAll()
	t.useArena()
	for part := range o.strs {
		table := &t.strs[part]
		t.nstrs -= table.n
		o.strs[part].each(func(k *shortKey, n int64) { table.add(k, k.hash(), n) })
		t.nstrs += table.n
	}
	o.dropStrs()
	for part, m := range o.index.short {
		for k, i := range m {
			g := o.groups.at(int(i))
			if j, ok := t.index.short[part][k]; ok {
				t.counts[j] += g.n
				continue
			}
			t.index.putShort(k, part, int32(len(t.counts)))
			t.counts = append(t.counts, g.n)
			t.groups.add(*g) // its vals are o's own copies
		}
	}
	for key, i := range o.index.long {
		g := o.groups.at(int(i))
		t.addGroup([]byte(key), g.vals, g.n)
	}
}

// useArena gives the tally's tables an arena of their own, unmapped when
// the tally is collected: nothing keeps a pointer into it past a call
// (strGroup copies a key's bytes into strings).
func (t *tally) useArena() {
	if t.arena != nil {
		return
	}
	t.arena = &slotArena{}
	runtime.AddCleanup(t, (*slotArena).free, t.arena)
	for part := range t.strs {
		t.strs[part].arena = t.arena
	}
}

// release: the tally's records are made (foldEvents).
func (t *tally) release() { t.dropStrs() }

// dropStrs forgets the string counts, merged elsewhere or made records,
// and gives their memory back at once rather than when the tally is
// collected (the collector answers queries for days).
func (t *tally) dropStrs() {
	t.strs, t.nstrs, t.pending, t.npending, t.waiting = [keyParts]countTable{}, 0, nil, 0, [keyParts]uint16{}
	if t.arena != nil {
		t.arena.free()
		t.arena = nil
	}
}

// strGroup is the group of a counted string key.
func strGroup(k *shortKey, n int64) tallyGroup {
	return tallyGroup{key: string(k.b[:k.n]), vals: []any{string(k.b[:k.n-1])}, n: n} // the string, without its key's NUL
}

// eachStr calls fn with every counted string key and its count.
func (t *tally) eachStr(fn func(k *shortKey, n int64)) {
	for part := range t.strs {
		t.strs[part].each(fn)
	}
}

func (t *tally) records() ([]record, []string) {
	t.settle()
	if t.top == 0 || t.sortsAll() {
		t.eachStr(func(k *shortKey, n int64) { t.groups.add(strGroup(k, n)) })
		t.strs, t.nstrs = [keyParts]countTable{}, 0
	}
	var groups []tallyGroup
	if t.top > 0 {
		groups = t.mostFrequent()
	} else {
		groups = t.groups.all()
		slices.SortFunc(groups, func(a, b tallyGroup) int { return compareVals(a.vals, b.vals) })
	}
	out := make([]record, 0, len(groups))
	for _, g := range groups {
		r := make(record, len(t.by)+1)
		for i, f := range t.by {
			if g.vals[i] != nil {
				r[f] = g.vals[i]
			}
		}
		if t.hits {
			r["hits"] = g.n
		}
		out = append(out, r)
	}
	if t.hits {
		return out, append(slices.Clone(t.by), "hits")
	}
	return out, t.by
}

// chunked is a slice that grows by chunks, never copying what it holds:
// a tally's hundred thousand groups were copied on every doubling, with
// write barriers, for a sixth of a top's time (measured).
type chunked[T any] struct{ chunks [][]T }

const chunkLen = 4096

func (c *chunked[T]) len() int {
	if len(c.chunks) == 0 {
		return 0
	}
	return (len(c.chunks)-1)*chunkLen + len(c.chunks[len(c.chunks)-1])
}

func (c *chunked[T]) at(i int) *T { return &c.chunks[i/chunkLen][i%chunkLen] }

func (c *chunked[T]) add(v T) {
	if n := len(c.chunks); n == 0 || len(c.chunks[n-1]) == chunkLen {
		c.chunks = append(c.chunks, make([]T, 0, chunkLen))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, v)
}

func (c *chunked[T]) each(fn func(*T)) {
	for _, chunk := range c.chunks {
		for i := range chunk {
			fn(&chunk[i])
		}
	}
}

// all is every element in one slice, made once at the end.
func (c *chunked[T]) all() []T {
	if len(c.chunks) == 1 {
		return c.chunks[0]
	}
	return slices.Concat(c.chunks...)
}

// byFrequency orders groups most frequent first, ties by key.
func byFrequency(a, b tallyGroup) int {
	return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.key, b.key))
}

// mostFrequent is the top most frequent groups and counted strings, in
// order, chosen with a heap of top rather than a sort of them all when
// top is small beside them; a string becomes a group only when it is
// kept.
func (t *tally) mostFrequent() []tallyGroup {
	n := t.top
	if t.sortsAll() { // records made every string a group
		all := t.groups.all()
		slices.SortFunc(all, byFrequency)
		return all[:min(n, len(all))]
	}
	// The least frequent of the n kept is on top, to be replaced.
	h := &ordered[tallyGroup]{less: func(a, b *tallyGroup) bool { return byFrequency(*a, *b) > 0 }}
	offer := func(g tallyGroup) {
		if h.Len() < n {
			heap.Push(h, g)
		} else {
			h.items[0] = g
			heap.Fix(h, 0)
		}
	}
	t.groups.each(func(g *tallyGroup) {
		if h.Len() < n || byFrequency(*g, h.items[0]) < 0 {
			offer(*g)
		}
	})
	t.eachStr(func(k *shortKey, c int64) {
		if h.Len() < n || beats(k, c, &h.items[0]) {
			offer(strGroup(k, c))
		}
	})
	slices.SortFunc(h.items, byFrequency)
	return h.items
}

// sortsAll says whether the top is chosen by sorting every group, when
// it is not small beside them (then every counted string is made a
// group), rather than with a heap.
func (t *tally) sortsAll() bool { return t.top*8 >= t.groups.len()+t.nstrs }

// beats says whether a counted string goes before g by frequency, as
// byFrequency orders groups, without making its group.
func beats(k *shortKey, n int64, g *tallyGroup) bool {
	if n != g.n {
		return n > g.n
	}
	return string(k.b[:k.n]) < g.key
}

// compareVals orders lists of values, by each value in turn.
func compareVals(a, b []any) int {
	for i := range a {
		if c := compareValues(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// bucketStart is the start of the bucket of t, buckets every d from the
// Unix epoch: round times in UTC.
func bucketStart(t int64, d time.Duration) int64 {
	b := t - t%int64(d)
	if t < 0 && t%int64(d) != 0 {
		b -= int64(d)
	}
	return b
}
