package vlsink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zlog/zlog/collector/vlstore"
	"github.com/zlog/zlog/schema"
)

// stallingCluster answers inserts and counts as a healthy VictoriaLogs
// holding every event written, except that a count may be told to hang,
// as a SIGSTOPped storage node makes it (its flusher hangs as long).
type stallingCluster struct {
	mu      sync.Mutex
	written int
	counts  int           // counts answered
	stall   chan struct{} // non-nil: the next count waits for it to close
	stalled chan struct{} // closed when a count starts waiting
}

func (c *stallingCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/insert/"):
		c.written += strings.Count(string(body), "\n")
		c.mu.Unlock()
	default:
		stall, stalled := c.stall, c.stalled
		c.stall = nil
		n := c.written
		if n > 0 {
			c.counts++
		}
		c.mu.Unlock()
		if stall != nil {
			close(stalled)
			<-stall
		}
		fmt.Fprintf(w, `{"n":"%d"}`+"\n", n)
	}
}

// A count that hung (a stopped node, whose rows stay in its memory as
// long) starts the flush window again: nothing is acknowledged until the
// cluster has answered promptly for FlushDelay after it, even though the
// run was found whole long before.
func TestSinkWindowRestartsAfterStall(t *testing.T) {
	cluster := &stallingCluster{}
	srv := httptest.NewServer(cluster)
	defer srv.Close()
	store, err := vlstore.New(vlstore.Options{InsertURL: srv.URL, SelectURL: srv.URL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const flush = 500 * time.Millisecond
	acked := make(chan time.Time, 10)
	sink := New(store, Options{FlushDelay: flush, CheckEvery: 10 * time.Millisecond, SlowCount: 100 * time.Millisecond,
		Committed: func(map[schema.Stream]uint64) { acked <- time.Now() }}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); sink.Run(ctx) }()
	defer wg.Wait()
	defer cancel()

	stall, stalled := make(chan struct{}), make(chan struct{})
	var batch []schema.Event
	for seq := uint64(1); seq <= 10; seq++ {
		batch = append(batch, schema.Event{Time: time.Now(), Service: "s", Level: schema.LevelInfo, Publisher: "p", Seq: seq})
	}
	if err := sink.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for whole := false; !whole; { // a count finds the run whole: its window starts
		if time.Now().After(deadline) {
			t.Fatal("no count found the run within 10s")
		}
		time.Sleep(5 * time.Millisecond)
		cluster.mu.Lock()
		whole = cluster.counts > 0
		cluster.mu.Unlock()
	}
	cluster.mu.Lock()
	cluster.stall, cluster.stalled = stall, stalled
	cluster.mu.Unlock()
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("no count came to the stalling node within 10s")
	}
	time.Sleep(2 * flush) // the node stays stopped past the whole window
	resumed := time.Now()
	close(stall)
	select {
	case at := <-acked:
		if at.Sub(resumed) < flush {
			t.Fatalf("acknowledged %v after the stalled node resumed; want at least FlushDelay (%v) of prompt answers first", at.Sub(resumed), flush)
		}
	case <-time.After(10 * flush):
		t.Fatal("never acknowledged after the node resumed")
	}
	if n := testutil.ToFloat64(sink.slowCounts); n < 1 {
		t.Errorf("zlog_collector_vl_slow_counts_total = %v after a stalled count", n)
	}
}
