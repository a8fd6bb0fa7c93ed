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
// (or gatherEvents), which is what makes FTS5 ingestion fast.
func (c *Collector) gatherStage(giveUp context.Context, st stage) error {
	ticker := time.NewTicker(st.gather / 2)
	defer ticker.Stop()
	var pending []schema.Event
	var oldest time.Time
	lastLen := 0 // events in the last write: pending starts that large
	write := func() {
		lastLen = len(pending)
		c.write(giveUp, st, pending)
		pending = nil
	}
	for {
		select {
		case batch, ok := <-st.in:
			if !ok {
				if len(pending) > 0 {
					c.write(giveUp, st, pending)
				}
				return nil
			}
			st.took(batch)
			if len(pending) == 0 {
				oldest = time.Now()
				// Grown from nothing, pending was copied over and over
				// (measured, with the proxy's batch, 4 % of the CPU).
				pending = make([]schema.Event, 0, max(lastLen, len(batch)))
			}
			pending = append(pending, batch...)
			if len(pending) >= st.gatherEvents || time.Since(oldest) >= st.gather {
				write()
			}
		case <-ticker.C:
			if st.tick != nil {
				st.tick()
			}
			switch {
			case len(pending) > 0 && time.Since(oldest) >= st.gather/2:
				write()
			case len(pending) == 0 && st.idle != nil:
				st.idle()
			}
		}
	}
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
