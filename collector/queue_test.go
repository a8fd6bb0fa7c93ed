package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Batches of any size fit until the bound's events are queued; the next
// waits until a batch is taken, and one larger than the bound takes all of
// it. The gauge shows what is queued.
func TestEventBoundCountsEventsNotBatches(t *testing.T) {
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queued"})
	b := newEventBound(100, gauge)
	for range 40 {
		b.acquire(1) // forty small batches: a bound of batches would be full
	}
	b.acquire(60)
	if got := testutil.ToFloat64(gauge); got != 100 {
		t.Fatalf("gauge %v, want 100", got)
	}
	acquired := make(chan struct{})
	go func() {
		b.acquire(500) // larger than the bound: waits for all of it
		close(acquired)
	}()
	select {
	case <-acquired:
		t.Fatal("a batch got in over the bound")
	case <-time.After(50 * time.Millisecond): // it must still be waiting; no event to wait on
	}
	b.release(60)
	for range 40 {
		b.release(1)
	}
	<-acquired
	b.release(500)
	if got := testutil.ToFloat64(gauge); got != 0 {
		t.Fatalf("gauge %v after every batch was taken, want 0", got)
	}
}
