package query

import (
	"database/sql"
	"fmt"
	"sync"
)

// A full-text expression is checked once, before any partition is read,
// against an empty in-memory FTS5 table with the index's columns and
// tokenizer: a syntax error is the user's (ErrBadQuery, exit 2, HTTP 400),
// and any error from a partition afterwards is the server's.
var ftsCheck struct {
	once sync.Once
	mu   sync.Mutex
	db   *sql.DB
	err  error
}

// checkMatch reports whether expr is a valid MATCH expression for the
// index's full-text table.
func checkMatch(expr string) error {
	ftsCheck.once.Do(func() {
		db, err := sql.Open("sqlite3", "file:ftscheck?mode=memory")
		if err == nil {
			db.SetMaxOpenConns(1)
			_, err = db.Exec("CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(message, fields, labels, tokenize='unicode61 remove_diacritics 2')")
		}
		ftsCheck.db, ftsCheck.err = db, err
	})
	if ftsCheck.err != nil {
		return fmt.Errorf("full-text check: %w", ftsCheck.err)
	}
	ftsCheck.mu.Lock()
	defer ftsCheck.mu.Unlock()
	rows, err := ftsCheck.db.Query("SELECT rowid FROM events_fts WHERE events_fts MATCH ?", expr)
	if err == nil {
		err = rows.Close()
	}
	return err
}
