package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/zlog/zlog/schema"
)

// The index is a directory of SQLite files, one per UTC day of event time
// ("partitions"): <data>/index/2026-11-24.db. Retention deletes whole files;
// a query opens only the days its time range touches.
//
// Inside a partition, events.id is the event time in Unix nanoseconds, plus a
// small bump when two events share a timestamp. Row order is therefore time
// order, and the FTS rowid (= events.id) can be limited to a time window, so a
// word + time-range query never walks the word's matches outside the window.
//
// Label filters (level, service, host) also go through FTS: the labels column
// holds one token per label (LabelTokens), so "errors in the last hour" is a
// doclist walk bounded by the same rowid window. A secondary B-tree index on
// the labels cost a third of the ingest rate (ids arrive in time order but
// land all over an index keyed by label first) and 18 bytes per event.

// LabelsSQL computes an event's labels column from its series row (alias s);
// LevelToken, ServiceToken, HostToken and LabelToken build the same tokens
// for queries. Hex keeps any service, host or label a single unicode61
// token. series.label_tokens holds the source labels' tokens (Go computes
// them: SQL cannot split a label set), each after a space.
const LabelsSQL = `'l' || s.level || ' s' || hex(s.service) || ' h' || hex(s.host) || s.label_tokens`

// LabelsColumn is series.labels for an event's labels: a JSON object with
// sorted keys, "" when there are none.
func LabelsColumn(l schema.Labels) string {
	if len(l) == 0 {
		return ""
	}
	b, _ := json.Marshal(l) // strings only: cannot fail
	return string(b)
}

// ParseLabelsColumn reads series.labels.
func ParseLabelsColumn(s string) (schema.Labels, error) {
	if s == "" {
		return nil, nil
	}
	var l schema.Labels
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("read series labels %q: %w", s, err)
	}
	return l, nil
}

// LabelTokensColumn is series.label_tokens for an event's labels.
func LabelTokensColumn(l schema.Labels) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteByte(' ')
		b.WriteString(LabelToken(k, l[k]))
	}
	return b.String()
}

// LabelToken is the labels-column token of one source label.
func LabelToken(key, value string) string { return fmt.Sprintf("k%X", key+"="+value) }

// FieldsColumn is the events.fields value for an event's fields: a JSON
// object with sorted keys, or nil (NULL) when there are none. Whatever
// matches events outside the index (logq's live filter) feeds FTS5 this same
// text, so both see the same tokens.
func FieldsColumn(f schema.Fields) any {
	if len(f) == 0 {
		return nil
	}
	b, err := json.Marshal(f) // sorted keys; numbers and booleans keep their JSON type
	if err != nil {
		return nil // validated values (strings, finite numbers, booleans) always marshal
	}
	return string(b)
}

// LevelToken is the labels-column token of a level.
func LevelToken(l schema.Level) string { return fmt.Sprintf("l%d", l) }

// ServiceToken is the labels-column token of a service.
func ServiceToken(service string) string { return fmt.Sprintf("s%X", service) }

// HostToken is the labels-column token of a host.
func HostToken(host string) string { return fmt.Sprintf("h%X", host) }

// DayOf returns the UTC day (midnight) that holds t; partitions are days.
func DayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// PartitionExt is the file name suffix of index partitions.
const PartitionExt = ".db"

const partitionLayout = "2006-01-02"

// PartitionFile names the partition holding day (any time within it).
func PartitionFile(indexDir string, day time.Time) string {
	return filepath.Join(indexDir, DayOf(day).Format(partitionLayout)+PartitionExt)
}

// Partition is one day file of the index.
type Partition struct {
	Day  time.Time // UTC midnight
	Path string
}

// ListPartitions returns the partitions in indexDir, oldest first. Files that
// do not look like partitions are ignored.
func ListPartitions(indexDir string) ([]Partition, error) {
	matches, err := filepath.Glob(filepath.Join(indexDir, "????-??-??"+PartitionExt))
	if err != nil {
		return nil, fmt.Errorf("list partitions in %q: %w", indexDir, err)
	}
	var parts []Partition
	for _, m := range matches {
		day, err := time.Parse(partitionLayout, strings.TrimSuffix(filepath.Base(m), PartitionExt))
		if err != nil {
			continue
		}
		parts = append(parts, Partition{Day: day, Path: m})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Day.Before(parts[j].Day) })
	return parts, nil
}

// migrations[i] takes a partition from user_version i to i+1. Append only:
// never edit a migration that has shipped.
var migrations = []string{
	// 1: events, their label dictionary, and the full-text index.
	`
CREATE TABLE series (
	id        INTEGER PRIMARY KEY,
	service   TEXT    NOT NULL,
	level     INTEGER NOT NULL,
	host      TEXT    NOT NULL,
	publisher TEXT    NOT NULL,
	UNIQUE (service, level, host, publisher)
);
CREATE TABLE events (
	id      INTEGER PRIMARY KEY,        -- time in ns + bump: row order is time order
	series  INTEGER NOT NULL,           -- series.id
	bump    INTEGER NOT NULL DEFAULT 0, -- id - time; 0 unless timestamps collided
	seq     INTEGER,                    -- per-stream sequence number, NULL if none
	message TEXT    NOT NULL,
	fields  TEXT                        -- JSON object, NULL if none
);
CREATE VIRTUAL TABLE events_fts USING fts5(
	message, fields, labels,
	content='', columnsize=0, detail=full,
	tokenize='unicode61 remove_diacritics 2'
);
`,
	// 2: per-stream high-water marks, written in the same transaction as the
	// events they cover, so "stored" and "acknowledged" cannot disagree.
	`
CREATE TABLE streams (
	publisher TEXT    NOT NULL,
	topic     TEXT    NOT NULL,
	hwm       INTEGER NOT NULL, -- highest sequence number stored in this partition
	PRIMARY KEY (publisher, topic)
) WITHOUT ROWID;
`,
	// 3: source labels (env, pod) are part of a series. SQLite cannot change
	// a UNIQUE constraint in place, so the table is rebuilt with the same ids.
	`
CREATE TABLE series_v3 (
	id           INTEGER PRIMARY KEY,
	service      TEXT    NOT NULL,
	level        INTEGER NOT NULL,
	host         TEXT    NOT NULL,
	publisher    TEXT    NOT NULL,
	labels       TEXT    NOT NULL DEFAULT '', -- JSON object, sorted keys; '' when none
	label_tokens TEXT    NOT NULL DEFAULT '', -- their labels-column tokens
	UNIQUE (service, level, host, publisher, labels)
);
INSERT INTO series_v3 (id, service, level, host, publisher) SELECT id, service, level, host, publisher FROM series;
DROP TABLE series;
ALTER TABLE series_v3 RENAME TO series;
`,
}

// SchemaVersion is the user_version of a fully migrated partition.
var SchemaVersion = len(migrations)

// ErrNewerSchema means the file was written by a newer zlog.
var ErrNewerSchema = errors.New("index schema is newer than this binary")

// Migrate brings a partition to SchemaVersion in one transaction, so a
// reader never sees a file half way (events without the streams table).
func Migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("%w: file has version %d, this binary knows up to %d", ErrNewerSchema, v, SchemaVersion)
	}
	if v == SchemaVersion {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate from version %d: %w", v, err)
	}
	defer tx.Rollback()
	for ; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
	}
	// PRAGMA takes no bound parameters; v is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		return fmt.Errorf("migrate to version %d: %w", v, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to version %d: %w", v, err)
	}
	return nil
}
