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
