package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/zlog/zlog/schema"
)

// ErrNotReady marks a partition the collector has created but not yet given
// its tables (user_version 0): it holds no events yet.
var ErrNotReady = errors.New("partition not initialised yet")

// OpenReadOnly opens a partition for reading while the collector may be
// writing it. A partition written by a newer zlog is refused. The page
// cache is 1 MiB (SQLite's default is 2): the collector's API may have many
// readers open at once, and queries walk doclists more than they reread pages.
func OpenReadOnly(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000&_cache_size=-1024")
	if err != nil {
		return nil, fmt.Errorf("open index %q: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("open index %q: %w", path, err)
	}
	if v == 0 {
		db.Close()
		return nil, ErrNotReady
	}
	if v > SchemaVersion {
		db.Close()
		return nil, fmt.Errorf("open index %q: %w: file has version %d, this binary knows up to %d", path, ErrNewerSchema, v, SchemaVersion)
	}
	return db, nil
}

// marksSQL reads a partition's stream high-water marks.
const marksSQL = "SELECT publisher, topic, hwm FROM streams"

// scanMarks adds each stream's high-water mark in db to marks, keeping the
// highest: a stream's newest events may be in any partition.
func scanMarks(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, marks map[schema.Stream]uint64) error {
	rows, err := db.QueryContext(ctx, marksSQL)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s schema.Stream
		var hwm int64
		if err := rows.Scan(&s.Publisher, &s.Topic, &hwm); err != nil {
			return err
		}
		marks[s] = max(marks[s], uint64(hwm))
	}
	return rows.Err()
}

// ReadMarks returns every stream's highest committed sequence number over
// all partitions in dir, reading them as a reader does (the collector may be
// writing). Partitions not initialised yet, or damaged, are skipped.
func ReadMarks(ctx context.Context, dir string) (map[schema.Stream]uint64, error) {
	parts, err := ListPartitions(dir)
	if err != nil {
		return nil, err
	}
	marks := make(map[schema.Stream]uint64)
	for _, part := range parts {
		db, err := OpenReadOnly(part.Path)
		if errors.Is(err, ErrNotReady) || IsDamaged(err) {
			continue // a damaged partition has no marks to give
		}
		if err != nil {
			return nil, err
		}
		err = scanMarks(ctx, db, marks)
		db.Close()
		if IsDamaged(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read high-water marks of %q: %w", part.Path, err)
		}
	}
	return marks, nil
}
