package tail

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// run tails globs in the background, collecting lines and the last
// position of each file.
type run struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	lines  []string
	pos    map[string]Position
	tailer *Tailer
}

func start(t *testing.T, opts Options) *run {
	t.Helper()
	return startAfter(t, opts, func() {})
}

// startAfter is start with before run between New (the agent starting)
// and the tailer's first look at the files.
func startAfter(t *testing.T, opts Options, before func()) *run {
	t.Helper()
	opts.PollInterval = 10 * time.Millisecond
	opts.RenamedLinger = 50 * time.Millisecond
	tl, err := New(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	before()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{t: t, cancel: cancel, done: make(chan error, 1), pos: map[string]Position{}, tailer: tl}
	go func() {
		r.done <- tl.Run(ctx, func(l Line) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.lines = append(r.lines, string(l.Text))
			r.pos[l.Pos.Key()] = l.Pos
			return nil
		}, func(key string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			delete(r.pos, key)
		})
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *run) stop() {
	if r.cancel != nil {
		r.cancel()
		if err := <-r.done; err != nil {
			r.t.Error(err)
		}
		r.cancel = nil
	}
}

// waitLines waits until n lines have come, then checks no more come.
func (r *run) waitLines(n int) []string {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]string(nil), r.lines...)
		r.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				shown := got
				if len(shown) > 6 {
					shown = append(append(shown[:3:3], "…"), got[len(got)-3:]...)
				}
				r.t.Fatalf("got %d lines, want %d: %q", len(got), n, shown)
			}
			return got
		}
		time.Sleep(5 * time.Millisecond) // polling the condition
	}
}

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < to; i++ {
		fmt.Fprintf(f, "line %06d %s\n", i, strings.Repeat("x", i%50))
	}
}

func wantSeq(t *testing.T, got []string, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d lines, want %d", len(got), to-from)
	}
	seen := map[string]bool{}
	for _, l := range got {
		if seen[l] {
			t.Fatalf("line delivered twice: %q", l)
		}
		seen[l] = true
	}
	for i := from; i < to; i++ {
		want := fmt.Sprintf("line %06d %s", i, strings.Repeat("x", i%50))
		if !seen[want] {
			t.Fatalf("line %d missing", i)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
}

func TestFirstStartReadsFromEndUnlessFromBeginning(t *testing.T) {
	for _, fromBeginning := range []bool{false, true} {
		t.Run(fmt.Sprint("from-beginning=", fromBeginning), func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "app.log")
			appendLines(t, log, 0, 10)
			r := start(t, Options{Globs: []string{filepath.Join(dir, "*.log")}, FirstStart: true, FromBeginning: fromBeginning})
			// Wait for the tailer to have opened the file before writing more.
			waitFiles(t, r, 1)
			appendLines(t, log, 10, 15)
			// A file appearing later is read from its start either way.
			appendLines(t, filepath.Join(dir, "new.log"), 100, 103)
			if fromBeginning {
				r.waitLines(18)
			} else {
				r.waitLines(8)
			}
		})
	}
}

// On a first start, what is written after the agent started is read,
// also when it is written before the tailer's first look at the files:
// a file created then is read whole, a file that existed is read from
// where it ended when the agent started (the first look took both for
// files that were there before the agent, and read neither, when
// TestAgentFilesFromConfig wrote its files right after "agent ready").
func TestFirstStartReadsWhatCameAfterItBeforeTheFirstLook(t *testing.T) {
	dir := t.TempDir()
	old, truncated := filepath.Join(dir, "old.log"), filepath.Join(dir, "truncated.log")
	appendLines(t, old, 0, 10)
	appendLines(t, truncated, 0, 10)
	r := startAfter(t, Options{Globs: []string{filepath.Join(dir, "*.log")}, FirstStart: true}, func() {
		appendLines(t, old, 10, 12)
		appendLines(t, filepath.Join(dir, "new.log"), 100, 103)
		if err := os.Truncate(truncated, 0); err != nil {
			t.Fatal(err)
		}
		appendLines(t, truncated, 200, 201)
	})
	got := r.waitLines(6)
	slices.Sort(got)
	want := []string{}
	for _, i := range []int{10, 11, 100, 101, 102, 200} {
		want = append(want, fmt.Sprintf("line %06d %s", i, strings.Repeat("x", i%50)))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func waitFiles(t *testing.T, r *run, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); r.tailer.Stats.Files.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("tailer opened %d files, want %d", r.tailer.Stats.Files.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Rotation while running: rename+create and copytruncate alternate; every
// line comes once.
func TestRotationWhileRunning(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendLines(t, log, 0, 1)
	r := start(t, Options{Globs: []string{log}, FromBeginning: true, FirstStart: true})
	n := 1
	for round := 0; round < 6; round++ {
		appendLines(t, log, n, n+500)
		n += 500
		r.waitLines(n)
		// A few lines the tailer has likely not read when the file rotates.
		appendLines(t, log, n, n+7)
		n += 7
		if round%2 == 0 {
			if err := os.Rename(log, fmt.Sprintf("%s.%d", log, round)); err != nil {
				t.Fatal(err)
			}
		} else {
			copyFile(t, log, fmt.Sprintf("%s.%d", log, round))
			if err := os.Truncate(log, 0); err != nil {
				t.Fatal(err)
			}
		}
		appendLines(t, log, n, n+7)
		n += 7
	}
	wantSeq(t, r.waitLines(n), 0, n)
	if r.tailer.Stats.Renamed.Load() == 0 {
		t.Error("no rename counted")
	}
	if r.tailer.Stats.Truncated.Load() != 3 {
		t.Errorf("truncations = %d, want 3", r.tailer.Stats.Truncated.Load())
	}
}

// A restart resumes from stored positions, also when the file was rotated
// by rename or by copytruncate while the tailer was down.
func TestResumeAcrossRotationWhileDown(t *testing.T) {
	for _, how := range []string{"none", "rename", "copytruncate", "removed-and-recreated"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "app.log")
			appendLines(t, log, 0, 300)
			r := start(t, Options{Globs: []string{log}, FirstStart: true, FromBeginning: true})
			r.waitLines(300)
			r.stop()
			saved := r.pos

			appendLines(t, log, 300, 400) // written while down, before rotation
			switch how {
			case "rename":
				os.Rename(log, log+".1")
			case "copytruncate":
				copyFile(t, log, log+".1")
				os.Truncate(log, 0)
			case "removed-and-recreated":
				os.Remove(log)
			}
			if how != "none" {
				appendLines(t, log, 400, 450)
			} else {
				appendLines(t, log, 400, 450)
			}
			want := 150
			if how == "removed-and-recreated" {
				want = 50 // lines 300-399 were deleted with the file
			}
			r2 := start(t, Options{Globs: []string{log}, Resume: saved})
			got := r2.waitLines(want)
			wantSeq(t, got, 450-want, 450)
		})
	}
}

func TestLongLineIsCutAndMeasured(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	os.WriteFile(log, []byte("short\n"+strings.Repeat("y", 1<<20)+"\nafter\n"), 0o644)
	var totals []int
	var mu sync.Mutex
	tl, _ := New(Options{Globs: []string{log}, FromBeginning: true, MaxLineBytes: 100, PollInterval: 10 * time.Millisecond}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- tl.Run(ctx, func(l Line) error {
			mu.Lock()
			defer mu.Unlock()
			if len(l.Text) > 101 {
				t.Errorf("kept %d bytes of a line, limit 100+1", len(l.Text))
			}
			totals = append(totals, l.Total)
			if string(l.Text) == "after" {
				cancel()
			}
			return nil
		}, nil)
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(totals) != fmt.Sprint([]int{5, 1 << 20, 5}) {
		t.Fatalf("line lengths = %v", totals)
	}
}

// A file that cannot be opened (no permission; for root, which may read
// anything, a symlink loop) is counted and skipped; the others are read.
func TestUnreadableFileIsCountedAndSkipped(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		if err := os.Symlink("loop.log", filepath.Join(dir, "loop.log")); err != nil {
			t.Fatal(err)
		}
	} else {
		os.WriteFile(filepath.Join(dir, "secret.log"), []byte("x\n"), 0o000)
	}
	appendLines(t, filepath.Join(dir, "ok.log"), 0, 3)
	r := start(t, Options{Globs: []string{filepath.Join(dir, "*.log")}, FromBeginning: true, FirstStart: true})
	r.waitLines(3)
	if r.tailer.Stats.OpenErrors.Load() == 0 {
		t.Error("open error not counted")
	}
}

// Two rotations between two looks at the directory: the generation that was
// created and rotated away unseen is found by its rotated name and read
// whole, after the one being followed and before the new file.
func TestTwoRotationsBetweenLooks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	write := func(p string, from, to int) {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			fmt.Fprintf(f, "line %d\n", i)
		}
		f.Close()
		// Generations get distinct modification times, as time passes between
		// real rotations.
		time.Sleep(10 * time.Millisecond)
	}
	write(path, 0, 10)
	tl, err := New(Options{Globs: []string{path}, FromBeginning: true, FirstStart: true, RenamedLinger: time.Nanosecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	emit := func(l Line) error { got = append(got, string(l.Text)); return nil }
	ctx := context.Background()
	if err := tl.pass(ctx, emit, nil); err != nil {
		t.Fatal(err)
	}
	write(path, 10, 20)             // the followed file's end, unread
	os.Rename(path, path+".1")      // rotation 1
	write(path, 20, 30)             // the middle generation
	os.Rename(path+".1", path+".2") // rotation 2
	os.Rename(path, path+".1")
	write(path, 30, 40) // the current file
	for i := 0; i < 3; i++ {
		if err := tl.pass(ctx, emit, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 40 {
		t.Fatalf("read %d lines, want 40: %q", len(got), got)
	}
	seen := map[string]bool{}
	for _, l := range got {
		if seen[l] {
			t.Fatalf("%q read twice", l)
		}
		seen[l] = true
	}
	if tl.Stats.Generations.Load() != 1 {
		t.Fatalf("generations read = %d, want 1", tl.Stats.Generations.Load())
	}
}

func TestCursorJSONMatchesEncodingJSON(t *testing.T) {
	var c CursorJSON
	for _, p := range []Position{
		{},
		{Path: "/var/log/app.log", Dev: 2049, Ino: 1234567, FPLen: 256, FP: "cbf29ce484222325", Offset: 987654321, Time: 1764460800000000000},
		{Path: `/logs/we"ird\name <&>.log`, Dev: 1, Ino: 2, Offset: 3},
		{Path: "/logs/Überwacher/日本語.log", FP: "00", Offset: -1},
		{Path: "/logs/bad\xffbyte\n.log", Time: -5},
	} {
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Append(nil, p); string(got) != string(want) {
			t.Errorf("CursorJSON.Append(%+v)\n got %s\nwant %s", p, got, want)
		}
		p.Offset, p.Time = p.Offset+100, p.Time+1 // the next line of the same file
		want, _ = json.Marshal(p)
		if got := c.Append(nil, p); string(got) != string(want) {
			t.Errorf("CursorJSON.Append(%+v), same file\n got %s\nwant %s", p, got, want)
		}
	}
}

// An inode freed when logrotate compressed the file a position belongs to
// can be taken by a later generation (seen on CI: app.log's inode went to
// the next app.log.1.gz). Then that generation shares the saved identity
// but not its content, and must still be read.
func TestResumeWhenAGenerationTookTheSavedInode(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendLines(t, log, 0, 100)
	r := start(t, Options{Globs: []string{log}, FirstStart: true, FromBeginning: true})
	r.waitLines(100)
	r.stop()
	var saved Position
	for _, p := range r.pos {
		saved = p
	}
	appendLines(t, log, 100, 200)
	gzipFile(t, log, log+".2.gz") // rotation 1, compressed; the original removed
	appendLines(t, log, 200, 300)
	gzipFile(t, log, log+".1.gz") // rotation 2
	appendLines(t, log, 300, 400)
	st, err := os.Stat(log + ".1.gz")
	if err != nil {
		t.Fatal(err)
	}
	saved.Dev, saved.Ino = devIno(st) // the reuse, made certain
	r2 := start(t, Options{Globs: []string{log}, Resume: map[string]Position{saved.Key(): saved}})
	wantSeq(t, r2.waitLines(300), 100, 400)
}

// gzipFile compresses from into to and removes from, as logrotate's
// compress does after its rename.
func gzipFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(to, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(from)
	time.Sleep(10 * time.Millisecond) // distinct modification times, as between real rotations
}
