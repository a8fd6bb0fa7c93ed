package index

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/schema"
)

// oldPartition creates a partition at schema version v with the given
// statements run after the migrations, as an older zlog left it.
func oldPartition(t *testing.T, path string, v int, stmts ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var all []string
	for _, m := range migrations[:v] {
		if m.sql != "" {
			all = append(all, m.sql)
		}
	}
	all = append(all, fmt.Sprintf("PRAGMA user_version = %d", v))
	for _, stmt := range append(all, stmts...) {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// A partition written at schema version 2 (before source labels) is
// migrated in place when the writer opens it: its series keep their ids,
// its events move into blocks, and new events with labels get series of
// their own.
func TestMigrateVersion2Partition(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	path := PartitionFile(dir, at)
	oldPartition(t, path, 2,
		"INSERT INTO series(id, service, level, host, publisher) VALUES (7, 'web', 3, 'h1', 'p1')",
		fmt.Sprintf("INSERT INTO events(id, series, message) VALUES (%d, 7, 'before labels')", at.UnixNano()),
		"INSERT INTO events_fts(rowid, message, fields, labels) SELECT e.id, e.message, e.fields, 'l' || s.level FROM events e JOIN series s ON s.id = e.series")

	w, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	labeled := schema.Event{Time: at.Add(time.Second), Service: "web", Level: schema.LevelInfo, Host: "h1", Message: "with labels",
		Publisher: "p1", Labels: schema.Labels{"env": "prod"}}
	if err := w.Write(context.Background(), []schema.Event{labeled}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rdb, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	var version int
	rdb.QueryRow("PRAGMA user_version").Scan(&version)
	if version != SchemaVersion || SchemaVersion != 10 {
		t.Fatalf("user_version %d, SchemaVersion %d", version, SchemaVersion)
	}
	rows := storedRows(t, rdb)["web"]
	if len(rows) != 2 || rows[0].Series != 7 || rows[0].Message != "before labels" || rows[0].Time != at.UnixNano() {
		t.Fatalf("rows after the migration: %+v", rows)
	}
	series, err := ReadSeries(context.Background(), rdb, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := series[rows[1].Series]; rows[1].Series == 7 || s.Labels["env"] != "prod" || series[7].Labels != nil {
		t.Fatalf("series %+v", series)
	}
}

// A version 3 partition's events, bumped ids included, keep their exact
// times, sequence numbers, fields and series in version 4's blocks; the
// row and full-text tables are gone.
func TestMigrateVersion3Partition(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	path := PartitionFile(dir, at)
	stmts := []string{
		"INSERT INTO series(id, service, level, host, publisher, labels) VALUES (1, 'web', 3, 'h1', 'p1', ''), (2, 'db', 5, 'h2', 'p2', '{\"env\":\"prod\"}')",
	}
	const n = 2500
	for i := 0; i < n; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO events(id, series, bump, seq, message, fields) VALUES (%d, %d, %d, %d, 'event %d', %s)",
			at.UnixNano()+int64(i/2*2+i%2), 1+i%2, i%2, i+1, i, map[bool]string{true: `'{"n":1}'`, false: "NULL"}[i%3 == 0]))
	}
	oldPartition(t, path, 3, stmts...)
	var logs strings.Builder
	w, err := New(Options{Dir: dir}, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.LoadHWMs(context.Background()); err != nil { // opens, so migrates, every partition
		t.Fatal(err)
	}
	w.Close()
	if !strings.Contains(logs.String(), "index partition migrated") || !strings.Contains(logs.String(), fmt.Sprintf("from version 3 to %d", SchemaVersion)) {
		t.Errorf("the migration was not logged: %s", logs.String())
	}
	db, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name IN ('events', 'events_fts')").Scan(&tables)
	if tables != 0 {
		t.Fatalf("%d version 3 tables left", tables)
	}
	var free int
	db.QueryRow("PRAGMA freelist_count").Scan(&free)
	if free != 0 {
		t.Fatalf("%d free pages after the migration: the dropped tables' space was not given back", free)
	}
	got := 0
	for service, rows := range storedRows(t, db) {
		for _, r := range rows {
			i := int(r.Seq) - 1
			wantService := map[int]string{0: "web", 1: "db"}[i%2]
			wantFields := map[bool]string{true: `{"n":1}`}[i%3 == 0]
			if service != wantService || r.Series != int64(1+i%2) || r.Time != at.UnixNano()+int64(i/2*2) || r.Message != fmt.Sprintf("event %d", i) || r.Fields != wantFields {
				t.Fatalf("%s: row %+v", service, r)
			}
			got++
		}
	}
	if got != n {
		t.Fatalf("%d events after the migration, want %d", got, n)
	}
}

// A version 4 partition, whose blocks hold their messages in data, is
// migrated when the writer opens it: its unsealed block still decodes and
// merges with new events, and what is written now stores its messages
// apart.
func TestMigrateVersion4Partition(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("block", "testdata", "block-v4.hex"))
	if err != nil {
		t.Fatal(err)
	}
	v4, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := block.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	old, err := c.Decode(v4, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode(old) // for its summary and filter
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "index")
	at := time.Unix(0, b.MaxTime).UTC()
	path := PartitionFile(dir, at)
	oldPartition(t, path, 4,
		"INSERT INTO series(id, service, level, host, publisher) VALUES (1, 'web', 3, 'h1', 'p1'), (2, 'web', 3, 'h2', 'p1'), (3, 'web', 5, 'h1', 'p1')",
		fmt.Sprintf("INSERT INTO blocks(id, service, min_time, max_time, rows, sealed, series) VALUES (1, 'web', %d, %d, %d, 0, X'%x')",
			b.MinTime, b.MaxTime, b.Count, block.MarshalSeries(b.Series, b.MaxTime)),
		fmt.Sprintf("INSERT INTO block_filters(id, counts, bloom) VALUES (1, X'%x', X'%x')", block.MarshalCounts(b.Filter.Counts), []byte(b.Filter.Bloom)),
		fmt.Sprintf("INSERT INTO block_data(id, data) VALUES (1, X'%x')", v4))

	w, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Enough new events to fill a block: the unsealed run is read and merged.
	evs := make([]schema.Event, FullBlock)
	for i := range evs {
		evs[i] = schema.Event{Time: at.Add(time.Duration(i+1) * time.Millisecond), Service: "web", Level: schema.LevelInfo, Host: "h1", Publisher: "p1", Message: "after the upgrade"}
	}
	ev := evs[len(evs)-1]
	if err := w.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := storedRows(t, db)["web"]
	if len(rows) != len(old)+len(evs) || rows[len(rows)-1].Message != ev.Message || rows[len(rows)-1].Time != ev.Time.UnixNano() {
		t.Fatalf("rows after the upgrade: %+v", rows)
	}
	for i := range old {
		if rows[i].Message != old[i].Message || rows[i].Fields != old[i].Fields || rows[i].Time != old[i].Time {
			t.Fatalf("row %d: %+v, want %+v", i, rows[i], old[i])
		}
	}
	var inline, apart int
	db.QueryRow("SELECT count(*) FILTER (WHERE messages IS NULL), count(*) FILTER (WHERE messages IS NOT NULL) FROM block_data").Scan(&inline, &apart)
	if inline != 0 || apart == 0 {
		t.Errorf("%d blocks hold their messages inline, %d apart: the unsealed version 4 block was not rewritten", inline, apart)
	}
}

// A version 5 partition gains the covering index of the blocks in time
// when the writer opens it, and a window's blocks are read from it alone.
func TestMigrateVersion5Partition(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	path := PartitionFile(dir, at)
	write := func(msg string, at time.Time) {
		t.Helper()
		w, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		ev := schema.Event{Time: at, Service: "web", Level: schema.LevelInfo, Host: "h1", Publisher: "p1", Message: msg}
		if err := w.Write(context.Background(), []schema.Event{ev}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write("before", at)
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"DROP INDEX blocks_by_time_covering", "CREATE INDEX blocks_by_time ON blocks(max_time)", "PRAGMA user_version = 5"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	if _, err := OpenReadOnly(path); !errors.Is(err, ErrOlderSchema) {
		t.Fatalf("reading a version 5 file: %v, want ErrOlderSchema", err)
	}
	write("after", at.Add(time.Second))
	rdb, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if rows := storedRows(t, rdb)["web"]; len(rows) != 2 || rows[0].Message != "before" || rows[1].Message != "after" {
		t.Fatalf("rows after the upgrade: %+v", rows)
	}
	var detail string
	var id, parent, unused int
	if err := rdb.QueryRow("EXPLAIN QUERY PLAN SELECT "+blockColumns(false)+" FROM blocks WHERE max_time >= ? AND min_time <= ? ORDER BY max_time DESC, id DESC", 0, 1).
		Scan(&id, &parent, &unused, &detail); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "COVERING INDEX blocks_by_time_covering") {
		t.Errorf("a window's blocks are read by %q, want the covering index", detail)
	}
}
