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

// writeCommits writes each batch as one commit of a new index, closes it,
// and opens the partition of at for the test to look into.
func writeCommits(t *testing.T, at time.Time, commits ...[]schema.Event) *sql.DB {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "index")
	w, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range commits {
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
	t.Cleanup(func() { db.Close() })
	return db
}

// Late events (at or before what is stored) that share a timestamp with
// each other, but not with a stored row, must all be stored: the bulk
// insert takes the first and the others need a bumped id.
func TestLateEventsWithEqualTimes(t *testing.T) {
	at := time.Date(2026, 11, 25, 2, 54, 0, 123456789, time.UTC)
	ev := func(svc string, t time.Time, msg string) schema.Event {
		return schema.Event{Time: t, Service: svc, Level: schema.LevelInfo, Host: "h", Message: msg}
	}
	// A later event is committed first (the app's answer), then the access
	// event and the sidecar's copy of it arrive together, with one time.
	db := writeCommits(t, at,
		[]schema.Event{ev("downcase", at.Add(50*time.Microsecond), "answer")},
		[]schema.Event{ev("downcase-access", at, "GET 200"), ev("downcase-file", at, "GET 200"), ev("other", at, "third at the same time")},
	)
	var rows, fts int
	db.QueryRow("SELECT count(*) FROM events").Scan(&rows)
	db.QueryRow("SELECT count(*) FROM events_fts WHERE events_fts MATCH '200 OR answer OR third'").Scan(&fts)
	if rows != 4 || fts != 4 {
		t.Fatalf("stored %d events (%d in the full-text index), want 4", rows, fts)
	}
}

// Late events with free ids (publishers interleaving) go in with one plain
// INSERT; each is stored once, at its own time, and reaches the full-text
// index.
func TestLateEventsWithFreeIDs(t *testing.T) {
	at := time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC)
	ev := func(d time.Duration, msg string) schema.Event {
		return schema.Event{Time: at.Add(d), Service: "s", Level: schema.LevelInfo, Host: "h", Message: msg}
	}
	db := writeCommits(t, at,
		[]schema.Event{ev(time.Millisecond, "newest")},
		[]schema.Event{ev(0, "late zero"), ev(1, "late one"), ev(2, "late two")},
	)
	var rows, bumped, fts int
	db.QueryRow("SELECT count(*), sum(bump != 0) FROM events").Scan(&rows, &bumped)
	db.QueryRow("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'late OR newest'").Scan(&fts)
	if rows != 4 || bumped != 0 || fts != 4 {
		t.Fatalf("stored %d events (%d bumped, %d in the full-text index), want 4, 0, 4", rows, bumped, fts)
	}
}

// Many events sharing timestamps, arriving over many commits and mixed with
// neighbours one nanosecond apart, all get distinct ids whose time (id -
// bump) is exactly their own, and every one reaches the full-text index.
func TestSharedTimestampsAcrossCommits(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	const commits, per = 40, 250
	want := map[int64]int{}
	var commitsOf [][]schema.Event
	for c := 0; c < commits; c++ {
		var b []schema.Event
		for i := 0; i < per; i++ {
			// Mostly one second, some events a few ns later whose ids the
			// run of the first must step around.
			ts := at
			if i%10 == 0 {
				ts = at.Add(time.Duration(c%5+1) * time.Nanosecond)
			}
			want[ts.UnixNano()]++
			b = append(b, schema.Event{Time: ts, Service: "s", Level: schema.LevelInfo, Host: "h", Message: "shared stamp"})
		}
		commitsOf = append(commitsOf, b)
	}
	db := writeCommits(t, at, commitsOf...)
	rows, err := db.Query("SELECT id - bump, count(*), count(DISTINCT id) FROM events GROUP BY 1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]int{}
	for rows.Next() {
		var ts int64
		var n, distinct int
		rows.Scan(&ts, &n, &distinct)
		if n != distinct {
			t.Fatalf("time %d: %d rows but %d distinct ids", ts, n, distinct)
		}
		got[ts] = n
	}
	rows.Close()
	if len(got) != len(want) {
		t.Fatalf("times stored %v, want %v", got, want)
	}
	for ts, n := range want {
		if got[ts] != n {
			t.Fatalf("time %d: %d events stored, want %d", ts, got[ts], n)
		}
	}
	var fts int
	db.QueryRow("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'shared'").Scan(&fts)
	if fts != commits*per {
		t.Fatalf("full-text index holds %d events, want %d", fts, commits*per)
	}
}
