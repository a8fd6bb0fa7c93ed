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
