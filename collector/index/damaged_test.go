package index

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

// A damaged partition (garbage, or cut short) is moved aside when the
// writer meets it, and the writer goes on in a new file of the same day.
func TestDamagedPartitionsAreMovedAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	w, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC()
	var batch []schema.Event
	for i := 0; i < 3000; i++ {
		batch = append(batch, schema.Event{Time: day.Add(time.Duration(i)), Service: "s", Level: schema.LevelInfo, Host: "h",
			Message: "event with some words to fill pages", Publisher: "p", Seq: uint64(i + 1)})
	}
	if err := w.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	w.Close()
	path := PartitionFile(dir, day)
	st, _ := os.Stat(path)
	if truncated(path) {
		t.Fatal("an intact partition looks truncated")
	}
	os.Truncate(path, st.Size()/2)
	if !truncated(path) {
		t.Fatal("a partition cut in half does not look truncated")
	}
	garbage := PartitionFile(dir, day.AddDate(0, 0, -1))
	os.WriteFile(garbage, []byte("not a database, not at all, just some bytes that fill more than a header's hundred bytes........................."), 0o640)

	w, err = New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	marks, err := w.LoadHWMs(context.Background())
	if err != nil {
		t.Fatalf("LoadHWMs over damaged partitions: %v", err)
	}
	if len(marks) != 0 {
		t.Fatalf("marks from damaged partitions: %v", marks)
	}
	for _, p := range []string{path, garbage} {
		if _, err := os.Stat(p + QuarantineSuffix); err != nil {
			t.Errorf("%s not moved aside: %v", p, err)
		}
	}
	if err := w.Write(context.Background(), batch[:10]); err != nil {
		t.Fatalf("write after quarantine: %v", err)
	}
}

// A block whose data no longer decodes is damage too: the writer, which
// must merge it with its service's next events, moves the file aside
// instead of failing every commit, and writes on in a new file.
func TestCorruptBlockIsDamage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	day := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	ev := func(i int) schema.Event {
		return schema.Event{Time: day.Add(time.Duration(i) * time.Second), Service: "s", Level: schema.LevelInfo, Host: "h", Message: "m", Publisher: "p", Seq: uint64(i + 1)}
	}
	writeInto(t, dir, []schema.Event{ev(0)}) // one unsealed block
	db := openDay(t, dir, day)
	if _, err := db.Exec("UPDATE block_data SET data = x'0102030405'"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	w, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var big []schema.Event
	for i := 1; i <= FullBlock; i++ {
		big = append(big, ev(i))
	}
	err = w.Write(context.Background(), big) // merges the corrupt block: fails, and moves the file aside
	if err == nil || !IsDamaged(err) {
		t.Fatalf("write over a corrupt block: %v, want damage", err)
	}
	if _, err := os.Stat(PartitionFile(dir, day) + QuarantineSuffix); err != nil {
		t.Fatalf("partition not moved aside: %v", err)
	}
	if err := w.Write(context.Background(), big); err != nil {
		t.Fatalf("write after quarantine: %v", err)
	}
}
