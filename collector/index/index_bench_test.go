package index

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/workload"
)

// BenchmarkWrite measures the writer alone: batches of 20,000 workload
// events (about one commit interval at 200k events/s), in time order.
func BenchmarkWrite(b *testing.B) {
	const batch = 20000
	gen := workload.New(workload.Options{Count: 1 << 30, Window: 1 << 30 * time.Millisecond, Start: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)})
	dir := b.TempDir()
	if keep := os.Getenv("ZLOG_INDEX_BENCH_DIR"); keep != "" {
		dir = keep
	}
	w, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	evs := make([]schema.Event, batch)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		for i := range evs {
			evs[i], _ = gen.Next()
		}
		b.StartTimer()
		if err := w.Write(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	if err := w.Close(); err != nil { // checkpoints the WAL into the file
		b.Fatal(err)
	}
	var size int64
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			size += st.Size()
		}
	}
	b.ReportMetric(float64(size)/float64(b.N*batch), "bytes/event")
}
