package query

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// Searches through a pool reuse a partition's connection, until its file
// is replaced under its name or it has been idle too long.
func TestConnPoolReusesUntilTheFileChanges(t *testing.T) {
	day := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	events := func(n int) []schema.Event {
		var evs []schema.Event
		for i := range n {
			evs = append(evs, schema.Event{Time: day.Add(time.Duration(i) * time.Second), Service: "s", Level: schema.LevelInfo, Host: "h", Message: "hello", Publisher: "p"})
		}
		return evs
	}
	dir, other := writeIndex(t, events(3)), writeIndex(t, events(5))
	pool := NewConnPool()
	defer pool.Close()
	count := func(want int64) {
		t.Helper()
		s := must(NewSearcher(dir))
		s.Pool = pool
		if n, err := s.Count(context.Background(), Query{Words: []string{"hello"}}); err != nil || n != want {
			t.Fatalf("count %d, %v; want %d", n, err, want)
		}
		if _, err := s.Run(context.Background(), Query{Limit: 1}); err != nil {
			t.Fatal(err)
		}
	}
	count(3)
	count(3)
	if pool.opened != 1 {
		t.Fatalf("%d connections opened for two searches of one partition, want 1", pool.opened)
	}
	// The partition made again under its name (what a restore would do).
	path := index.PartitionFile(dir, day)
	if err := os.Rename(index.PartitionFile(other, day), path); err != nil {
		t.Fatal(err)
	}
	count(5)
	if pool.opened != 2 {
		t.Fatalf("%d connections opened, want 2: the replaced file's was handed out again", pool.opened)
	}
	pool.CloseIdle(0)
	if len(pool.conns) != 0 {
		t.Fatalf("idle connections left: %v", pool.conns)
	}
	count(5)
	if pool.opened != 3 {
		t.Fatalf("%d connections opened, want 3 after CloseIdle", pool.opened)
	}
}

// A query's workers take their readers of sealed blocks from the pool
// too, and give them back.
func TestConnPoolLendsWorkersTheirReaders(t *testing.T) {
	defer func(n, procs int) { ownReaderJobs = n; runtime.GOMAXPROCS(procs) }(ownReaderJobs, runtime.GOMAXPROCS(2))
	ownReaderJobs = 1
	day := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var evs []schema.Event
	want := 0
	for i := range 3 * index.FullBlock {
		if i%10 > 4 {
			want++
		}
		evs = append(evs, schema.Event{Time: day.Add(time.Duration(i) * time.Millisecond), Service: "s", Level: schema.LevelInfo, Host: "h",
			Message: "hello", Publisher: "p", Fields: schema.Fields{"n": int64(i % 10)}})
	}
	dir := writeIndex(t, evs)
	pool := NewConnPool()
	defer pool.Close()
	q := Query{Expr: must(ql.Parse("n:>4 | stats count() by (service)"))}
	for range 3 {
		s := must(NewSearcher(dir))
		s.Pool = pool
		tab, err := s.Run(context.Background(), q)
		if err != nil || len(tab.Rows) != 1 || fmt.Sprint(tab.Rows[0][1]) != strconv.Itoa(want) {
			t.Fatalf("table %+v, %v", tab, err)
		}
	}
	if len(pool.sealed) != 1 || len(pool.sealed[index.PartitionFile(dir, day)]) == 0 {
		t.Fatalf("no readers of sealed blocks given back: %v", pool.sealed)
	}
	if pool.opened > 3 {
		t.Fatalf("%d connections opened over three queries, want at most 3 (the partition's, two workers')", pool.opened)
	}
}
