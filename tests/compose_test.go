//go:build compose

package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/tests/harness"
)

// compose runs docker-compose (Compose v1, as Debian ships it) or
// `docker compose` on the reference deployment under a project of its own.
type compose struct {
	t       *testing.T
	project string
	env     []string
	file    string // under docker/; compose.yaml when empty
}

func (c *compose) run(args ...string) (string, error) {
	file := c.file
	if file == "" {
		file = "compose.yaml"
	}
	base := []string{"-p", c.project, "-f", filepath.Join(harness.ModuleRoot(), "docker", file)}
	var cmd *exec.Cmd
	if _, err := exec.LookPath("docker-compose"); err == nil {
		cmd = exec.Command("docker-compose", append(base, args...)...)
	} else {
		cmd = exec.Command("docker", append(append([]string{"compose"}, base...), args...)...)
	}
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *compose) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("compose %q: %v\n%s", args, err, out)
	}
	return out
}

func freePort(t *testing.T) int {
	p, _ := strconv.Atoi(harness.FreePort(t))
	return p
}

// The reference deployment, built by make docker and run for real: requests
// to downcase arrive by both paths (direct publish, and the sidecar tailing
// the app's access log), the collector is stopped for 10 s while requests
// go on and nothing is lost, and every container stops cleanly as non-root.
func TestCompose(t *testing.T) {
	ports := map[string]int{}
	c := &compose{t: t, project: fmt.Sprintf("zlogtest%d", os.Getpid())}
	for _, name := range []string{"ZLOG_XSUB_PORT", "ZLOG_XPUB_PORT", "ZLOG_HTTP_PORT", "ZLOG_DOWNCASE_PORT"} {
		ports[name] = freePort(t)
		c.env = append(c.env, name+"="+strconv.Itoa(ports[name]))
	}
	downcaseBase := fmt.Sprintf("http://127.0.0.1:%d", ports["ZLOG_DOWNCASE_PORT"])
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", ports["ZLOG_HTTP_PORT"])
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.run("logs", "--no-color", "--tail", "60")
			t.Logf("compose logs:\n%s", out)
			// What the publishers and the collector counted, and which
			// access events the index holds, to tell loss from miscount.
			for _, u := range []string{downcaseBase + "/metrics", apiURL + "/metrics"} {
				m, _ := exec.Command("curl", "-s", u).Output()
				var keep []string
				for _, l := range strings.Split(string(m), "\n") {
					if strings.HasPrefix(l, "zlog_publisher_") || strings.HasPrefix(l, "zlog_collector_sequence") || strings.HasPrefix(l, "zlog_collector_received") || strings.HasPrefix(l, "zlog_collector_malformed") || strings.HasPrefix(l, "zlog_downcase") {
						keep = append(keep, l)
					}
				}
				t.Logf("%s:\n%s", u, strings.Join(keep, "\n"))
			}
			for _, svc := range []string{"downcase", "downcase-access", "downcase-file"} {
				res := harness.Logq(t, binDir, "search", "--collector", apiURL, "--service", svc, "--since", "1h", "--limit", "0", "--order", "oldest", "-o", "raw")
				os.WriteFile(filepath.Join(os.TempDir(), c.project+"-"+svc+".txt"), []byte(res.Stdout), 0o644)
			}
			t.Logf("stored events per service in %s/%s-*.txt", os.TempDir(), c.project)
		}
		c.run("down", "-v", "--remove-orphans")
	})
	c.must("up", "-d", "--no-build")
	downcase := downcaseBase + "/downcase/?param="

	// curl, as a user would; params are unique so counts are exact.
	request := func(param string) error {
		out, err := exec.Command("curl", "-sf", "--max-time", "10", downcase+param).CombinedOutput()
		if err == nil && !strings.Contains(string(out), "lower case of "+param+" is "+strings.ToLower(param)) {
			return fmt.Errorf("downcase answered %q", out)
		}
		return err
	}
	harness.Eventually(t, time.Minute, "downcase answering", func() (bool, string) {
		err := request("Warmup")
		return err == nil, fmt.Sprint(err)
	})
	count := func(service, prefix string) int {
		res := harness.Logq(t, binDir, "search", "--collector", apiURL, "--service", service, "--since", "1h", "--count", "--fts", prefix)
		n, _ := strconv.Atoi(strings.TrimSpace(res.Stdout))
		return n
	}
	// Every path holds exactly want events carrying the word.
	expect := func(word string, want int) {
		t.Helper()
		harness.Eventually(t, 2*time.Minute, fmt.Sprintf("%d %q events by every path", want, word), func() (bool, string) {
			direct, access, sidecar := count("downcase", word), count("downcase-access", word), count("downcase-file", word)
			return direct == want && access == want && sidecar == want,
				fmt.Sprintf("direct %d, access %d, sidecar %d", direct, access, sidecar)
		})
	}

	const before = 200
	for i := 0; i < before; i++ {
		if err := request(fmt.Sprintf("Before%d", i)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	expect("before*", before)
	// logq inside the collector's container works too.
	if out := c.must("exec", "-T", "collector", "logq", "search", "--since", "1h", "--count", "--service", "downcase", "--fts", "before*"); strings.TrimSpace(out) != strconv.Itoa(before) {
		t.Errorf("logq via compose exec: %q, want %d", out, before)
	}

	// The collector goes away for 10 s; the app keeps serving.
	c.must("stop", "collector")
	stoppedAt := time.Now()
	const during = 100
	for i := 0; i < during; i++ {
		if err := request(fmt.Sprintf("During%d", i)); err != nil {
			t.Fatalf("request during the outage %d: %v", i, err)
		}
	}
	time.Sleep(10*time.Second - time.Since(stoppedAt)) // the fault itself: 10 s without a collector
	c.must("start", "collector")
	expect("during*", during)
	expect("before*", before)

	// Clean stops, as the non-root user.
	c.must("stop")
	for _, svc := range []string{"collector", "downcase", "downcase-agent"} {
		id := strings.TrimSpace(c.must("ps", "-q", svc))
		out, err := exec.Command("docker", "inspect", "-f", "{{.State.ExitCode}} {{.Config.User}}", id).Output()
		if err != nil || strings.TrimSpace(string(out)) != "0 10001:10001" {
			t.Errorf("%s: exit code and user %q (%v), want 0 and 10001:10001", svc, out, err)
		}
	}
}

// The cluster deployment (docker/compose-cluster.yaml), built by make
// docker and run for real: two collectors storing into a VictoriaLogs
// cluster of 2 storage nodes, vlinsert and vlselect; the app publishes to
// one collector, its sidecar to the other. Requests by both paths are
// stored exactly once while the first collector is SIGKILLed (and started
// again) and a storage node is SIGKILLed; both collectors' APIs and logq
// reading vlselect directly give the same counts; every container stops
// cleanly as non-root.
func TestComposeCluster(t *testing.T) {
	c := &compose{t: t, project: fmt.Sprintf("zlogcluster%d", os.Getpid()), file: "compose-cluster.yaml"}
	ports := map[string]int{}
	for _, name := range []string{"ZLOG_XSUB_PORT", "ZLOG_XPUB_PORT", "ZLOG_HTTP_PORT", "ZLOG_XSUB2_PORT", "ZLOG_XPUB2_PORT",
		"ZLOG_HTTP2_PORT", "ZLOG_VLSELECT_PORT", "ZLOG_DOWNCASE_PORT"} {
		ports[name] = freePort(t)
		c.env = append(c.env, name+"="+strconv.Itoa(ports[name]))
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.run("logs", "--no-color", "--tail", "40")
			t.Logf("compose logs:\n%s", out)
			// Last, so it is in the tail of the output: a container that
			// was created but never started shows here.
			ps, _ := c.run("ps")
			t.Logf("compose ps:\n%s", ps)
		}
		c.run("down", "-v", "--remove-orphans")
	})
	c.must("up", "-d", "--no-build")
	downcase := fmt.Sprintf("http://127.0.0.1:%d/downcase/?param=", ports["ZLOG_DOWNCASE_PORT"])
	request := func(param string) error {
		out, err := exec.Command("curl", "-sf", "--max-time", "10", downcase+param).CombinedOutput()
		if err == nil && !strings.Contains(string(out), "lower case of "+param+" is "+strings.ToLower(param)) {
			return fmt.Errorf("downcase answered %q", out)
		}
		return err
	}
	harness.Eventually(t, 2*time.Minute, "downcase answering", func() (bool, string) {
		err := request("Warmup")
		return err == nil, fmt.Sprint(err)
	})
	sources := map[string][]string{
		"collector-1 API": {"--collector", fmt.Sprintf("http://127.0.0.1:%d", ports["ZLOG_HTTP_PORT"])},
		"collector-2 API": {"--collector", fmt.Sprintf("http://127.0.0.1:%d", ports["ZLOG_HTTP2_PORT"])},
		"vlselect":        {"--store", "victorialogs", "--vl-select", fmt.Sprintf("http://127.0.0.1:%d", ports["ZLOG_VLSELECT_PORT"])},
	}
	// Every path holds exactly want events with the word, by every source.
	expect := func(word string, want int) {
		t.Helper()
		harness.Eventually(t, 3*time.Minute, fmt.Sprintf("%d %q events by every path", want, word), func() (bool, string) {
			var got []string
			ok := true
			for name, src := range sources {
				for _, svc := range []string{"downcase", "downcase-access", "downcase-file"} {
					res := harness.Logq(t, binDir, append(append([]string{"search", "--since", "1h", "--count", "--service", svc}, src...), word)...)
					n, _ := strconv.Atoi(strings.TrimSpace(res.Stdout))
					ok = ok && n == want
					got = append(got, fmt.Sprintf("%s %s %d%s", name, svc, n, strings.TrimSpace(" "+res.Stderr)))
				}
			}
			return ok, strings.Join(got, ", ")
		})
	}
	const before = 200
	for i := 0; i < before; i++ {
		if err := request(fmt.Sprintf("Before%d", i)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	expect("before*", before)

	// The first collector and a storage node are killed; the app keeps
	// serving, its publisher holds what was not acknowledged.
	c.must("kill", "-s", "SIGKILL", "collector-1")
	c.must("kill", "-s", "SIGKILL", "vlstorage-2")
	const during = 100
	for i := 0; i < during; i++ {
		if err := request(fmt.Sprintf("During%d", i)); err != nil {
			t.Fatalf("request during the outage %d: %v", i, err)
		}
	}
	c.must("start", "vlstorage-2")
	c.must("start", "collector-1")
	expect("during*", during)
	expect("before*", before)
	// No publisher is left with unacknowledged events: the restarted
	// collector acknowledges the resent ones once the cluster confirms them.
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports["ZLOG_DOWNCASE_PORT"])
	harness.Eventually(t, 2*time.Minute, "downcase's publisher with nothing unacknowledged", func() (bool, string) {
		var state []string
		ok := true
		for _, name := range []string{"zlog_publisher_unacked", "zlog_publisher_queue_depth", "zlog_publisher_acked_total"} {
			v, found, err := harness.TryMetric(metrics, name)
			ok = ok && err == nil && found && (v == 0) == (name != "zlog_publisher_acked_total")
			state = append(state, fmt.Sprintf("%s %v (%v)", name, v, err))
		}
		return ok, strings.Join(state, ", ")
	})

	c.must("stop")
	for _, svc := range []string{"collector-1", "collector-2", "downcase", "downcase-agent", "vlstorage-1", "vlstorage-2", "vlinsert", "vlselect"} {
		id := strings.TrimSpace(c.must("ps", "-q", svc))
		out, err := exec.Command("docker", "inspect", "-f", "{{.State.ExitCode}} {{.Config.User}}", id).Output()
		if err != nil || strings.TrimSpace(string(out)) != "0 10001:10001" {
			t.Errorf("%s: exit code and user %q (%v), want 0 and 10001:10001", svc, out, err)
		}
	}
}
