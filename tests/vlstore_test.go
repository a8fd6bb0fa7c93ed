package tests

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/vlstore"
	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
)

// startVictoriaLogs runs a VictoriaLogs single node on loopback and
// returns it and its URL once it answers.
func startVictoriaLogs(t *testing.T, work string, args ...string) (*harness.Proc, string) {
	t.Helper()
	port := harness.FreePort(t)
	p := harness.Start(t, work, "victoria-logs", harness.VictoriaLogsBinary(t), append([]string{
		"-storageDataPath=" + filepath.Join(work, "vl-data"), "-httpListenAddr=127.0.0.1:" + port,
		"-retentionPeriod=100y", "-loggerLevel=WARN"}, args...)...)
	url := "http://127.0.0.1:" + port
	harness.Eventually(t, 30*time.Second, "VictoriaLogs answering", func() (bool, string) {
		resp, err := http.Get(url + "/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return p, url
}

// openVLStore is a vlstore.Store on insert and sel, closed when t ends (a
// zero timeout takes the store's default).
func openVLStore(t *testing.T, insert, sel string, timeout time.Duration) *vlstore.Store {
	t.Helper()
	store, err := vlstore.New(vlstore.Options{InsertURL: insert, SelectURL: sel, Timeout: timeout}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// The VictoriaLogs store against a real VictoriaLogs: what Write sent is
// confirmed only by Count, holes are named by Missing, each stream's
// extent (lowest, highest and distinct seqs) is read back by Extents, typed fields stay numbers, and a
// node that does not answer gives an error, never a count.
func TestVictoriaLogsStore(t *testing.T) {
	work := harness.WorkDir(t)
	vl, url := startVictoriaLogs(t, work)
	store := openVLStore(t, url, url, 2*time.Second)
	ctx := context.Background()
	at := time.Now().Add(-time.Minute)
	event := func(pub, service string, level schema.Level, seq uint64) schema.Event {
		return schema.Event{Time: at.Add(time.Duration(seq) * time.Millisecond), Service: service, Level: level, Host: "h1",
			Message: fmt.Sprintf("event %d", seq), Publisher: pub, Seq: seq,
			Fields: schema.Fields{"duration_ms": int64(seq), "level": "shadowed", "ok": seq%2 == 0}, Labels: schema.Labels{"env": "prod"}}
	}
	a := schema.Stream{Publisher: "p1", Topic: "shop.info"}
	b := schema.Stream{Publisher: "p1", Topic: "shop.error"}
	var batch []schema.Event
	for seq := uint64(1); seq <= 500; seq++ {
		batch = append(batch, event("p1", "shop", schema.LevelInfo, seq))
	}
	for seq := uint64(1); seq <= 10; seq++ {
		if seq != 4 && seq != 7 {
			batch = append(batch, event("p1", "shop", schema.LevelError, seq))
		}
	}
	if err := store.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "stream a complete", func() (bool, string) {
		n, err := store.Count(ctx, a, 1, 500)
		return err == nil && n == 500, fmt.Sprint(n, err)
	})
	if n, err := store.Count(ctx, b, 1, 10); err != nil || n != 8 {
		t.Errorf("count of b 1..10 = %d, %v; want 8", n, err)
	}
	if miss, err := store.Missing(ctx, b, 1, 10); err != nil || !slices.Equal(miss, []uint64{4, 7}) {
		t.Errorf("missing of b = %v, %v; want [4 7]", miss, err)
	}
	ext, err := store.Extents(ctx)
	if err != nil || ext[a] != (vlstore.Extent{Lo: 1, Hi: 500, Count: 500, First: ext[a].First}) || !ext[a].First.Equal(at.Add(time.Millisecond)) ||
		ext[b] != (vlstore.Extent{Lo: 1, Hi: 10, Count: 8, First: ext[b].First}) || len(ext) != 2 {
		t.Errorf("extents = %v, %v", ext, err)
	}
	if n, err := store.Count(ctx, a, 100, 199); err != nil || n != 100 {
		t.Errorf("count of a 100..199 = %d, %v; want 100", n, err)
	}
	// A stream whose lowest seq is above 1 starts there once its oldest
	// event is a minute old; before, its seqs below may still be coming.
	young, old := schema.Stream{Publisher: "p2", Topic: "shop.info"}, schema.Stream{Publisher: "p3", Topic: "shop.info"}
	batch = batch[:0]
	for seq := uint64(5); seq <= 9; seq++ {
		ev := event("p2", "shop", schema.LevelInfo, seq)
		ev.Time = time.Now()
		batch = append(batch, ev, event("p3", "shop", schema.LevelInfo, seq))
	}
	if err := store.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "the streams with seqs 5..9 stored", func() (bool, string) {
		marks, err := store.Marks(ctx)
		return err == nil && marks[young].Hi == 9 && marks[old].Hi == 9, fmt.Sprint(marks, err)
	})
	marks, err := store.Marks(ctx)
	if err != nil || marks[young] != (vlstore.Mark{Lo: 5, Hi: 9, Whole: 0}) || marks[old] != (vlstore.Mark{Lo: 5, Hi: 9, Whole: 9}) ||
		marks[b] != (vlstore.Mark{Lo: 1, Hi: 10, Whole: 3}) {
		t.Errorf("marks = %v, %v; want the young stream's whole at 0, the old one's at 9, b's at 3", marks, err)
	}

	vl.Cmd.Process.Signal(syscall.SIGSTOP)
	harness.WaitStopped(t, vl.Cmd.Process.Pid)
	n, err := store.Count(ctx, a, 1, 500)
	vl.Cmd.Process.Signal(syscall.SIGCONT)
	if err == nil {
		t.Errorf("a stopped VictoriaLogs counted %d", n)
	}
}

// A new stream is listed as soon as VictoriaLogs counts it. VictoriaLogs
// skips the rows of a stream its stream index does not show yet (a second
// or more after the stream's first rows are readable) from any query that
// asks for _stream, as one listing every field does: logq listed 0 events
// while it counted 15,133, and a follower missed the first thousands of
// events of each stream. One batch larger than a storage block makes its
// rows readable at once, well before the stream's index entry.
func TestVictoriaLogsListsANewStreamAtOnce(t *testing.T) {
	work := harness.WorkDir(t)
	_, url := startVictoriaLogs(t, work)
	store := openVLStore(t, url, url, 5*time.Second)
	at := time.Now().Add(-time.Minute)
	var batch []schema.Event
	for seq := uint64(1); seq <= 20000; seq++ {
		batch = append(batch, schema.Event{Time: at.Add(time.Duration(seq) * time.Microsecond), Service: "fresh", Level: schema.LevelInfo,
			Host: "h1", Publisher: "p-fresh", Seq: seq, Message: fmt.Sprintf("event %d %s", seq, strings.Repeat("x", 200))})
	}
	if err := store.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	src := []string{"--store", "victorialogs", "--vl-select", url, "--since", "1h", "--service", "fresh"}
	var counted int
	harness.Eventually(t, 30*time.Second, "some of the new stream counted", func() (bool, string) {
		r := harness.Logq(t, binDir, append([]string{"search", "--count"}, src...)...)
		counted, _ = strconv.Atoi(strings.TrimSpace(r.Stdout))
		return counted > 0, r.Stdout + r.Stderr
	})
	r := harness.Logq(t, binDir, append([]string{"search", "--limit", "0", "-o", "raw"}, src...)...)
	if listed := strings.Count(r.Stdout, "\n"); listed < counted {
		t.Errorf("logq listed %d events of a stream it had just counted %d of (exit %d, %s)", listed, counted, r.Code, r.Stderr)
	}
}

// A collector with --store victorialogs: a publisher's 30,000 events are
// all acknowledged and each is in VictoriaLogs exactly once, though
// VictoriaLogs is killed with SIGKILL in the middle (losing what it had
// answered 200 to but not flushed) and started again, and killed once
// more after the last acknowledgement. The collector
// acknowledges only what a count confirms after the flush interval, and
// writes again only what the count did not find.
func TestCollectorOnVictoriaLogs(t *testing.T) {
	work := harness.WorkDir(t)
	vlWork := filepath.Join(work, "vl")
	port := harness.FreePort(t)
	args := []string{"-storageDataPath=" + filepath.Join(vlWork, "data"), "-httpListenAddr=127.0.0.1:" + port,
		"-retentionPeriod=100y", "-loggerLevel=WARN", "-inmemoryDataFlushInterval=1s"}
	bin := harness.VictoriaLogsBinary(t)
	vl := harness.Start(t, work, "victoria-logs-1", bin, args...)
	base := "http://127.0.0.1:" + port
	store := openVLStore(t, base, base, 5*time.Second)
	waitVL := func() {
		harness.Eventually(t, 30*time.Second, "VictoriaLogs answering", func() (bool, string) {
			_, err := store.Extents(context.Background())
			return err == nil, fmt.Sprint(err)
		})
	}
	waitVL()
	col := harness.StartCollector(t, binDir, work, filepath.Join(work, "data"),
		"--store", "victorialogs", "--vl-insert", base, "--vl-select", base, "--vl-flush-interval", "1s")
	const n = 30000
	gen := startLoad(t, work, col.XSub, "onvl", n, 5000)
	harness.Eventually(t, time.Minute, "a third confirmed", func() (bool, string) {
		v := col.Metric(t, "zlog_collector_vl_confirmed_total")
		return v >= n/3, fmt.Sprint(v)
	})
	vl.Signal(t, syscall.SIGKILL, 10*time.Second)
	vl = harness.Start(t, work, "victoria-logs-2", bin, args...)
	waitVL()
	waitLoadgenOK(t, gen)
	// What was acknowledged is on disk: a second SIGKILL loses none of it.
	vl.Signal(t, syscall.SIGKILL, 10*time.Second)
	harness.Start(t, work, "victoria-logs-3", bin, args...)
	waitVL()
	rows, err := vlQuery(base, `service:=onvl | stats count() as n, count_uniq(_msg) as u, count_uniq(seq) as s`)
	if err != nil || len(rows) != 1 || rows[0]["n"] != fmt.Sprint(n) || rows[0]["u"] != fmt.Sprint(n) || rows[0]["s"] != fmt.Sprint(n) {
		t.Fatalf("VictoriaLogs holds %v (%v); want %d events, each once", rows, err, n)
	}
	t.Logf("written again after the kill: %v events", col.Metric(t, "zlog_collector_vl_rewritten_total"))
}

// vlQuery runs a LogsQL query on base and returns its rows.
func vlQuery(base, q string) ([]map[string]string, error) {
	store, err := vlstore.New(vlstore.Options{InsertURL: base, SelectURL: base}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	return store.Query(context.Background(), q)
}

// Two collectors on a 2-storage cluster, each with a publisher spooling
// to disk, while, in turn, one collector is SIGKILLed and replaced by
// another on its address, a storage node is SIGKILLed, the insert node is
// SIGKILLed, a storage node is stopped for 10 s (and SIGKILLed as soon as
// anything is acknowledged after it resumed), and both storage nodes are
// down for 10 s, each started again: every event is in the cluster
// exactly once, and the publishers end with nothing unacknowledged.
func TestCollectorOnVictoriaLogsCluster(t *testing.T) {
	work := harness.WorkDir(t)
	c := harness.StartVLCluster(t, work, 2, "1s")
	vlArgs := []string{"--store", "victorialogs", "--vl-insert", c.InsertURL, "--vl-select", c.SelectURL, "--vl-flush-interval", "1s"}
	var cols [2]*harness.Collector
	var gens [2]*harness.Proc
	const perCollector = 100000
	for i := range cols {
		dir := filepath.Join(work, fmt.Sprintf("collector-%d", i+1))
		os.MkdirAll(dir, 0o755)
		cols[i] = harness.StartCollector(t, binDir, dir, filepath.Join(dir, "data"), vlArgs...)
		gens[i] = harness.Start(t, work, fmt.Sprintf("loadgen-%d", i+1), filepath.Join(binDir, "zlog-loadgen"), "--collector", cols[i].XSub,
			"--count", strconv.Itoa(perCollector), "--rate", "2000", "--service", fmt.Sprintf("cluster-%d", i+1), "--now",
			"--spool", filepath.Join(work, fmt.Sprintf("spool-%d", i+1)), "--close-timeout", "180s")
	}
	var dead float64 // confirmed by collectors since killed
	total := func() float64 {
		return dead + cols[0].Metric(t, "zlog_collector_vl_confirmed_total") + cols[1].Metric(t, "zlog_collector_vl_confirmed_total")
	}
	confirmed := func(atLeast float64) {
		harness.Eventually(t, 2*time.Minute, fmt.Sprintf("%v confirmed", atLeast), func() (bool, string) {
			v := total()
			return v >= atLeast, fmt.Sprint(v)
		})
	}
	const n = 2 * perCollector
	confirmed(n / 10)
	// A collector dies mid-stream; another takes its address, with the
	// same store: it reads the streams' marks from the cluster, and the
	// publisher resends what was not acknowledged. The other collector
	// carries on; the replacement lives through the faults that follow.
	dead = cols[0].Metric(t, "zlog_collector_vl_confirmed_total")
	cols[0].Signal(t, syscall.SIGKILL, 10*time.Second)
	dir := filepath.Join(work, "collector-3")
	os.MkdirAll(dir, 0o755)
	cols[0] = harness.StartCollector(t, binDir, dir, filepath.Join(dir, "data"), append([]string{"--xsub", cols[0].XSub}, vlArgs...)...)
	confirmed(n * 3 / 10)
	c.Signal("vlstorage-1", syscall.SIGKILL)
	c.Start("vlstorage-1")
	confirmed(n * 4 / 10)
	c.Signal("vlinsert", syscall.SIGKILL)
	c.Start("vlinsert")
	confirmed(n * 6 / 10)
	// A stopped node flushes nothing: what it held in memory when it
	// stopped is still only there when it resumes. The first events
	// acknowledged after it resumed must survive its death right then.
	c.Signal("vlstorage-2", syscall.SIGSTOP)
	time.Sleep(10 * time.Second) // the fault's length, not a wait for a condition
	c.Signal("vlstorage-2", syscall.SIGCONT)
	confirmed(total() + 1)
	c.Signal("vlstorage-2", syscall.SIGKILL)
	c.Start("vlstorage-2")
	confirmed(n * 7 / 10)
	c.Signal("vlstorage-1", syscall.SIGKILL)
	c.Signal("vlstorage-2", syscall.SIGKILL)
	time.Sleep(10 * time.Second) // both down this long
	c.Start("vlstorage-1")
	c.Start("vlstorage-2")
	if resent := waitLoadgenOK(t, gens[0]); resent == 0 {
		t.Errorf("the publisher of the collector killed resent nothing: the kill found nothing unacknowledged")
	}
	waitLoadgenOK(t, gens[1])
	c.WaitQueryable()
	for i := range cols {
		svc := fmt.Sprintf("cluster-%d", i+1)
		rows, err := vlQuery(c.SelectURL, `service:=`+svc+` | stats count() as n, count_uniq(_msg) as u, count_uniq(seq) as s`)
		if err != nil || len(rows) != 1 || rows[0]["n"] != fmt.Sprint(perCollector) || rows[0]["u"] != fmt.Sprint(perCollector) || rows[0]["s"] != fmt.Sprint(perCollector) {
			t.Errorf("the cluster holds of %s %v (%v); want %d events, each once", svc, rows, err, perCollector)
		}
	}
	t.Logf("the replacement collector wrote again %v events; its confirmation queries failed %v times", cols[0].Metric(t, "zlog_collector_vl_rewritten_total"),
		cols[0].Metric(t, "zlog_collector_vl_check_errors_total"))
}

// With a storage node down, logq through vlselect refuses to answer
// rather than answer short; --partial lists the events of the node that
// answers, with a warning; a count is never partial.
func TestLogqPartialOnVictoriaLogsCluster(t *testing.T) {
	work := harness.WorkDir(t)
	c := harness.StartVLCluster(t, work, 2, "1s")
	store := openVLStore(t, c.InsertURL, c.SelectURL, 0)
	const n = 2000
	var batch []schema.Event
	at := time.Now().Add(-time.Minute)
	for seq := uint64(1); seq <= n; seq++ {
		batch = append(batch, schema.Event{Time: at.Add(time.Duration(seq) * time.Millisecond), Service: "part", Level: schema.LevelInfo,
			Host: fmt.Sprintf("h%d", seq%10), Message: fmt.Sprintf("event %d", seq), Publisher: "p1", Seq: seq})
	}
	if err := store.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	src := []string{"--store", "victorialogs", "--vl-select", c.SelectURL, "--since", "1h"}
	harness.Eventually(t, 30*time.Second, "all events searchable", func() (bool, string) {
		r := harness.Logq(t, binDir, append([]string{"search", "--count"}, src...)...)
		return strings.TrimSpace(r.Stdout) == fmt.Sprint(n), r.Stdout + r.Stderr
	})
	c.Signal("vlstorage-2", syscall.SIGKILL)
	list := append([]string{"search", "--limit", "0", "-o", "raw"}, src...)
	if r := harness.Logq(t, binDir, list...); r.Code == 0 || r.Stdout != "" || !strings.Contains(r.Stderr, "storage node") {
		t.Errorf("search with a node down: exit %d, %d bytes out, stderr %q; want a refusal naming the node", r.Code, len(r.Stdout), r.Stderr)
	}
	r := harness.Logq(t, binDir, append(list, "--partial")...)
	got := strings.Count(r.Stdout, "\n")
	if r.Code != 0 || got == 0 || got >= n || !strings.Contains(r.Stderr, "partial answer") {
		t.Errorf("--partial with a node down: exit %d, %d of %d events, stderr %q; want some, with a warning", r.Code, got, n, r.Stderr)
	}
	if r := harness.Logq(t, binDir, append([]string{"search", "--count", "--partial"}, src...)...); r.Code == 0 {
		t.Errorf("--count --partial with a node down answered %q: a count is never partial", r.Stdout)
	}
}
