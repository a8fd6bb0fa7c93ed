package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Batches of any size fit until the bound's events are queued (forty
// small batches do not fill it, as they filled a bound of batches); a
// batch larger than the bound takes all of it rather than waiting
// forever; the gauge shows what is queued.
func TestEventBoundCountsEventsNotBatches(t *testing.T) {
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queued"})
	b := newEventBound(100, gauge)
	for range 40 {
		b.acquire(1)
	}
	if !b.sem.TryAcquire(60) {
		t.Fatal("40 one-event batches filled a bound of 100 events")
	}
	b.sem.Release(60)
	b.acquire(60)
	if got := testutil.ToFloat64(gauge); got != 100 || b.sem.TryAcquire(1) {
		t.Fatalf("gauge %v, and room left: want 100 and none", got)
	}
	b.release(60)
	for range 40 {
		b.release(1)
	}
	done := make(chan struct{})
	go func() { b.acquire(500); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a batch over the bound waits forever")
	}
	if got := testutil.ToFloat64(gauge); got != 100 || b.sem.TryAcquire(1) {
		t.Fatalf("a batch over the bound: gauge %v, or room left; want 100 and none", got)
	}
	b.release(500)
	if got := testutil.ToFloat64(gauge); got != 0 || !b.sem.TryAcquire(100) {
		t.Fatalf("gauge %v after every batch was taken, or the bound not free; want 0", got)
	}
}
