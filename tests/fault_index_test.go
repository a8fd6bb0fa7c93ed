package tests

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// Fault 10: events sharing one timestamp (syslog stamps are whole seconds)
// were indexed in quadratic time: 20,000 took 84 s and a 50k/s syslog
// sender nearly stalled the collector. Finding a free id must be O(1).
// The bound below is a liveness check, about twenty times what it takes (0.5 s; 21 s before the fix): the bench
// measures the speed.
func TestFaultManyEventsOneTimestamp(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	const n = 20000
	stamp := time.Now().Add(-time.Minute).Truncate(time.Second).UTC().Format(time.RFC3339Nano)
	gen := harness.Start(t, work, "loadgen", filepath.Join(binDir, "zlog-loadgen"), "--collector", col.XSub,
		"--count", fmt.Sprint(n), "--service", "samestamp", "--fixed-time", stamp, "--close-timeout", "120s")
	harness.Eventually(t, 10*time.Second, "every event indexed", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_indexed_total")
		return got >= n, fmt.Sprint(got)
	})
	waitLoadgenOK(t, gen)
	checkExactlyOnce(t, data, "samestamp", n)
	evs, _ := logqJSON(t, data, "--service", "samestamp", "--since", "10m", "--limit", "0")
	for _, ev := range evs {
		if got := ev.Time.Format(time.RFC3339Nano); got != stamp {
			t.Fatalf("event %q has time %s, want %s", ev.Message, got, stamp)
		}
	}
}

// Fault 3: one event dated 2200 and one at the largest time made size
// retention delete today's partition (it was not the newest) and keep the
// future ones. Events too far ahead get the receive time and keep their
// own as a field; size retention removes by age, never today's partition.
func TestFaultFutureEventsAndSizeRetention(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data, "--max-index-bytes", "1000000", "--retention-interval", "200ms")
	for i, stamp := range []string{"2200-01-01T00:00:00Z", "2262-04-11T23:47:16.854775807Z"} {
		gen := harness.Start(t, work, fmt.Sprintf("future-%d", i), filepath.Join(binDir, "zlog-loadgen"), "--collector", col.XSub,
			"--count", "1", "--service", fmt.Sprintf("future%d", i), "--fixed-time", stamp)
		waitLoadgenOK(t, gen)
	}
	const n = 20000
	gen := startLoad(t, work, col.XSub, "today", n, 0)
	waitLoadgenOK(t, gen)
	checks := col.Metric(t, "zlog_collector_retention_checks_total")
	harness.Eventually(t, 10*time.Second, "retention looked at the full index twice", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_retention_checks_total")
		return got >= checks+2, fmt.Sprint(got)
	})
	checkExactlyOnce(t, data, "today", n)
	for i, stamp := range []string{"2200-01-01T00:00:00Z", "2262-04-11T23:47:16.854775807Z"} {
		evs, _ := logqJSON(t, data, "--service", fmt.Sprintf("future%d", i), "--since", "10m")
		if len(evs) != 1 {
			t.Fatalf("event dated %s: %d found in the last 10 minutes, want 1 (stamped on receipt)", stamp, len(evs))
		}
		if got := evs[0].Fields["original_time"]; got != stamp {
			t.Errorf("event dated %s: original_time = %q", stamp, got)
		}
	}
	if got := col.Metric(t, "zlog_collector_future_events_total"); got != 2 {
		t.Errorf("zlog_collector_future_events_total = %v, want 2", got)
	}
	parts, _ := filepath.Glob(filepath.Join(data, "index", "*.db"))
	today := time.Now().UTC().Format(time.DateOnly) + ".db"
	for _, p := range parts {
		if base := filepath.Base(p); base != today {
			t.Errorf("partition %s exists besides today's %s", base, today)
		}
	}
}
