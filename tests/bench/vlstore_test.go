package bench

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// vlStore: issue #19's ingest rows. 200,000 events from 4 publishers
// (each holding up to 100,000 unacknowledged) through one collector with
// --store victorialogs into a cluster of 1 and of 2 storage nodes
// (vlinsert, vlselect; -inmemoryDataFlushInterval=1s, VictoriaLogs'
// smallest), until every event is acknowledged: events/s, how long the
// last acknowledgement came after the last event was published, and the
// collector's CPU per 1M events.
func (e *env) vlStore(t *testing.T) {
	const total, pubs = 200_000, 4
	const section = "VictoriaLogs store (--store victorialogs, flush interval 1s), 200k events, 4 publishers"
	for _, nodes := range []int{1, 2} {
		var rate, tail, cpu []float64
		for run := 0; run < e.runs; run++ {
			work := e.dir(fmt.Sprintf("vlstore-%d-%d", nodes, run))
			c := harness.StartVLCluster(t, work, nodes, "1s")
			col := harness.StartCollector(t, e.bin, work, filepath.Join(work, "data"),
				"--store", "victorialogs", "--vl-insert", c.InsertURL, "--vl-select", c.SelectURL, "--vl-flush-interval", "1s")
			var gens []*harness.Proc
			for p := 0; p < pubs; p++ {
				gens = append(gens, harness.Start(t, work, fmt.Sprintf("loadgen-%d", p), filepath.Join(e.bin, "zlog-loadgen"),
					"--collector", col.XSub, "--count", strconv.Itoa(total), "--parts", strconv.Itoa(pubs), "--part", strconv.Itoa(p),
					"--now", "--seed", "1", "--queue-size", "100000", "--close-timeout", "5m", "--hold"))
			}
			startTogether(t, gens)
			var start, end int64
			var lastPublished float64
			for _, g := range gens {
				res := g.WaitLine(t, regexp.MustCompile(`^(\{.*\})$`), 10*time.Minute)
				var lr struct {
					StartUnixNano int64   `json:"start_unix_nano"`
					Seconds       float64 `json:"seconds"`
					Acked         int     `json:"acked"`
					PublishSecs   float64 `json:"publish_seconds"`
				}
				json.Unmarshal([]byte(res[1]), &lr)
				if lr.Acked != total/pubs {
					t.Fatalf("publisher %s: %d of %d acknowledged", g.Name, lr.Acked, total/pubs)
				}
				if start == 0 || lr.StartUnixNano < start {
					start = lr.StartUnixNano
				}
				end = max(end, lr.StartUnixNano+int64(lr.Seconds*1e9))
				lastPublished = max(lastPublished, float64(lr.StartUnixNano)/1e9+lr.PublishSecs)
			}
			secs := float64(end-start) / 1e9
			rate = append(rate, total/secs)
			tail = append(tail, float64(end)/1e9-lastPublished)
			cpu = append(cpu, procCPUSeconds(t, col.Cmd.Process.Pid)*1e6/total)
			col.Signal(t, syscall.SIGTERM, time.Minute)
			t.Logf("VictoriaLogs store, %d storage nodes, run %d: %.0f events/s acknowledged, last ack %.1fs after the last publish", nodes, run, total/secs, tail[len(tail)-1])
		}
		label := fmt.Sprintf("%d storage node", nodes)
		if nodes > 1 {
			label += "s"
		}
		e.report.add(section, "acknowledged ingest, "+label, "events/s", rate, "", nil)
		e.report.add(section, "last acknowledgement after the last publish, "+label, "s", tail, "", nil)
		e.report.add(section, "collector CPU per 1M events, "+label, "CPU s", cpu, "", nil)
	}
}
