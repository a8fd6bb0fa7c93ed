// Package vlsink is the collector's sink on VictoriaLogs: it writes
// accepted events through a vlstore.Store and acknowledges a stream's
// range once counts find it durable. Apart from vlstore, so that readers
// of VictoriaLogs (logq) do not link the collector's metrics.
package vlsink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/collector/vlstore"
	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/ratelog"
)

// Options configure the collector's sink on VictoriaLogs.
type Options struct {
	// FlushDelay is how long rows a count found may still be only in a
	// storage node's memory; ConfirmDelay(5s). Nothing is acknowledged
	// sooner after its first whole count.
	FlushDelay time.Duration
	// CheckEvery is how often pending events are counted; 250ms.
	CheckEvery time.Duration
	// RepairDelay is how long a count must keep finding events missing,
	// with VictoriaLogs answering all along, before they are written
	// again; 15s. vlinsert (app/vlstorage/netinsert, v1.52.1) holds rows
	// up to about 2s, retries a block no storage node took every second,
	// and skips a node for 10s after a send to it failed: a row can
	// arrive some 13s after the cluster answers again. Sooner, a repair
	// stored 1,055 of 100,000 events twice (both storage nodes down 10s).
	RepairDelay time.Duration
	// Committed is told each stream's new durable mark once confirmed.
	Committed func(map[schema.Stream]uint64)
	// MaxPending bounds the events held for confirmation; 1,000,000.
	MaxPending int
	// SlowCount is how long a count may take before it says a node
	// stalled (SIGSTOPped, hung, starved): 1s. A stalled node's flusher
	// does not run, so its rows stay in memory for as long; the window of
	// every run starts again when such a count answers.
	SlowCount time.Duration
}

// ConfirmDelay is how long rows that reached a VictoriaLogs storage node
// running with -inmemoryDataFlushInterval interval may stay only in its
// memory (lib/logstorage/datadb.go, v1.52.1): up to 1s in its rows
// buffer, then an in-memory part whose flush deadline is interval later
// and which the flusher, ticking every interval, writes at the first tick
// past it: 1s + 2 × interval. The window is 3s + 3 × interval: a part's
// merge to disk takes time too, and on a loaded machine a 2s + 2 ×
// interval window once let a cluster test end with 981 of 100,000
// acknowledged events missing (counted after its nodes were killed).
// Acknowledged sooner, rows a SIGKILL then loses would be acknowledged
// (measured: with interval 1s and a 2s delay after the write, 10,000 of
// 30,000 acknowledged events were lost). The delay runs from the first
// count that finds them, since vlinsert may deliver them late.
func ConfirmDelay(interval time.Duration) time.Duration {
	return 3*time.Second + 3*max(interval, time.Second)
}

// Sink is the collector's index stage on VictoriaLogs. Write sends a batch
// and keeps each stream's events until counts confirm them: found whole,
// and whole again FlushDelay later, when a storage node has them on disk;
// only then are they acknowledged (Committed). Events counts keep finding
// missing (a storage node killed before it flushed, vlinsert killed with
// rows it held) are written again, those and no others, once vlinsert can
// no longer be holding them.
type Sink struct {
	store *vlstore.Store
	opts  Options

	// The confirming goroutine's: the last query VictoriaLogs did not
	// answer, and when the stretch began in which every count answered
	// within SlowCount (no flush window is counted from before it).
	failedAt, steadySince time.Time

	mu      sync.Mutex
	pending map[schema.Stream][]written // in seq order
	held    int                         // events in pending
	// stored are the seqs above a stream's mark that VictoriaLogs already
	// holds (a collector died before confirming them): their resends are
	// not written again.
	stored map[schema.Stream]map[uint64]bool

	confirmed, rewritten, checkErrors, sendErrors, unsequencedLost, slowCounts prometheus.Counter
	sendLog, checkLog                                                          *ratelog.Log
}

// written is a run of one stream's events sent in one write.
type written struct {
	events []schema.Event // ascending seq
	// complete is when a count first found the whole run (zero: not
	// yet); missing when one first found it short, with the cluster
	// answering since (zero: not short).
	complete, missing time.Time
}

func (w *written) from() uint64 { return w.events[0].Seq }
func (w *written) to() uint64   { return w.events[len(w.events)-1].Seq }

// New makes the sink; logger hears of failed inserts and counts.
func New(store *vlstore.Store, opts Options, logger *slog.Logger) *Sink {
	if opts.FlushDelay <= 0 {
		opts.FlushDelay = ConfirmDelay(5 * time.Second)
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = 250 * time.Millisecond
	}
	if opts.RepairDelay <= 0 {
		opts.RepairDelay = 15 * time.Second
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 1_000_000
	}
	if opts.SlowCount <= 0 {
		opts.SlowCount = time.Second
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return &Sink{store: store, opts: opts, pending: map[schema.Stream][]written{},
		sendLog:         ratelog.New(logger, slog.LevelWarn, "insert into VictoriaLogs failed", time.Minute),
		checkLog:        ratelog.New(logger, slog.LevelWarn, "count on VictoriaLogs failed", time.Minute),
		confirmed:       counter("zlog_collector_vl_confirmed_total", "Events a non-partial VictoriaLogs count confirmed, then acknowledged."),
		rewritten:       counter("zlog_collector_vl_rewritten_total", "Events written to VictoriaLogs again because a count after the flush interval did not find them."),
		checkErrors:     counter("zlog_collector_vl_check_errors_total", "Confirmation counts VictoriaLogs failed to answer (a node down or hung): nothing is acknowledged meanwhile."),
		sendErrors:      counter("zlog_collector_vl_send_errors_total", "Inserts VictoriaLogs refused or did not answer; their sequenced events are checked and written again."),
		unsequencedLost: counter("zlog_collector_vl_unsequenced_lost_total", "Unsequenced events (seq 0, best effort) of a failed insert: lost."),
		slowCounts:      counter("zlog_collector_vl_slow_counts_total", "Confirmation counts slower than the stall threshold: every flush window started again."),
	}
}

// Collectors are the sink's metrics.
func (s *Sink) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.confirmed, s.rewritten, s.checkErrors, s.sendErrors, s.unsequencedLost, s.slowCounts}
}

// ErrBacklog is returned by Write, having sent nothing, while more than
// MaxPending events wait for confirmation (the cluster is down or slow):
// the collector's stage then waits and tries again, and intake slows.
var ErrBacklog = errors.New("victorialogs backlog full")

// Write sends batch; its sequenced events wait for confirmation. A send
// that fails or times out is not retried as it is: it may have been
// stored in part, so the count after FlushDelay finds what is missing and
// only that is written again. Unsequenced events (seq 0) cannot be
// checked: one whose send failed is counted lost.
func (s *Sink) Write(ctx context.Context, batch []schema.Event) error {
	if s.backlog() > s.opts.MaxPending {
		return fmt.Errorf("%w: over %d events wait for confirmation", ErrBacklog, s.opts.MaxPending)
	}
	if err := s.store.Write(ctx, s.notStored(batch)); err != nil {
		s.sendErrors.Inc()
		lost := 0
		for _, ev := range batch {
			if ev.Seq == 0 {
				lost++
			}
		}
		s.unsequencedLost.Add(float64(lost))
		s.sendLog.Note(fmt.Sprintf("sequenced events will be counted and written again; %d unsequenced ones are lost", lost), err)
	}
	runs := map[schema.Stream][]schema.Event{}
	for _, ev := range batch {
		if ev.Seq == 0 {
			continue // unsequenced: best effort, never acknowledged
		}
		st := schema.Stream{Publisher: ev.Publisher, Topic: ev.Topic()}
		runs[st] = append(runs[st], ev)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for st, evs := range runs {
		slices.SortFunc(evs, func(a, b schema.Event) int { return cmp.Compare(a.Seq, b.Seq) })
		s.pending[st] = append(s.pending[st], written{events: evs})
		s.held += len(evs)
	}
	return nil
}

// notStored is batch without the events VictoriaLogs already holds.
func (s *Sink) notStored(batch []schema.Event) []schema.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.stored) == 0 {
		return batch
	}
	out := make([]schema.Event, 0, len(batch))
	for _, ev := range batch {
		st := schema.Stream{Publisher: ev.Publisher, Topic: ev.Topic()}
		if ev.Seq != 0 && s.stored[st][ev.Seq] {
			delete(s.stored[st], ev.Seq)
			if len(s.stored[st]) == 0 {
				delete(s.stored, st)
			}
			continue
		}
		out = append(out, ev)
	}
	return out
}

// Pending is how many written events wait for their confirmation: the
// collector's heartbeat counts them as its backlog, so that publishers
// wait for their acknowledgement rather than resend them.
func (s *Sink) Pending() int { return s.backlog() }

func (s *Sink) backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// Close has nothing to flush: what was not confirmed is not acknowledged,
// and its publishers send it again.
func (s *Sink) Close() error { return s.store.Close() }

// Run confirms written ranges until ctx ends.
func (s *Sink) Run(ctx context.Context) error {
	tick := time.NewTicker(s.opts.CheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		marks := s.confirm(ctx)
		if len(marks) > 0 && s.opts.Committed != nil {
			s.opts.Committed(marks)
		}
	}
}

// runs are a snapshot of every stream's pending runs.
func (s *Sink) runs() map[schema.Stream][]written {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[schema.Stream][]written, len(s.pending))
	for st, ws := range s.pending {
		out[st] = slices.Clone(ws)
	}
	return out
}

// confirm checks every stream's pending runs and returns the marks it
// may acknowledge. A run is acknowledged once a count found it whole and
// FlushDelay has passed since (rows a count sees have reached a storage
// node by then, so they are on its disk FlushDelay later), with every
// count in between answered promptly (a stalled node flushes nothing),
// and a second count still finds it whole (a node killed in between
// would have lost them). Runs are acknowledged in order, up to the first
// that is not.
func (s *Sink) confirm(ctx context.Context) map[schema.Stream]uint64 {
	marks := map[schema.Stream]uint64{}
	for st, ws := range s.runs() {
		whole, err := s.wholeStream(ctx, st, ws)
		if err != nil {
			s.failed(time.Now(), err)
			continue
		}
		acked, inOrder := 0, true
		for i := range ws {
			w := &ws[i]
			ok := whole
			if !ok {
				if ok, err = s.whole(ctx, st, w); err != nil {
					s.failed(time.Now(), err)
					break
				}
			}
			now := time.Now()
			s.track(ctx, st, i, w, ok, now)
			done := ok && !w.complete.IsZero() && now.Sub(later(w.complete, s.steadySince)) >= s.opts.FlushDelay
			if done && inOrder {
				marks[st] = w.to()
				s.confirmed.Add(float64(len(w.events)))
				acked++
			}
			inOrder = inOrder && done
		}
		s.pop(st, acked)
	}
	return marks
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// wholeStream reports whether one count finds every pending run of st.
func (s *Sink) wholeStream(ctx context.Context, st schema.Stream, ws []written) (bool, error) {
	want := 0
	for _, w := range ws {
		want += len(w.events)
	}
	n, err := s.count(ctx, st, ws[0].from(), ws[len(ws)-1].to())
	return n >= int64(want), err
}

// whole reports whether a count finds every event of one run.
func (s *Sink) whole(ctx context.Context, st schema.Stream, w *written) (bool, error) {
	n, err := s.count(ctx, st, w.from(), w.to())
	return n >= int64(len(w.events)), err
}

// count is Store.Count, timed: one slower than SlowCount starts every
// run's flush window again.
func (s *Sink) count(ctx context.Context, st schema.Stream, from, to uint64) (int64, error) {
	start := time.Now()
	n, err := s.store.Count(ctx, st, from, to)
	if end := time.Now(); end.Sub(start) > s.opts.SlowCount {
		s.slowCounts.Inc()
		s.steadySince = end
	}
	return n, err
}

// track records what a count found of run i. A run found short is written
// again (only its missing seqs) once it has stayed short for RepairDelay
// with the cluster answering all along: vlinsert may still deliver a row
// counted missing sooner, and writing it again would store it twice.
func (s *Sink) track(ctx context.Context, st schema.Stream, i int, w *written, whole bool, now time.Time) {
	switch {
	case whole && w.complete.IsZero():
		w.complete, w.missing = now, time.Time{}
	case whole:
	case w.missing.IsZero():
		w.complete, w.missing = time.Time{}, now
	case now.Sub(w.missing) >= s.opts.RepairDelay && now.Sub(s.failedAt) >= s.opts.RepairDelay:
		if err := s.repair(ctx, st, w); err != nil {
			s.failed(now, err)
			return
		}
		w.missing = time.Time{}
	}
	s.update(st, i, *w)
}

// repair writes again the events of w that VictoriaLogs does not hold.
func (s *Sink) repair(ctx context.Context, st schema.Stream, w *written) error {
	missing, err := s.store.Missing(ctx, st, w.from(), w.to())
	if err != nil {
		return err
	}
	var again []schema.Event
	for _, ev := range w.events {
		if _, found := slices.BinarySearch(missing, ev.Seq); found {
			again = append(again, ev)
		}
	}
	if err := s.store.Write(ctx, again); err != nil {
		return err
	}
	s.rewritten.Add(float64(len(again)))
	return nil
}

// failed notes a query VictoriaLogs did not answer: nothing is repaired
// until it has answered for RepairDelay again.
func (s *Sink) failed(now time.Time, err error) {
	s.checkErrors.Inc()
	s.checkLog.Note("nothing is acknowledged or repaired until VictoriaLogs answers again", err)
	s.failedAt, s.steadySince = now, now
}

// pop drops a stream's first n runs, confirmed. Only the confirming
// goroutine removes runs, so the first ones are those confirm saw.
func (s *Sink) pop(st schema.Stream, n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.pending[st]
	for _, w := range ws[:n] {
		s.held -= len(w.events)
	}
	if len(ws) == n {
		delete(s.pending, st)
	} else {
		s.pending[st] = ws[n:]
	}
}

// update stores what confirm learnt of run i of st. Only the confirming
// goroutine removes runs, so run i is the one it counted.
func (s *Sink) update(st schema.Stream, i int, w written) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ws := s.pending[st]; i < len(ws) {
		ws[i].complete, ws[i].missing = w.complete, w.missing
	}
}

// ErrHoles is wrapped by LoadMarks for a stream whose stored seqs have a
// hole below its highest: its mark is below the hole.
var ErrHoles = errors.New("holes")

// LoadMarks reads each stream's durable mark from VictoriaLogs: the
// highest seq below which nothing is missing since the stream's lowest
// stored seq. It reads twice, FlushDelay apart, and takes the lower mark:
// rows the first read found are on disk by the second (a collector that
// died had written rows that may still have been only in memory), and
// rows vlinsert delivered in between are not yet. Where rows are missing,
// the mark stops before the first hole, so publishers send from there
// again; the seqs stored above the mark are remembered, so that their
// resends are confirmed without being written twice.
func (s *Sink) LoadMarks(ctx context.Context) (map[schema.Stream]uint64, error) {
	first, err := s.store.Marks(ctx)
	if err != nil {
		return nil, err
	}
	if len(first) > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.opts.FlushDelay):
		}
	}
	second, err := s.store.Marks(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[schema.Stream]uint64, len(second))
	for st, m := range second {
		mark := m.Whole
		if f, ok := first[st]; !ok || f.Lo > m.Lo {
			mark = m.Lo - 1 // its lowest arrived since the first read
		} else {
			mark = min(mark, f.Whole)
		}
		if m.Hi > mark {
			if err := s.noteStored(ctx, st, mark+1, m.Hi); err != nil {
				return nil, err
			}
		}
		if mark > 0 {
			out[st] = mark
		}
	}
	return out, nil
}

// noteStored remembers which seqs of st in [from, to] VictoriaLogs holds.
func (s *Sink) noteStored(ctx context.Context, st schema.Stream, from, to uint64) error {
	missing, err := s.store.Missing(ctx, st, from, to)
	if err != nil {
		return err
	}
	have := map[uint64]bool{}
	for n := from; n <= to; n++ {
		if _, gone := slices.BinarySearch(missing, n); !gone {
			have[n] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stored == nil {
		s.stored = map[schema.Stream]map[uint64]bool{}
	}
	s.stored[st] = have
	return nil
}
