package logfile

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

// A file that leaves its path is found at the next write of its service,
// also when that write comes batches after the change was seen, and also
// when the directory's time did not move (a coarse clock stamped the
// change with the time already seen).
func TestFileLeavingItsPathIsCreatedAgain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		leave      func(path string) error
		sameMtime  bool // the change leaves the directory's time as it was
		oldDirTime bool // the directory's time was long settled before
	}{
		{name: "removed", leave: os.Remove},
		{name: "renamed away", leave: func(p string) error { return os.Rename(p, p+".1") }},
		{name: "removed, settled directory", leave: os.Remove, oldDirTime: true},
		{name: "removed within the clock tick seen", leave: os.Remove, sameMtime: true},
		{name: "renamed within the clock tick seen", leave: func(p string) error { return os.Rename(p, p+".1") }, sameMtime: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			write := func(evs ...schema.Event) {
				t.Helper()
				if err := s.Write(context.Background(), evs); err != nil {
					t.Fatal(err)
				}
			}
			write(event("a", 1), event("b", 1))
			if tc.oldDirTime {
				old := time.Now().Add(-time.Hour)
				if err := os.Chtimes(dir, old, old); err != nil {
					t.Fatal(err)
				}
			}
			write(event("a", 2), event("b", 2)) // b is found at its path as the directory is now
			seen := statDir(t, dir)
			if err := tc.leave(Path(dir, "b")); err != nil {
				t.Fatal(err)
			}
			if tc.sameMtime {
				if err := os.Chtimes(dir, seen.ModTime(), seen.ModTime()); err != nil {
					t.Fatal(err)
				}
			}
			write(event("a", 3)) // b is not written in the batch that sees the change
			write(event("a", 4))
			write(event("b", 5))
			if got := countLines(t, Path(dir, "b")); got != 1 {
				t.Fatalf("%s holds %d lines, want the 1 written after it left", Path(dir, "b"), got)
			}
			if got := countLines(t, Path(dir, "a")); got != 4 {
				t.Fatalf("%s holds %d lines, want 4", Path(dir, "a"), got)
			}
		})
	}
}

func statDir(t *testing.T, dir string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The generation stays while the directory is settled and unchanged (the
// writes that cost no stat of each file), and moves on every change of its
// entries, its time not yet settled, or its removal.
func TestDirGeneration(t *testing.T) {
	dir := t.TempDir()
	settle := func() {
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
	}
	var d dirState
	settle()
	g0 := d.generation(dir)
	if g := d.generation(dir); g != g0 {
		t.Fatalf("settled, unchanged directory: generation %d after %d, want the same", g, g0)
	}
	if err := os.WriteFile(filepath.Join(dir, "x.log"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	g1 := d.generation(dir)
	if g1 == g0 {
		t.Fatal("a file created: generation unchanged")
	}
	if g := d.generation(dir); g == g1 {
		t.Fatal("directory time just set (not settled): generation unchanged")
	}
	settle()
	g2 := d.generation(dir)
	if g := d.generation(dir); g != g2 {
		t.Fatalf("settled again: generation %d after %d, want the same", g, g2)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if g := d.generation(dir); g == g2 {
		t.Fatal("directory removed: generation unchanged")
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	settle()
	g3 := d.generation(dir)
	if g := d.generation(dir); g != g3 {
		t.Fatalf("directory made again and settled: generation %d after %d, want the same", g, g3)
	}
}
