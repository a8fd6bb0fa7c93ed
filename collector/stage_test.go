package collector

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/schema"
)

// slowSink's first write takes hold, as a slow commit does; it says when
// that write began, and reports each write's size and when it began and
// ended.
type slowSink struct {
	hold    time.Duration
	started chan struct{}
	writes  chan sinkWrite
	n       int
}

type sinkWrite struct {
	events     int
	start, end time.Time
}

func (s *slowSink) Write(_ context.Context, batch []schema.Event) error {
	w := sinkWrite{events: len(batch), start: time.Now()}
	if s.n++; s.n == 1 {
		close(s.started)
		<-time.After(s.hold)
	}
	w.end = time.Now()
	s.writes <- w
	return nil
}

func (s *slowSink) Close() error { return nil }

// Events that queued while a commit ran are written as soon as it ends
// when they have waited a whole interval by then, all of them in one
// write; before, their wait began when the stage took them, so a slow
// commit added a whole interval to their freshness.
func TestGatherCountsWaitFromWhenEventsQueued(t *testing.T) {
	const gather = 2 * time.Second
	c := &Collector{logger: slog.New(slog.DiscardHandler), stages: newStageMetrics(prometheus.NewRegistry(), "index")}
	in := make(chan []schema.Event, 8)
	// The first commit is slow: the events queued behind it have waited an
	// interval by the time it ends.
	sink := &slowSink{hold: gather, started: make(chan struct{}), writes: make(chan sinkWrite, 8)}
	done := make(chan error, 1)
	go func() {
		done <- c.gatherStage(context.Background(), stage{name: "index", sink: sink, in: in, gather: gather, gatherEvents: 3})
	}()
	in <- make([]schema.Event, 3) // due at once: gatherEvents
	<-sink.started
	in <- make([]schema.Event, 1)
	in <- make([]schema.Event, 1)
	first, second := <-sink.writes, <-sink.writes
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if second.events != 2 || second.start.Sub(first.end) >= gather/2 {
		t.Fatalf("after a commit of %v, %d queued events were written %v later; want both at once",
			first.end.Sub(first.start).Round(time.Millisecond), second.events, second.start.Sub(first.end).Round(time.Millisecond))
	}
}
