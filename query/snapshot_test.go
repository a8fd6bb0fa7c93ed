package query

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/schema"
)

// TestReaderSeesOneSnapshot: a partition is read while the collector
// writes it, and a commit that fills an unsealed block merges it into a
// new one. A reader that listed the old block must still read it (the
// listing and the data come from one snapshot), not fail on its absence.
func TestReaderSeesOneSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	w, err := index.New(index.Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	batch := func(from, n int) []schema.Event {
		evs := make([]schema.Event, n)
		for i := range evs {
			evs[i] = schema.Event{Time: base.Add(time.Duration(from+i) * time.Millisecond), Service: "api", Level: schema.LevelInfo,
				Publisher: "p1", Seq: uint64(from + i + 1), Message: fmt.Sprintf("event %d", from+i)}
		}
		return evs
	}
	ctx := context.Background()
	if err := w.Write(ctx, batch(0, 100)); err != nil { // one unsealed block
		t.Fatal(err)
	}
	s, err := NewSearcher(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.plan(Query{Since: base.Add(-time.Hour), Until: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.openPart(ctx, p.parts[0])
	if err != nil || r == nil {
		t.Fatalf("open: %v", err)
	}
	defer r.close()
	blocks, err := r.blocks(ctx)
	if err != nil || len(blocks) != 1 {
		t.Fatalf("blocks: %v %v", blocks, err)
	}
	if err := w.Write(ctx, batch(100, index.FullBlock)); err != nil { // merges the unsealed block away
		t.Fatal(err)
	}
	rows, err := r.matching(ctx, &blocks[0], r.codec, &r.doc, textAll)
	if err != nil || len(rows) != 100 {
		t.Fatalf("reading the listed block after a merge: %d rows, %v", len(rows), err)
	}
}
