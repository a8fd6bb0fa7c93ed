package logfile

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

func event(service string, i int) schema.Event {
	return schema.Event{Time: time.Unix(0, int64(i)), Service: service, Level: schema.LevelInfo, Host: "h",
		Message: fmt.Sprintf("event %d %s", i, strings.Repeat("x", 200))}
}

// Fault 12: 300 services written round robin with fewer open files allowed
// kept starting goroutines (15 → 2,051) that never ended: each reopened
// lumberjack logger starts one. Files are closed and reopened here without
// any goroutine staying behind, and no line is lost or split.
func TestManyServicesNoGoroutineLeak(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Options{Dir: dir, MaxOpen: 16, MaxSizeMB: 1}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	const services, rounds = 300, 20
	write := func(round int) {
		var batch []schema.Event
		for i := 0; i < services; i++ {
			batch = append(batch, event(fmt.Sprintf("svc-%d", i), round))
		}
		if err := s.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	before := runtime.NumGoroutine()
	for r := 1; r < rounds; r++ {
		write(r)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("goroutines grew from %d to %d over %d rounds of %d services", before, after, rounds-1, services)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < services; i++ {
		if got := countLines(t, Path(dir, fmt.Sprintf("svc-%d", i))); got != rounds {
			t.Fatalf("svc-%d.log holds %d lines, want %d", i, got, rounds)
		}
	}
}

// A file rotates by size between two writes: no line is split, the backup
// carries lumberjack's name, and together they hold every line once.
func TestRotationKeepsLinesWhole(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Options{Dir: dir, MaxSizeMB: 1, MaxBackups: 3}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12000 // ~2.8 MB of lines: two rotations
	for i := 0; i < n; i += 1000 {
		var batch []schema.Event
		for j := i; j < i+1000; j++ {
			batch = append(batch, event("rot", j))
		}
		if err := s.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "rot*.log"))
	if len(files) != 3 {
		t.Fatalf("want the live file and 2 backups, got %v", files)
	}
	total := 0
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over 1 MB", f, st.Size())
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("%s has mode %v, want 0640", f, st.Mode().Perm())
		}
		total += countLines(t, f)
	}
	if total != n {
		t.Fatalf("files hold %d lines, want %d", total, n)
	}
}

// A log file deleted under the sink is created again, not written into
// the void.
func TestDeletedFileIsCreatedAgain(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	defer s.Close()
	s.Write(context.Background(), []schema.Event{event("gone", 1)})
	os.RemoveAll(dir)
	if err := s.Write(context.Background(), []schema.Event{event("gone", 2)}); err != nil {
		t.Fatal(err)
	}
	if got := countLines(t, Path(dir, "gone")); got != 1 {
		t.Fatalf("recreated file holds %d lines, want 1", got)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "1970-01-01T") {
			t.Fatalf("%s: torn line %q", path, sc.Text())
		}
		n++
	}
	return n
}
