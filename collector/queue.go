package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// eventBound bounds the events between the proxy and the index stage:
// acquire blocks while max are queued, until the index stage takes
// batches off its channel.
type eventBound struct {
	sem   *semaphore.Weighted
	max   int
	gauge prometheus.Gauge
}

func newEventBound(max int, gauge prometheus.Gauge) *eventBound {
	return &eventBound{sem: semaphore.NewWeighted(int64(max)), max: max, gauge: gauge}
}

// weight is what a batch of n events holds of the bound: a batch larger
// than the bound takes all of it, rather than waiting forever.
func (b *eventBound) weight(n int) int { return min(n, b.max) }

// acquire waits until n more events fit. It never gives up: the index
// stage takes every batch, also while shutting down.
func (b *eventBound) acquire(n int) {
	w := b.weight(n)
	_ = b.sem.Acquire(context.Background(), int64(w)) // fails only when its context ends
	b.gauge.Add(float64(w))
}

// release frees what a batch of n events held.
func (b *eventBound) release(n int) {
	w := b.weight(n)
	b.sem.Release(int64(w))
	b.gauge.Sub(float64(w))
}
