package tests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/harness"
)

// journalEntry is one entry in journald's export format.
type journalEntry struct {
	at     time.Time
	fields [][2]string
}

// journalBoot is when the test's journal entries' boot began: journalctl
// orders the entries of one boot by their monotonic clock, so it must grow
// with their time as on a real machine.
var journalBoot = time.Now().Add(-time.Hour)

// writeJournal makes a real journal file from entries with systemd's own
// systemd-journal-remote (export format in, journal file out).
func writeJournal(t *testing.T, tools, path string, entries []journalEntry) {
	t.Helper()
	var b bytes.Buffer
	for _, e := range entries {
		fmt.Fprintf(&b, "__CURSOR=x\n__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=9d8c00000000000000000000000000aa\n",
			e.at.UnixMicro(), e.at.Sub(journalBoot).Microseconds())
		for _, f := range e.fields {
			fmt.Fprintf(&b, "%s=%s\n", f[0], f[1])
		}
		b.WriteByte('\n')
	}
	export := path + ".export"
	if err := os.WriteFile(export, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	res := harness.Run(t, time.Minute, filepath.Join(tools, "lib/systemd/systemd-journal-remote"), "--output="+path, "--split-mode=none", export)
	if res.Code != 0 {
		t.Fatalf("systemd-journal-remote: %s%s", res.Stdout, res.Stderr)
	}
}

// The journal source reads a real journal directory through journalctl:
// MESSAGE, PRIORITY, the unit or identifier, _HOSTNAME and
// __REALTIME_TIMESTAMP make the event; the cursor is checkpointed like a
// file position, so entries written while the agent runs, and across a
// SIGKILL, arrive exactly once.
func TestAgentJournal(t *testing.T) {
	tools := harness.PeerTools(t)
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	journal := filepath.Join(work, "journal")
	os.MkdirAll(journal, 0o755)
	col := harness.StartCollector(t, binDir, work, data)
	at := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	writeJournal(t, tools, filepath.Join(journal, "first.journal"), []journalEntry{
		{at, [][2]string{{"PRIORITY", "3"}, {"_HOSTNAME", "db-1"}, {"SYSLOG_IDENTIFIER", "python3"}, {"_SYSTEMD_UNIT", "billing.service"},
			{"_PID", "4242"}, {"MESSAGE", "Charge failed: card declined"}}},
		{at.Add(time.Millisecond), [][2]string{{"PRIORITY", "6"}, {"_HOSTNAME", "db-1"}, {"SYSLOG_IDENTIFIER", "sudo"},
			{"_SYSTEMD_UNIT", "session-3.scope"}, {"MESSAGE", "session opened for user root"}}},
		{at.Add(2 * time.Millisecond), [][2]string{{"PRIORITY", "4"}, {"_HOSTNAME", "db-2"}, {"SYSLOG_IDENTIFIER", "kernel"},
			{"_TRANSPORT", "kernel"}, {"MESSAGE", "EXT4-fs warning: mounting unchecked fs"}}},
	})
	args := []string{"--collector", col.XSub, "--journal-directory", journal, "--spool", filepath.Join(work, "spool"),
		"--from-beginning", "--label", "env=test", "--http", "127.0.0.1:0"}
	agent := harness.Start(t, work, "agent-1", filepath.Join(binDir, "zlog-agent"), args...)
	agent.WaitLine(t, agentReady, 15*time.Second)

	var evs []schema.Event
	harness.Eventually(t, 20*time.Second, "3 journal entries indexed", func() (bool, string) {
		evs, _ = logqJSON(t, data, "--label", "env=test", "--since", "1h", "--limit", "0", "--order", "oldest")
		return len(evs) == 3, fmt.Sprint(len(evs))
	})
	want := []struct {
		service, host, message string
		level                  schema.Level
	}{
		{"billing", "db-1", "Charge failed: card declined", schema.LevelError},
		{"sudo", "db-1", "session opened for user root", schema.LevelInfo},
		{"kernel", "db-2", "EXT4-fs warning: mounting unchecked fs", schema.LevelWarn},
	}
	for i, w := range want {
		e := evs[i]
		if e.Service != w.service || e.Host != w.host || e.Message != w.message || e.Level != w.level ||
			!e.Time.Equal(at.Add(time.Duration(i)*time.Millisecond)) {
			t.Errorf("entry %d: %s %s %s %v %q, want %s %s %s %v %q", i, e.Time, e.Service, e.Host, e.Level, e.Message,
				at.Add(time.Duration(i)*time.Millisecond), w.service, w.host, w.level, w.message)
		}
		if _, ok := e.Fields["__CURSOR"]; ok || e.Labels["env"] != "test" {
			t.Errorf("entry %d: fields %v labels %v: the cursor is the checkpoint, not a field", i, e.Fields, e.Labels)
		}
	}
	if evs[0].Fields["_PID"] != "4242" || evs[0].Fields["SYSLOG_IDENTIFIER"] != "python3" {
		t.Errorf("entry 0 lost its journal fields: %v", evs[0].Fields)
	}

	// More entries arrive in new journal files while the agent runs; the
	// agent is killed in the middle and started again.
	const n = 3000
	batch := func(from, to int) []journalEntry {
		var out []journalEntry
		for i := from; i < to; i++ {
			out = append(out, journalEntry{at.Add(time.Second + time.Duration(i)*time.Microsecond),
				[][2]string{{"PRIORITY", "6"}, {"_HOSTNAME", "db-1"}, {"SYSLOG_IDENTIFIER", "batch"}, {"MESSAGE", fmt.Sprintf("event %d", i)}}})
		}
		return out
	}
	writeJournal(t, tools, filepath.Join(journal, "second.journal"), batch(0, n/2))
	harness.Eventually(t, 30*time.Second, "some of the second file indexed", func() (bool, string) {
		got := harness.Logq(t, binDir, "search", "--data", data, "--service", "batch", "--since", "1h", "--count").Stdout
		return strings.TrimSpace(got) != "0", got
	})
	agent.Signal(t, syscall.SIGKILL, 10*time.Second)
	writeJournal(t, tools, filepath.Join(journal, "third.journal"), batch(n/2, n))
	agent = harness.Start(t, work, "agent-2", filepath.Join(binDir, "zlog-agent"), args...)
	agent.WaitLine(t, agentReady, 15*time.Second)
	harness.Eventually(t, time.Minute, "every batch entry indexed", func() (bool, string) {
		got := harness.Logq(t, binDir, "search", "--data", data, "--service", "batch", "--since", "1h", "--count").Stdout
		return strings.TrimSpace(got) == fmt.Sprint(n), got
	})
	if code := agent.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, agent.Output())
	}
	checkExactlyOnce(t, data, "batch", n)
	if n := harness.Logq(t, binDir, "search", "--data", data, "--label", "env=test", "--since", "1h", "--count").Stdout; strings.TrimSpace(n) != fmt.Sprint(3+3000) {
		t.Errorf("%s events in all, want %d: the first file was read again after the restart", n, 3+3000)
	}
	pos, err := os.ReadFile(filepath.Join(work, "spool", "positions.json"))
	if err != nil || !strings.Contains(string(pos), `"journal:`+journal+`"`) {
		t.Errorf("positions file lacks the journal cursor: %s %v", pos, err)
	}
}
