// Package harness runs the real zlog binaries as processes for end-to-end
// tests and benchmarks: it builds them once, starts them on free loopback
// ports, waits for their "ready" lines, and keeps the work directory of a
// failed test for inspection.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildTags must match the Makefile's, or go-sqlite3 is rebuilt.
const BuildTags = "sqlite_fts5"

const logqPackage = "query/cmd/logq"

// Binaries built by Build, relative to the module root.
var Binaries = []string{
	"collector/cmd/zlog-collector", "agent/cmd/zlog-downcase", logqPackage,
	"agent/cmd/zlog-agent", "tests/cmd/zlog-loadgen", "tests/cmd/zlog-tcpsend", "tests/cmd/zlog-plainhttp",
}

// ModuleRoot finds the directory holding go.mod above this source file.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// PeerTools unpacks rsyslog, syslog-ng (with loggen) and
// systemd-journal-remote from Debian's packages (tests/bench/peers.sh,
// cached under tests/bench/work/peers) and returns the root they are in.
// The test fails, saying why, when they cannot be had.
func PeerTools(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(ModuleRoot(), "tests", "bench", "work", "peers")
	res := Run(t, 10*time.Minute, "bash", filepath.Join(ModuleRoot(), "tests", "bench", "peers.sh"), dir)
	if res.Code != 0 {
		t.Fatalf("tests/bench/peers.sh: %s %s", res.Stdout, res.Stderr)
	}
	return filepath.Join(dir, "root")
}

// Build compiles the binaries into dir; logq static, as `make build`
// links it, when the static libzmq it needs was built (make static-zmq):
// tests and the bench run the logq users get.
func Build(dir string) error {
	prefix := filepath.Join(ModuleRoot(), ".cache", "libzmq-static")
	_, err := os.Stat(filepath.Join(prefix, "lib", "libzmq.a"))
	static := err == nil
	args := []string{"build", "-tags", BuildTags, "-o", dir + string(os.PathSeparator)}
	for _, b := range Binaries {
		if !static || b != logqPackage {
			args = append(args, "./"+b)
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ModuleRoot()
	cmd.Env = append(os.Environ(), "GOFLAGS=-tags="+BuildTags+" -buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	if !static {
		return nil
	}
	cmd = exec.Command("bash", filepath.Join(ModuleRoot(), "docker", "logq-static.sh"), prefix, dir)
	cmd.Env = append(os.Environ(), "LOGQ_TAGS="+BuildTags)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("static logq: %w\n%s", err, out)
	}
	return nil
}

// WorkDir returns a fresh directory that is removed after the test passes
// and kept (and named in the log) when it fails.
func WorkDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zlog-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("work directory kept: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// Proc is a started binary whose combined output goes to <work>/<name>.log.
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string

	mu      sync.Mutex
	lines   []string
	added   chan struct{}
	done    chan struct{} // the process exited
	drained chan struct{} // and all its output has been read
	err     error
}

// Start runs bin with args; output is captured line by line.
func Start(t testing.TB, workDir, name, bin string, args ...string) *Proc {
	t.Helper()
	return StartIn(t, workDir, name, nil, bin, args...)
}

// StartIn is Start with stdin read from in (nil: no input).
func StartIn(t testing.TB, workDir, name string, in io.Reader, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, LogPath: filepath.Join(workDir, name+".log"), added: make(chan struct{}, 1),
		done: make(chan struct{}), drained: make(chan struct{})}
	logFile, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Dir = workDir
	p.Cmd.Stdin = in
	pr, pw := io.Pipe()
	p.Cmd.Stdout, p.Cmd.Stderr = pw, pw
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
		logFile.Close()
		close(p.drained)
	}()
	go func() {
		p.err = p.Cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.Cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// WaitLine waits for an output line matching re and returns its submatches.
func (p *Proc) WaitLine(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		lines := p.lines[seen:]
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		select {
		case <-p.added:
		case <-p.done:
			<-p.drained
			p.mu.Lock()
			rest := p.lines[seen:]
			p.mu.Unlock()
			for _, l := range rest {
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			}
			t.Fatalf("%s exited (%v) before printing %q; output in %s", p.Name, p.err, re, p.LogPath)
		case <-deadline:
			t.Fatalf("%s did not print %q within %v; output in %s", p.Name, re, timeout, p.LogPath)
		}
	}
}

// Output returns what the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// Wait waits up to timeout for the process to exit by itself and returns
// its exit code.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v; output in %s", p.Name, timeout, p.LogPath)
	}
	<-p.drained
	return p.Cmd.ProcessState.ExitCode()
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig and, for SIGTERM/SIGINT/SIGKILL, waits for the exit and
// returns the exit code (-1 when killed by a signal).
func (p *Proc) Signal(t testing.TB, sig syscall.Signal, timeout time.Duration) int {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v after %v; output in %s", p.Name, timeout, sig, p.LogPath)
	}
	<-p.drained // as Wait: Output then holds the last lines (an agent's final tally)
	return p.Cmd.ProcessState.ExitCode()
}

// Collector is a running zlog-collector with its resolved endpoints.
type Collector struct {
	*Proc
	Data, XSub, XPub, HTTP string
}

var collectorReady = regexp.MustCompile(`"msg":"collector ready".*"xsub":"([^"]+)".*"xpub":"([^"]+)".*"http":"([^"]*)"`)

// StartCollector runs the collector on ephemeral loopback ports.
func StartCollector(t testing.TB, bin, workDir, data string, extra ...string) *Collector {
	t.Helper()
	args := append([]string{"--data", data, "--xsub", "tcp://127.0.0.1:*", "--xpub", "tcp://127.0.0.1:*",
		"--http", "127.0.0.1:0", "--log-format", "json"}, extra...)
	p := Start(t, workDir, "collector", filepath.Join(bin, "zlog-collector"), args...)
	m := p.WaitLine(t, collectorReady, 15*time.Second)
	return &Collector{Proc: p, Data: data, XSub: m[1], XPub: m[2], HTTP: m[3]}
}

// Metric reads one sample from the collector's /metrics, e.g.
// `zlog_collector_malformed_total{reason="utf8"}`.
func (c *Collector) Metric(t testing.TB, name string) float64 {
	t.Helper()
	return ScrapeMetric(t, "http://"+c.HTTP+"/metrics", name)
}

// ScrapeMetric reads one sample from a Prometheus text endpoint.
func ScrapeMetric(t testing.TB, url, name string) float64 {
	t.Helper()
	v, ok, err := TryMetric(url, name)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	if !ok {
		t.Fatalf("metric %s not found at %s", name, url)
	}
	return v
}

// TryMetric reads one sample; ok is false when the endpoint has no such
// sample (an older binary, say).
func TryMetric(url, name string) (v float64, ok bool, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, found := strings.CutPrefix(line, name+" "); found {
			fmt.Sscan(rest, &v)
			return v, true, nil
		}
	}
	return 0, false, nil
}

var downcaseReady = regexp.MustCompile(`msg="downcase ready" addr=(\S+)`)

// StartDowncase runs zlog-downcase on an ephemeral port; it returns the base URL.
func StartDowncase(t testing.TB, bin, workDir, xsub string, extra ...string) (*Proc, string) {
	t.Helper()
	args := append([]string{"--listen", "127.0.0.1:0", "--collector", xsub}, extra...)
	p := Start(t, workDir, "downcase", filepath.Join(bin, "zlog-downcase"), args...)
	m := p.WaitLine(t, downcaseReady, 15*time.Second)
	return p, "http://" + m[1]
}

// Result is a finished command.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs a command to completion (bounded by timeout).
func Run(t testing.TB, timeout time.Duration, bin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %s %q: %v", bin, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not finish within %v", bin, args, timeout)
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}

// Logq runs logq with args.
func Logq(t testing.TB, bin string, args ...string) Result {
	t.Helper()
	return Run(t, 60*time.Second, filepath.Join(bin, "logq"), args...)
}

// JSONLines decodes logq's --output json.
func JSONLines[T any](t testing.TB, out string) []T {
	t.Helper()
	var rows []T
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decode json output: %v", err)
		}
		rows = append(rows, v)
	}
	return rows
}

// Eventually polls cond until it holds or timeout passes; cond returns a
// description of the state for the failure message.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; last state: %s", what, timeout, state)
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// WaitStopped waits until the process pid is stopped (SIGSTOP takes
// effect asynchronously: a request can still be served just after it).
func WaitStopped(t testing.TB, pid int) {
	t.Helper()
	Eventually(t, 10*time.Second, fmt.Sprintf("process %d stopped", pid), func() (bool, string) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false, err.Error()
		}
		// pid (comm) STATE …: comm may hold spaces, so read after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		state := strings.Fields(s[i+1:])
		return len(state) > 0 && (state[0] == "T" || state[0] == "t"), s[i+1:]
	})
}
