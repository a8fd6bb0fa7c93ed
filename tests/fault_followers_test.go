package tests

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// Fault 13: 50 /api/v1/follow clients that never read made the collector
// grow from 93 to 611 MB (584 MB after they left) and ingest 2.5x slower.
// Each follower's buffer is bounded, and a follower that accepts nothing
// for --follow-stall-timeout is disconnected and counted.
func TestFaultFollowersThatNeverRead(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data, "--follow-stall-timeout", "3s")
	const followers = 50
	var conns []net.Conn
	for i := 0; i < followers; i++ {
		c, err := net.Dial("tcp", col.HTTP)
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetReadBuffer(4096) // and never read: the server's writes block soon
		fmt.Fprintf(c, "GET /api/v1/follow?since=1h HTTP/1.1\r\nHost: zlog\r\n\r\n")
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	harness.Eventually(t, 10*time.Second, "followers subscribed", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_followers")
		return got >= followers, fmt.Sprint(got)
	})
	const n = 200000
	gen := startLoad(t, work, col.XSub, "unread", n, 0)
	harness.Eventually(t, time.Minute, "every event indexed", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_indexed_total")
		return got >= n, fmt.Sprint(got)
	})
	waitLoadgenOK(t, gen)
	harness.Eventually(t, 30*time.Second, "stalled followers disconnected", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_followers_dropped_total")
		if got < followers {
			if resp, err := http.Get("http://" + col.HTTP + "/debug/pprof/goroutine?debug=1"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				os.WriteFile(filepath.Join(work, "goroutines.txt"), b, 0o644)
			}
		}
		return got >= followers, fmt.Sprint(got)
	})
	mib := peakRSSMiB(t, col.Pid())
	t.Logf("collector peak RSS %d MiB", mib)
	if mib > 200 {
		t.Errorf("collector peak RSS %d MiB with %d followers that never read, bound is 200 MiB", mib, followers)
	}
	harness.Eventually(t, 10*time.Second, "no follower left", func() (bool, string) {
		got := col.Metric(t, "zlog_collector_followers")
		return got == 0, fmt.Sprint(got)
	})
	checkExactlyOnce(t, data, "unread", n)
}
