package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
	// waits for the collector to commit the missing events (5s).
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
// come. Live events are matched with the index's own tokenizer (an in-memory
// FTS5 table), so live and stored events match the same words.
func (s *Searcher) Follow(ctx context.Context, q Query, live LiveSource, emit func(*schema.Event) error, opts FollowOptions) error {
	if opts.FillWait <= 0 {
		opts.FillWait = 5 * time.Second
	}
	if !q.Until.IsZero() {
		return fmt.Errorf("%w: --until cannot be used with --follow", ErrBadQuery)
	}
	p, m, err := s.planLive(q)
	if err != nil {
		return err
	}
	defer m.close()
	// The marks come before the search: whatever it then finds above them
	// is remembered, since live events will repeat it.
	cover, err := s.streamMarks(ctx)
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
	_, m, err := s.planLive(q)
	if err == nil {
		m.close()
	}
	return err
}

// planLive plans q and builds its live matcher, which checks the
// full-text expression.
func (s *Searcher) planLive(q Query) (*plan, *liveMatcher, error) {
	p, err := s.plan(q)
	if err != nil {
		return nil, nil, err
	}
	m, err := newLiveMatcher(p)
	if err != nil {
		return nil, nil, err
	}
	return p, m, nil
}

type follower struct {
	s      *Searcher
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
		if ok, err := f.m.matches(ev); err != nil || !ok {
			return err
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
	ok, err := f.m.matches(ev)
	if err != nil {
		return err
	}
	if ok {
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
	marks, err := f.s.streamMarks(ctx)
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
		marks, err := f.s.streamMarks(ctx)
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
		evs, last, err := f.s.streamEvents(ctx, st, from, to, after, fillPage)
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
	ok, err := f.m.matches(ev)
	if err != nil || !ok {
		return err
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

// streamMarks is each stream's highest committed sequence number.
func (s *Searcher) streamMarks(ctx context.Context) (map[schema.Stream]uint64, error) {
	return index.ReadMarks(ctx, s.dir)
}

// streamEvents reads up to limit events of st with from < seq <= to and id
// above afterID, in id order, and returns the last id read.
func (s *Searcher) streamEvents(ctx context.Context, st schema.Stream, from, to uint64, afterID int64, limit int) ([]schema.Event, int64, error) {
	service, levelName, ok := cutLast(st.Topic, ".")
	level, err := schema.ParseLevel(levelName)
	if !ok || err != nil {
		return nil, afterID, nil // not a topic the collector stores
	}
	parts, err := index.ListPartitions(s.dir)
	if err != nil {
		return nil, afterID, err
	}
	const stmt = "SELECT " + eventColumns + " " +
		"FROM events e JOIN series s ON s.id = e.series " +
		"WHERE e.id > ? AND e.series IN (SELECT id FROM series WHERE publisher = ? AND service = ? AND level = ?) AND e.seq > ? AND e.seq <= ? " +
		"ORDER BY e.id LIMIT ?"
	var out []schema.Event
	last := afterID
	for _, part := range parts {
		if len(out) >= limit || part.Day.Add(24*time.Hour).UnixNano()+idSlack <= afterID {
			continue
		}
		args := []any{last, st.Publisher, service, int(level), int64(from), int64(to), limit - len(out)}
		if err := eachRow(ctx, part.Path, stmt, args, func(rows *sql.Rows) error {
			ev, id, err := scanEventID(rows)
			if err == nil {
				out = append(out, ev)
				last = id
			}
			return err
		}); err != nil {
			return nil, afterID, err
		}
	}
	return out, last, nil
}

// eachRow runs stmt on one partition (skipping one not initialised yet, or
// damaged: what it held shows as a gap).
func eachRow(ctx context.Context, path, stmt string, args []any, each func(*sql.Rows) error) error {
	db, err := index.OpenReadOnly(path)
	if errors.Is(err, index.ErrNotReady) || index.IsDamaged(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("read %q: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return fmt.Errorf("read %q: %w", path, err)
		}
	}
	if err := rows.Err(); err != nil && !index.IsDamaged(err) {
		return fmt.Errorf("read %q: %w", path, err)
	}
	return nil
}

// liveMatcher decides whether an event outside the index matches a plan the
// way the index would: labels and time in Go, words through FTS5 with the
// index's tokenizer on a one-row in-memory table.
type liveMatcher struct {
	p      *plan
	db     *sql.DB
	levels map[schema.Level]bool
}

func newLiveMatcher(p *plan) (*liveMatcher, error) {
	m := &liveMatcher{p: p, levels: make(map[schema.Level]bool)}
	for _, l := range schema.Levels() {
		m.levels[l] = l >= p.q.MinLevel
	}
	if p.terms.Match == "" {
		return m, nil
	}
	db, err := sql.Open("sqlite3", "file:live?mode=memory")
	if err != nil {
		return nil, fmt.Errorf("live matcher: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE VIRTUAL TABLE live USING fts5(message, fields, tokenize='unicode61 remove_diacritics 2')"); err != nil {
		db.Close()
		return nil, fmt.Errorf("live matcher: %w", err)
	}
	// Check the expression once, so a bad --fts fails before anything prints.
	if _, err := db.Exec("SELECT 1 FROM live WHERE live MATCH ?", "{message fields}: ("+p.terms.Match+")"); err != nil {
		db.Close()
		return nil, p.wrapErr("live matcher", err)
	}
	m.db = db
	return m, nil
}

func (m *liveMatcher) close() {
	if m.db != nil {
		m.db.Close()
	}
}

// topicMatches reports whether events of a topic can match at all: a
// stream of another topic is not worth reading from the index.
func (m *liveMatcher) topicMatches(topic string) bool {
	service, levelName, ok := cutLast(topic, ".")
	level, err := schema.ParseLevel(levelName)
	if !ok || err != nil {
		return false
	}
	q := m.p.q
	return m.levels[level] && (len(q.Services) == 0 || slices.Contains(q.Services, service)) &&
		strings.HasPrefix(topic, q.TopicPrefix)
}

func (m *liveMatcher) matches(ev *schema.Event) (bool, error) {
	q := m.p.q
	t := ev.Time.UnixNano()
	switch {
	case t < m.p.lo || t > m.p.hi,
		!m.levels[ev.Level],
		len(q.Services) > 0 && !slices.Contains(q.Services, ev.Service),
		q.TopicPrefix != "" && !strings.HasPrefix(ev.Topic(), q.TopicPrefix),
		q.Host != "" && ev.Host != q.Host,
		!ev.Labels.Contains(q.Labels):
		return false, nil
	}
	for _, sub := range m.p.terms.Substrings {
		if !containsSubstring(ev, sub) {
			return false, nil
		}
	}
	if m.db == nil {
		return true, nil
	}
	tx, err := m.db.Begin()
	if err != nil {
		return false, fmt.Errorf("live matcher: %w", err)
	}
	defer tx.Rollback() // the row never needs to stay
	if _, err := tx.Exec("INSERT INTO live(rowid, message, fields) VALUES (1, ?, ?)", ev.Message, index.FieldsColumn(ev.Fields)); err != nil {
		return false, fmt.Errorf("live matcher: %w", err)
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM live WHERE live MATCH ?", "{message fields}: ("+m.p.terms.Match+")").Scan(&n); err != nil {
		return false, fmt.Errorf("live matcher: %w", err)
	}
	return n > 0, nil
}

// containsSubstring is the index's substring filter: in the message or in
// any field value.
func containsSubstring(ev *schema.Event, sub string) bool {
	if strings.Contains(ev.Message, sub) {
		return true
	}
	for _, v := range ev.Fields {
		if strings.Contains(schema.FormatValue(v), sub) {
			return true
		}
	}
	return false
}

// eventColumns are the columns scanEventID reads, of events e joined with
// series s.
const eventColumns = "e.id, e.bump, e.seq, e.message, e.fields, s.service, s.level, s.host, s.publisher, s.labels"

// scanEvent reads the columns of an event row (eventColumns).
func scanEvent(rows *sql.Rows) (schema.Event, error) {
	ev, _, err := scanEventID(rows)
	return ev, err
}

// scanEventID reads an event row and its id.
func scanEventID(rows *sql.Rows) (schema.Event, int64, error) {
	var id, bump int64
	var seq sql.NullInt64
	var fields sql.NullString
	var lvl int
	var labels string
	ev := schema.Event{}
	if err := rows.Scan(&id, &bump, &seq, &ev.Message, &fields, &ev.Service, &lvl, &ev.Host, &ev.Publisher, &labels); err != nil {
		return ev, 0, fmt.Errorf("read event: %w", err)
	}
	ev.Time = time.Unix(0, id-bump).UTC()
	ev.Level = schema.Level(lvl)
	ev.Seq = uint64(seq.Int64)
	if fields.Valid {
		if err := json.Unmarshal([]byte(fields.String), &ev.Fields); err != nil {
			return ev, id, fmt.Errorf("read fields of event %d: %w", id, err)
		}
	}
	var err error
	if ev.Labels, err = index.ParseLabelsColumn(labels); err != nil {
		return ev, id, err
	}
	return ev, id, nil
}
