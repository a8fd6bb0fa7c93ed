package tests

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/query/api"
	"github.com/zlog/zlog/tests/harness"
)

// logq on the collector's host asks it through <data>/query.sock, with
// the answers and warnings it would give reading the index itself;
// --direct reads the index; and a socket left by a killed collector
// makes logq read the index, not fail.
func TestLogqAsksTheCollectorOnItsSocket(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agentPipe(t, col.XSub, "api", "ERROR upstream timeout\nINFO served / in 3ms\nWARN slow: 1200ms\n")
	waitStored(t, data, 3, "--direct")
	// A partition of yesterday in an older format: skipped, with a warning.
	yesterday := index.PartitionFile(filepath.Join(data, "index"), time.Now().UTC().Add(-24*time.Hour))
	db, err := sql.Open("sqlite3", yesterday)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 3"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	asked := func() float64 { return col.Metric(t, "zlog_collector_query_socket_requests_total") }
	args := []string{"search", "--data", data, "--since", "2d", "timeout", "-o", "json"}
	before := asked()
	direct := harness.Logq(t, binDir, append(args, "--direct")...)
	if n := asked() - before; n != 0 {
		t.Fatalf("logq --direct asked the collector %v times", n)
	}
	if got := direct; got.Code != 0 || !strings.Contains(got.Stdout, "upstream timeout") ||
		!strings.Contains(got.Stderr, "logq: warning:") || !strings.Contains(got.Stderr, "older format") {
		t.Fatalf("--direct: exit %d\n%s%s", got.Code, got.Stdout, got.Stderr)
	}
	socket := harness.Logq(t, binDir, args...)
	if socket.Code != 0 || socket.Stdout != direct.Stdout || socket.Stderr != direct.Stderr {
		t.Fatalf("through the socket: exit %d\n%s%s\nreading the index:\n%s%s", socket.Code, socket.Stdout, socket.Stderr, direct.Stdout, direct.Stderr)
	}
	if n := asked() - before; n < 1 {
		t.Fatal("logq read the index itself: the collector served no request on its socket")
	}
	// Killed, the collector leaves its socket behind; nobody answers there.
	col.Signal(t, syscall.SIGKILL, 10*time.Second)
	if _, err := os.Stat(api.SocketPath(data)); err != nil {
		t.Fatalf("the killed collector's socket: %v", err)
	}
	if after := harness.Logq(t, binDir, args...); after.Code != 0 || after.Stdout != direct.Stdout || after.Stderr != direct.Stderr {
		t.Fatalf("with a dead socket: exit %d\n%s%s", after.Code, after.Stdout, after.Stderr)
	}
	// The next collector binds it again (without the fake partition,
	// which it would try to upgrade).
	if err := os.Remove(yesterday); err != nil {
		t.Fatal(err)
	}
	col = harness.StartCollector(t, binDir, work, data)
	before = asked()
	if again := harness.Logq(t, binDir, args...); again.Code != 0 || again.Stdout != direct.Stdout || asked()-before < 1 {
		t.Fatalf("after a restart: exit %d, %v requests on the socket\n%s%s", again.Code, asked()-before, again.Stdout, again.Stderr)
	}
}
