package index

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

// A partition written at schema version 2 (before source labels) is
// migrated in place when the writer opens it: its series keep their ids,
// its events stay searchable by label token, and new events with labels
// get series of their own.
func TestMigrateVersion2Partition(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	path := PartitionFile(dir, at)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range append(migrations[:2:2], "PRAGMA user_version = 2",
		"INSERT INTO series(id, service, level, host, publisher) VALUES (7, 'web', 3, 'h1', 'p1')",
		fmt.Sprintf("INSERT INTO events(id, series, message) VALUES (%d, 7, 'before labels')", at.UnixNano()),
		"INSERT INTO events_fts(rowid, message, fields, labels) SELECT e.id, e.message, e.fields, 'l' || s.level || ' s' || hex(s.service) || ' h' || hex(s.host) FROM events e JOIN series s ON s.id = e.series") {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()

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
	if version != SchemaVersion || SchemaVersion != 3 {
		t.Fatalf("user_version %d, SchemaVersion %d", version, SchemaVersion)
	}
	count := func(match string) (n int) {
		if err := rdb.QueryRow("SELECT count(*) FROM events_fts WHERE events_fts MATCH ?", match).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("labels: " + ServiceToken("web")); n != 2 {
		t.Errorf("%d events of service web, want 2", n)
	}
	if n := count("labels: " + LabelToken("env", "prod")); n != 1 {
		t.Errorf("%d events labelled env=prod, want 1", n)
	}
	var oldSeries int
	if err := rdb.QueryRow("SELECT count(*) FROM series WHERE id = 7 AND labels = ''").Scan(&oldSeries); err != nil || oldSeries != 1 {
		t.Errorf("series 7 after the migration: %d rows, %v", oldSeries, err)
	}
}
