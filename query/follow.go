package query

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/schema"
)

// LiveSource yields the events the collector forwards, in its forwarding
// order (so per stream in sequence order). Recv waits at most wait; ok is
// false when nothing arrived in that time.
type LiveSource interface {
	Recv(wait time.Duration) (ev schema.Event, ok bool, err error)
}

// FollowOptions tune Follow; zero values take the defaults.
type FollowOptions struct {
	// FillWait bounds how long a gap in a stream's live sequence numbers
	// waits for the collector to commit the missing events (the store's
	// FillWait: 5s for the index).
	FillWait time.Duration
	// Gap is told about sequence numbers that were neither live nor in
	// the index after FillWait (a collector that lost them, or retention).
	Gap func(stream schema.Stream, from, to uint64)
}

// Follow prints the index's matches for q (oldest first; with q.Limit, the
// newest Limit of them) and then the live matches, with no event missing or
// repeated at the seam. The caller subscribes live before calling, so the
// live queue already holds what arrives while the index is read.
//
// The seam works per stream (publisher + topic), whose sequence numbers the
// collector stores and forwards in order:
//   - before the index is read, each stream's committed high-water mark H
//     is taken; the search sees everything up to H, and whatever above H it
//     also happens to see is remembered;
//   - a live event at or below what is covered is skipped; one past a gap
//     (events forwarded before the subscription took effect, or dropped by a
//     full subscriber queue) first has the gap filled from the index, once
//     the collector has committed it;
//   - streams that go quiet right after the switch are settled by
//     re-reading the marks a few times and filling from the index what no
//     live event covered.
//
// Unsequenced events (seq 0) cannot be matched up and are printed as they
// come. Live events are matched by the same code as stored ones, so both
// match the same words.
func (s *Searcher) Follow(ctx context.Context, q Query, live LiveSource, emit func(*schema.Event) error, opts FollowOptions) error {
	return Follow(ctx, s, q, live, emit, opts)
}

// Followable is a store whose matches a query can be followed on, with
// live events joined to them per stream by sequence number.
type Followable interface {
	EventSearcher
	// StreamMarks is each stream's highest seq up to which the store holds
	// (and a search finds) every event.
	StreamMarks(ctx context.Context) (map[schema.Stream]uint64, error)
	// StreamEvents reads up to limit events of st with from < seq <= to
	// and time above afterNs (Unix ns), in time order, and returns the
	// time of the last one read. A page ends at a change of time, so
	// that it may run a little over limit: the next page starts after that
	// time and must not miss an event sharing it.
	StreamEvents(ctx context.Context, st schema.Stream, from, to uint64, afterNs int64, limit int) ([]schema.Event, int64, error)
	// FillWait is how long an event the collector received may take to
	// be found by a search: how long a gap waits to be filled.
	FillWait() time.Duration
}

// Follow is Searcher.Follow on any store that can be followed.
func Follow(ctx context.Context, s Followable, q Query, live LiveSource, emit func(*schema.Event) error, opts FollowOptions) error {
	if opts.FillWait <= 0 {
		opts.FillWait = s.FillWait()
	}
	if !q.Until.IsZero() {
		return fmt.Errorf("%w: --until cannot be used with --follow", ErrBadQuery)
	}
	over, err := Compile(q)
	if err != nil {
		return err
	}
	p, m := over.m.p, over.m
	// The marks come before the search: whatever it then finds above them
	// is remembered, since live events will repeat it.
	cover, err := s.StreamMarks(ctx)
	if err != nil {
		return err
	}
	f := &follower{s: s, p: p, m: m, emit: emit, opts: opts,
		cover: cover, lastAt: make(map[schema.Stream]int64), extra: make(map[schema.Stream]map[uint64]bool), seen: make(map[schema.Stream]bool)}
	if err := f.indexPhase(ctx, q); err != nil {
		return err
	}
	// Settle soon after the switch, when a quiet stream's last events are
	// most likely uncovered, then every 5s for streams that stay quiet.
	steps := []time.Duration{250 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}
	next := time.Now().Add(steps[0])
	for ctx.Err() == nil {
		wait := time.Until(next)
		if wait <= 0 {
			if err := f.settle(ctx); err != nil {
				return err
			}
			if len(steps) > 1 {
				steps = steps[1:]
			}
			next = time.Now().Add(steps[0])
			continue
		}
		ev, ok, err := live.Recv(min(wait, 200*time.Millisecond))
		if err != nil {
			return err
		}
		if ok {
			if err := f.live(ctx, &ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// Check reports what is wrong with q (a bad full-text expression, say)
// without reading the index.
func (s *Searcher) Check(q Query) error {
	_, err := s.plan(q)
	return err
}

type follower struct {
	s      Followable
	p      *plan
	m      *liveMatcher
	emit   func(*schema.Event) error
	opts   FollowOptions
	cover  map[schema.Stream]uint64          // every seq up to here is printed or does not match
	lastAt map[schema.Stream]int64           // time of the newest event seen, in ns
	extra  map[schema.Stream]map[uint64]bool // printed seqs above cover
	seen   map[schema.Stream]bool            // streams with a live event since the last settle
}

func streamOf(ev *schema.Event) schema.Stream {
	return schema.Stream{Publisher: ev.Publisher, Topic: ev.Topic()}
}

func (f *follower) indexPhase(ctx context.Context, q Query) error {
	q.OldestFirst = q.Limit == 0
	it, err := f.s.Search(ctx, q)
	if err != nil {
		return err
	}
	defer it.Close()
	var newest []schema.Event
	for it.Next() {
		ev := it.At()
		if q.OldestFirst {
			if err := f.printIndexed(&ev); err != nil {
				return err
			}
			continue
		}
		newest = append(newest, ev)
	}
	if err := it.Err(); err != nil {
		return err
	}
	for i := len(newest) - 1; i >= 0; i-- {
		if err := f.printIndexed(&newest[i]); err != nil {
			return err
		}
	}
	return nil
}

// printIndexed emits an event of the first index search, noting those above
// the marks taken before it, which live events will repeat.
func (f *follower) printIndexed(ev *schema.Event) error {
	f.saw(ev)
	if st := streamOf(ev); ev.Seq > f.cover[st] {
		if f.extra[st] == nil {
			f.extra[st] = make(map[uint64]bool)
		}
		f.extra[st][ev.Seq] = true
	}
	return f.emit(ev)
}

// print emits a matching event unless the seam already printed it. The
// next one in sequence just moves the cover on, so in-order printing (a
// long fill) keeps no per-event memory.
func (f *follower) print(ev *schema.Event) error {
	if ev.Seq != 0 {
		st := streamOf(ev)
		switch {
		case ev.Seq <= f.cover[st] || f.extra[st][ev.Seq]:
			return nil
		case ev.Seq == f.cover[st]+1:
			f.advance(st, ev.Seq)
		default:
			if f.extra[st] == nil {
				f.extra[st] = make(map[uint64]bool)
			}
			f.extra[st][ev.Seq] = true
		}
	}
	return f.emit(ev)
}

// advance marks a stream covered up to seq and forgets what that makes moot.
func (f *follower) advance(st schema.Stream, seq uint64) {
	if seq <= f.cover[st] {
		return
	}
	f.cover[st] = seq
	for k := range f.extra[st] {
		if k <= seq {
			delete(f.extra[st], k)
		}
	}
}

func (f *follower) live(ctx context.Context, ev *schema.Event) error {
	if ev.Seq == 0 {
		if !f.m.matches(ev) {
			return nil
		}
		return f.emit(ev)
	}
	st := streamOf(ev)
	f.seen[st] = true
	defer f.saw(ev) // after filling the gap before it, which starts from the last seen
	covered := f.cover[st]
	if ev.Seq <= covered {
		return nil
	}
	if ev.Seq > covered+1 {
		if err := f.fill(ctx, st, covered, ev.Seq-1, true); err != nil {
			return err
		}
	}
	if f.m.matches(ev) {
		if err := f.print(ev); err != nil {
			return err
		}
	}
	f.advance(st, ev.Seq)
	return nil
}

// settle fills, from the index, streams that moved on since the last look
// without a live event: what they committed was forwarded before the
// subscription took effect.
func (f *follower) settle(ctx context.Context) error {
	marks, err := f.s.StreamMarks(ctx)
	if err != nil {
		return err
	}
	for st, hwm := range marks {
		if hwm > f.cover[st] && !f.seen[st] && f.m.topicMatches(st.Topic) {
			if err := f.fill(ctx, st, f.cover[st], hwm, false); err != nil {
				return err
			}
		}
	}
	clear(f.seen)
	return nil
}

// fill prints the matching events of st with from < seq <= to from the
// index. With wait it first waits (up to FillWait) for the collector to
// commit them. It reads a page at a time in id (time) order, starting a
// little before the stream's last event seen, so a follower far behind (a
// slow client, whose live events were dropped) neither holds the whole gap
// nor rescans the partition per page.
func (f *follower) fill(ctx context.Context, st schema.Stream, from, to uint64, wait bool) error {
	deadline := time.Now().Add(f.opts.FillWait)
	for wait {
		marks, err := f.s.StreamMarks(ctx)
		if err != nil {
			return err
		}
		if marks[st] >= to || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	found := make([]bool, to-from)
	after := f.p.lo - 1
	if at, ok := f.lastAt[st]; ok {
		after = max(after, at-int64(fillSlack))
	}
	for {
		evs, last, err := f.s.StreamEvents(ctx, st, from, to, after, fillPage)
		if err != nil {
			return err
		}
		for i := range evs {
			found[evs[i].Seq-from-1] = true
			if err := f.printMatching(&evs[i]); err != nil {
				return err
			}
		}
		if len(evs) < fillPage {
			break
		}
		after = last
	}
	if lo := slices.Index(found, false); lo >= 0 && f.opts.Gap != nil {
		hi := len(found) - 1
		for found[hi] {
			hi--
		}
		f.opts.Gap(st, from+1+uint64(lo), from+1+uint64(hi))
	}
	f.advance(st, to)
	return nil
}

// fillPage is how many events fill reads from the index at once; fillSlack
// is how far before a stream's last seen event its missing ones are looked
// for (publishers stamp time and number events at about the same moment).
const (
	fillPage  = 1000
	fillSlack = time.Minute
)

func (f *follower) printMatching(ev *schema.Event) error {
	f.saw(ev)
	if !f.m.matches(ev) {
		return nil
	}
	return f.print(ev)
}

// saw remembers the time of the newest event seen of each stream, where
// filling its next gap starts looking.
func (f *follower) saw(ev *schema.Event) {
	st := streamOf(ev)
	if t := ev.Time.UnixNano(); t > f.lastAt[st] {
		f.lastAt[st] = t
	}
}

// StreamMarks is each stream's highest committed sequence number.
func (s *Searcher) StreamMarks(ctx context.Context) (map[schema.Stream]uint64, error) {
	return index.ReadMarks(ctx, s.dir)
}

// FillWait: the collector commits to the index within a second or so.
func (s *Searcher) FillWait() time.Duration { return 5 * time.Second }

// StreamEvents is Followable's, from the index.
func (s *Searcher) StreamEvents(ctx context.Context, st schema.Stream, from, to uint64, afterID int64, limit int) ([]schema.Event, int64, error) {
	service, levelName, ok := cutLast(st.Topic, ".")
	level, err := schema.ParseLevel(levelName)
	if !ok || err != nil {
		return nil, afterID, nil // not a topic the collector stores
	}
	parts, err := index.ListPartitions(s.dir)
	if err != nil {
		return nil, afterID, err
	}
	p := &plan{s: s, q: Query{Services: []string{service}, OldestFirst: true}, lo: afterID + 1, hi: math.MaxInt64}
	var out []schema.Event
	for _, part := range parts {
		if len(out) >= limit || part.Day.Add(24*time.Hour).UnixNano() <= afterID {
			continue
		}
		evs, err := p.streamPart(ctx, part, st.Publisher, level, from, to, limit-len(out))
		if err != nil {
			return nil, afterID, err
		}
		out = append(out, evs...)
	}
	if len(out) == 0 {
		return nil, afterID, nil
	}
	return out, out[len(out)-1].Time.UnixNano(), nil
}

// streamPart reads one partition's part of streamEvents.
func (p *plan) streamPart(ctx context.Context, part index.Partition, publisher string, level schema.Level, from, to uint64, limit int) ([]schema.Event, error) {
	r, err := p.openPart(ctx, part)
	if err != nil || r == nil {
		return nil, err
	}
	defer r.close()
	for id := range r.want.ids {
		if s := r.series[id]; s.Publisher != publisher || s.Level != level {
			r.want.remove(id)
		}
	}
	blocks, err := r.blocks(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(blocks, func(a, b index.BlockMeta) int {
		return cmp.Or(cmp.Compare(a.MinTime, b.MinTime), cmp.Compare(a.ID, b.ID))
	})
	var rows []heapRow
	for i := range blocks {
		if len(rows) >= limit && blocks[i].MinTime > rows[limit-1].row.Time {
			break // the page is full and no later block comes before its end
		}
		decoded, err := r.matching(ctx, &blocks[i], r.codec, &r.doc, textAll)
		if err != nil {
			return nil, err
		}
		for pos, row := range decoded {
			if row.Seq > from && row.Seq <= to {
				rows = append(rows, heapRow{row, blocks[i].ID, pos})
			}
		}
		slices.SortFunc(rows, func(a, b heapRow) int { return compareStored(&a, &b) })
	}
	if len(rows) > limit {
		end := limit
		for end < len(rows) && rows[end].row.Time == rows[limit-1].row.Time {
			end++
		}
		rows = rows[:end]
	}
	out := make([]schema.Event, 0, len(rows))
	for i := range rows {
		ev, err := r.event(ctx, &rows[i].row)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// liveMatcher decides whether an event outside the index matches a plan the
// way the index would: the same label filters, time window and words.
type liveMatcher struct {
	p   *plan
	doc doc
}

func newLiveMatcher(p *plan) *liveMatcher { return &liveMatcher{p: p} }

// topicMatches reports whether events of a topic can match at all: a
// stream of another topic is not worth reading from the index.
func (m *liveMatcher) topicMatches(topic string) bool {
	service, levelName, ok := cutLast(topic, ".")
	level, err := schema.ParseLevel(levelName)
	if !ok || err != nil {
		return false
	}
	q := m.p.q
	return level >= q.MinLevel && (len(q.Services) == 0 || slices.Contains(q.Services, service)) &&
		strings.HasPrefix(topic, q.TopicPrefix)
}

func (m *liveMatcher) matches(ev *schema.Event) bool {
	t := ev.Time.UnixNano()
	s := index.Series{Service: ev.Service, Level: ev.Level, Host: ev.Host, Publisher: ev.Publisher, Labels: ev.Labels}
	if t < m.p.lo || t > m.p.hi || !m.p.seriesOK(&s) {
		return false
	}
	if m.p.words == nil && m.p.rows == nil {
		return true
	}
	m.doc.reset(ev.Message, index.FieldsColumn(ev.Fields))
	if m.p.words != nil && !m.p.words.match(&m.doc) {
		return false
	}
	if m.p.rows == nil {
		return true
	}
	ec := evalCtx{s: &s, time: t, seq: ev.Seq, msg: ev.Message, fields: ev.Fields, parsed: true, doc: &m.doc}
	return m.p.rows.eval(&ec)
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
