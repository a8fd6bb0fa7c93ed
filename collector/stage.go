package collector

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/schema"
)

// Sink stores batches of events: the log files, the index. Write stores
// the whole batch or returns an error; a sink that can store part of a
// batch says which events it did not store with a PartialError, so only
// those are written again.
type Sink interface {
	Write(ctx context.Context, batch []schema.Event) error
	Close() error
}

// PartialError is a Write error that names the events not stored.
type PartialError interface {
	error
	Unwritten() []schema.Event
}

// stage moves batches from in to its sink, then on to the next stage. A
// failed write is retried with backoff (up to 5 s apart) until it succeeds,
// so nothing is lost while the collector runs and intake slows behind it;
// only at shutdown, once giveUp ends, is what a failing sink holds
// abandoned, counted and logged.
type stage struct {
	name string
	sink Sink
	in   <-chan []schema.Event
	next chan<- []schema.Event // nil for the last stage
	// gather, when set, collects batches into one write of at most
	// gatherEvents events or gather old (the index commits that way).
	gather       time.Duration
	gatherEvents int
	idle         func()      // on ticks with nothing gathered (index maintenance)
	tick         func()      // on every tick
	stored       func(n int) // after each successful write
	taken        func(n int) // as each batch is taken from in
}

// stageMetrics are the stage runner's series, labelled by sink.
type stageMetrics struct {
	queuedEvents prometheus.Gauge
	queued       *prometheus.GaugeVec
	retries      *prometheus.CounterVec
	abandoned    *prometheus.CounterVec
}

func newStageMetrics(reg prometheus.Registerer, sinks ...string) stageMetrics {
	m := stageMetrics{
		queuedEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zlog_collector_queue_events", Help: "Events received and not yet taken by the index stage (at most the collector's queue bound).",
		}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zlog_collector_queue_batches", Help: "Batches waiting for a sink.",
		}, []string{"sink"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zlog_collector_sink_retries_total", Help: "Batch retries after a sink error.",
		}, []string{"sink"}),
		abandoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zlog_collector_abandoned_total", Help: "Events a sink still failed to store when shutdown gave up on it.",
		}, []string{"sink"}),
	}
	for _, s := range sinks { // visible as 0 from the start
		m.queued.WithLabelValues(s)
		m.retries.WithLabelValues(s)
		m.abandoned.WithLabelValues(s)
	}
	reg.MustRegister(m.queuedEvents, m.queued, m.retries, m.abandoned)
	return m
}

// runStage runs a stage until in is closed and everything is written.
func (c *Collector) runStage(giveUp context.Context, st stage) error {
	if st.next != nil {
		defer close(st.next)
	}
	if st.gather <= 0 {
		for batch := range st.in {
			st.took(batch)
			c.write(giveUp, st, batch)
		}
		return nil
	}
	return c.gatherStage(giveUp, st)
}

// gatherStage groups incoming batches into one write per gather interval
// (or gatherEvents), which is what makes the index's commits cheap per
// event. An event's wait counts from when it could first have been taken:
// batches that queued up during a write are as old as that write's start,
// so a slow commit does not add a whole interval to the freshness of what
// arrived while it ran. A write that is due takes every batch already
// waiting first (up to gatherEvents), so under load a commit holds what
// queued during the last one instead of idling for the interval.
func (c *Collector) gatherStage(giveUp context.Context, st stage) error {
	ticker := time.NewTicker(st.gather / 2)
	defer ticker.Stop()
	g := gathering{st: &st}
	write := func() {
		start := time.Now()
		g.lastLen = len(g.pending)
		c.write(giveUp, st, g.pending)
		g.pending = nil
		if len(st.in) > 0 {
			g.queuedSince = start // waiting since the write began, at most
		} else {
			g.queuedSince = time.Time{}
		}
	}
	for {
		select {
		case batch, ok := <-st.in:
			if ok {
				g.add(batch)
				if !g.due(st.gather) {
					continue
				}
				ok = g.drain()
			}
			if len(g.pending) > 0 {
				write()
			}
			if !ok {
				return nil
			}
		case <-ticker.C:
			if st.tick != nil {
				st.tick()
			}
			switch {
			case len(g.pending) > 0 && g.due(st.gather/2):
				write()
			case len(g.pending) == 0 && st.idle != nil:
				st.idle()
			}
		}
	}
}

// gathering is what a gather stage holds between writes.
type gathering struct {
	st      *stage
	pending []schema.Event
	oldest  time.Time // when the first pending batch could have been taken
	// queuedSince, when set, is the start of the last write, which batches
	// were waiting at the end of
	queuedSince time.Time
	lastLen     int // events in the last write: pending starts that large
}

func (g *gathering) add(batch []schema.Event) {
	g.st.took(batch)
	if len(g.pending) == 0 {
		g.oldest = time.Now()
		if !g.queuedSince.IsZero() {
			g.oldest, g.queuedSince = g.queuedSince, time.Time{}
		}
		// Grown from nothing, pending was copied over and over
		// (measured, with the proxy's batch, 4 % of the CPU).
		g.pending = make([]schema.Event, 0, max(g.lastLen, len(batch)))
	}
	g.pending = append(g.pending, batch...)
}

// due reports whether the pending events should be written: gatherEvents
// of them, or the oldest waiting for after.
func (g *gathering) due(after time.Duration) bool {
	return len(g.pending) >= g.st.gatherEvents || time.Since(g.oldest) >= after
}

// drain takes the batches already waiting, up to gatherEvents; it
// reports false when in is closed.
func (g *gathering) drain() bool {
	for len(g.pending) < g.st.gatherEvents {
		select {
		case batch, ok := <-g.st.in:
			if !ok {
				return false
			}
			g.add(batch)
		default:
			return true
		}
	}
	return true
}

func (st *stage) took(batch []schema.Event) {
	if st.taken != nil {
		st.taken(len(batch))
	}
}

// write stores batch in the stage's sink, retrying as the stage says, then
// hands it to the next stage.
func (c *Collector) write(giveUp context.Context, st stage, batch []schema.Event) {
	todo := batch
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := st.sink.Write(context.Background(), todo)
		if err == nil {
			if attempt > 0 {
				c.health.ok(st.name)
				c.logger.Info("sink recovered", "sink", st.name, "attempts", attempt+1)
			}
			break
		}
		var partial PartialError
		if errors.As(err, &partial) {
			todo = partial.Unwritten() // what was stored must not be stored twice
		}
		c.health.fail(st.name, err)
		if giveUp.Err() != nil {
			c.stages.abandoned.WithLabelValues(st.name).Add(float64(len(todo)))
			c.logger.Error("shutdown: abandoning events the sink could not store", "sink", st.name, "events", len(todo), "err", err)
			break
		}
		c.stages.retries.WithLabelValues(st.name).Inc()
		if attempt == 0 || attempt%20 == 0 {
			c.logger.Error("sink write failed; retrying, intake slows until it recovers", "sink", st.name, "events", len(todo), "err", err)
		}
		select {
		case <-time.After(backoff):
		case <-giveUp.Done():
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	if st.stored != nil {
		st.stored(len(batch))
	}
	if st.next != nil {
		c.stages.queued.WithLabelValues(st.name).Set(float64(len(st.in)))
		st.next <- batch
	}
}
