package query

import (
	"fmt"
	"time"

	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// Over answers a query over events another store found (VictoriaLogs,
// asked a filter that matches at least what this query does): it tests
// each event as the index does, and runs the query's pipes and stats, so
// that both stores give the same answers to the same query.
type Over struct {
	q     Query
	m     *liveMatcher
	steps []step
}

// Compile checks q and readies it for events found elsewhere.
func Compile(q Query) (*Over, error) {
	p, err := (&Searcher{}).plan(q)
	if err != nil {
		return nil, err
	}
	o := &Over{q: q, m: newLiveMatcher(p)}
	if q.HasPipes() {
		if o.steps, err = compilePipes(q.Expr); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Match reports whether ev matches the query's filter and window.
func (o *Over) Match(ev *schema.Event) bool { return o.m.matches(ev) }

// Window is the query's time window in Unix ns, narrowed by its _time
// filters.
func (o *Over) Window() (lo, hi int64) { return o.m.p.lo, o.m.p.hi }

// Steps is how many pipes the query has.
func (o *Over) Steps() int { return len(o.steps) }

// Head is N when the query's first pipe is limit N: only the first N
// matches need be read.
func (o *Over) Head() (int, bool) {
	if len(o.steps) > 0 {
		if n, ok := o.steps[0].(limitStep); ok {
			return int(n), true
		}
	}
	return 0, false
}

// TableRun runs the pipes over the matches it is given (in the query's
// order), as Searcher.Run does over the index.
type TableRun struct {
	o    *Over
	fold fold // the first pipe folds: stats, top, uniq, field_names
	recs []record
	rest []step
}

// NewTable starts a run of the query's pipes (or, without pipes, a
// table of the events).
func (o *Over) NewTable() *TableRun {
	t := &TableRun{o: o, rest: o.steps}
	if len(o.steps) > 0 {
		if f, ok := o.steps[0].(folder); ok {
			t.fold, t.rest = f.newFold(), o.steps[1:]
		}
	}
	return t
}

// Add adds a match; an error says the query holds too much.
func (t *TableRun) Add(ev *schema.Event) error {
	r := eventRecord(ev)
	if t.fold != nil {
		t.fold.add(recordGetter(r))
		return checkHeld(t.fold)
	}
	if len(t.recs) == maxKept {
		return fmt.Errorf("%w: the query keeps more than %d events for its pipes (sort, fields); narrow the time or the filter, or start the pipes with stats, top or limit", ErrBadQuery, maxKept)
	}
	t.recs = append(t.recs, r)
	return nil
}

// Table is the answer.
func (t *TableRun) Table() *Table {
	recs, cols := t.recs, eventColumns
	if t.fold != nil {
		recs, cols = t.fold.records()
	}
	return applySteps(recs, cols, t.rest)
}

// StatsRun adds matches up as Searcher.Stats does.
type StatsRun struct{ acc *statsAcc }

// NewStats starts counting matches by by, per every-long bucket.
func (o *Over) NewStats(by GroupBy, every time.Duration) (*StatsRun, error) {
	acc, err := newStatsAcc(o.q, by, every)
	if err != nil {
		return nil, err
	}
	return &StatsRun{acc: acc}, nil
}

// Add counts a match.
func (s *StatsRun) Add(ev *schema.Event) {
	t := ev.Time.UnixNano()
	s.acc.add(s.acc.by.key(ev), s.acc.bucket(t), 1, t)
}

// Stats is the answer.
func (s *StatsRun) Stats() *Stats { return s.acc.stats() }

// Folds reports whether the first pipe folds the matches (stats, top,
// uniq, field_names), which may then come in any order.
func (o *Over) Folds() bool {
	if len(o.steps) > 0 {
		_, ok := o.steps[0].(folder)
		return ok
	}
	return false
}

// CountsBy reports whether the query's first pipe only counts events,
// grouped by parts every event has (service, level, host, publisher,
// topic) and a _time bucket, which a store can count by itself; and
// those fields and the bucket (0: none).
func (o *Over) CountsBy() (fields []string, bucket time.Duration, ok bool) {
	if len(o.steps) == 0 {
		return nil, 0, false
	}
	st, isStats := o.steps[0].(*statsStep)
	if !isStats || !st.countsBySeries() {
		return nil, 0, false
	}
	for _, b := range st.by {
		if b.Field != ql.Time {
			fields = append(fields, b.Field)
		}
	}
	return fields, st.timeBucket(), true
}

// CountGroup is a store's count of one group: the values of CountsBy's
// fields, the start of its _time bucket, and how many events.
type CountGroup struct {
	Values map[string]string
	Time   time.Time
	N      int64
}

// TableFromCounts answers a query CountsBy accepts from a store's counts
// per group, as the index's block summaries answer it.
func (o *Over) TableFromCounts(groups []CountGroup) *Table {
	st := o.steps[0].(*statsStep)
	acc := st.newAcc()
	for _, g := range groups {
		r := record{}
		for k, v := range g.Values {
			r[k] = v
		}
		r[ql.Time] = g.Time.UTC()
		acc.addN(recordGetter(r), g.N)
	}
	return applySteps(acc.result(), st.columns(), o.steps[1:])
}
