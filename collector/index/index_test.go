package index

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

// Late events (at or before what is stored) that share a timestamp with
// each other, but not with a stored row, must all be stored: the bulk
// insert takes the first and the others need a bumped id.
func TestLateEventsWithEqualTimes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	w, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 2, 54, 0, 123456789, time.UTC)
	ev := func(svc string, t time.Time, msg string) schema.Event {
		return schema.Event{Time: t, Service: svc, Level: schema.LevelInfo, Host: "h", Message: msg}
	}
	// A later event is committed first (the app's answer), then the access
	// event and the sidecar's copy of it arrive together, with one time.
	batches := [][]schema.Event{
		{ev("downcase", at.Add(50*time.Microsecond), "answer")},
		{ev("downcase-access", at, "GET 200"), ev("downcase-file", at, "GET 200"), ev("other", at, "third at the same time")},
	}
	for _, b := range batches {
		if err := w.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", PartitionFile(dir, at))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, fts int
	db.QueryRow("SELECT count(*) FROM events").Scan(&rows)
	db.QueryRow("SELECT count(*) FROM events_fts WHERE events_fts MATCH '200 OR answer OR third'").Scan(&fts)
	if rows != 4 || fts != 4 {
		t.Fatalf("stored %d events (%d in the full-text index), want 4", rows, fts)
	}
}
