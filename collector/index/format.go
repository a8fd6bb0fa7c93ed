package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/zlog/zlog/schema"
)

// The index is a directory of SQLite files, one per UTC day of event time
// ("partitions"): <data>/index/2026-11-24.db. Retention deletes whole files;
// a query opens only the days its time range touches.
//
// Inside a partition (schema 5), events are stored in blocks of one
// service's events in time order (package block): zstd-compressed columns
// in block_data (the messages in a column of their own), and beside them,
// in blocks, the block's time range, how many events of each series it
// holds, and a filter of its words. A query
// reads the small rows of blocks to rule blocks out, and decompresses only
// the blocks that may match. See README.md for the measurements behind it.

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

// FieldsColumn is the stored form of an event's fields: a JSON object with
// sorted keys, or "" when there are none. Whatever matches events outside
// the index (logq's live filter) tokenises this same text, so both see the
// same words.
func FieldsColumn(f schema.Fields) string {
	if len(f) == 0 {
		return ""
	}
	if b, ok := schema.AppendPlainJSON(make([]byte, 0, 128), f); ok {
		return string(b)
	}
	b, err := json.Marshal(f) // sorted keys; numbers and booleans keep their JSON type
	if err != nil {
		return "" // validated values (strings, finite numbers, booleans) always marshal
	}
	return string(b)
}

// ParseFieldsColumn reads what FieldsColumn wrote: the fields of one
// event, as json.Unmarshal into schema.Fields reads them. What
// schema.AppendPlainJSON writes it reads with schema.ParsePlainJSON;
// anything else goes to json.Unmarshal, which read every event's fields
// twice (a validity scan, then the map of any) and was a quarter of the
// collector's time streaming a search's 125k events (measured).
func ParseFieldsColumn(s string) (schema.Fields, error) {
	if s == "" {
		return nil, nil
	}
	if f, ok := schema.ParsePlainJSON(s); ok {
		return f, nil
	}
	var f schema.Fields
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		return nil, err
	}
	return f, nil
}

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
var migrations = []migration{
	// 1: events, their label dictionary, and the full-text index.
	{sql: `
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
`},
	// 2: per-stream high-water marks, written in the same transaction as the
	// events they cover, so "stored" and "acknowledged" cannot disagree.
	{sql: `
CREATE TABLE streams (
	publisher TEXT    NOT NULL,
	topic     TEXT    NOT NULL,
	hwm       INTEGER NOT NULL, -- highest sequence number stored in this partition
	PRIMARY KEY (publisher, topic)
) WITHOUT ROWID;
`},
	// 3: source labels (env, pod) are part of a series. SQLite cannot change
	// a UNIQUE constraint in place, so the table is rebuilt with the same ids.
	{sql: `
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
`},
	// 4: events in compressed blocks instead of a row and a full-text entry
	// each (#15); the rows of version 3 are moved into blocks, then dropped.
	{sql: `
CREATE TABLE blocks (
	id       INTEGER PRIMARY KEY,
	service  TEXT    NOT NULL,
	min_time INTEGER NOT NULL, -- Unix ns of the oldest event
	max_time INTEGER NOT NULL, -- and of the newest
	rows     INTEGER NOT NULL,
	sealed   INTEGER NOT NULL, -- 0 while the writer may merge it with its service's next events
	grp      INTEGER,          -- filter_groups.id once its bloom filter is in a group
	series   BLOB    NOT NULL  -- block.MarshalSeries: events and newest time per series
);
CREATE INDEX blocks_by_time ON blocks(max_time);
CREATE INDEX blocks_ungrouped ON blocks(max_time) WHERE grp IS NULL;
CREATE TABLE block_filters ( -- apart, so that a query without words reads none
	id     INTEGER PRIMARY KEY, -- blocks.id
	counts BLOB    NOT NULL,    -- block.MarshalCounts: rows holding each frequent word
	bloom  BLOB                 -- block.Bloom of every word; NULL once in a filter group
);
CREATE TABLE block_data (
	id   INTEGER PRIMARY KEY, -- blocks.id
	data BLOB    NOT NULL     -- block.Codec.Encode: the events, compressed
);
-- The bloom filters of GroupBlocks sealed blocks, line by line: a rare
-- word reads one line of each size of filter per group, instead of every
-- block's filter.
CREATE TABLE filter_groups (
	id       INTEGER PRIMARY KEY,
	min_time INTEGER NOT NULL,
	max_time INTEGER NOT NULL,
	members  BLOB    NOT NULL -- per member block, in order: id and filter lines, as varints
);
CREATE INDEX filter_groups_by_time ON filter_groups(max_time);
CREATE TABLE filter_lines (
	grp   INTEGER NOT NULL, -- filter_groups.id
	lines INTEGER NOT NULL, -- a filter size (in lines) some members have
	line  INTEGER NOT NULL,
	piece INTEGER NOT NULL, -- which pieceMembers of the members of that size
	bits  BLOB    NOT NULL, -- that line of each of them, in member order
	PRIMARY KEY (grp, lines, line, piece)
) WITHOUT ROWID;
`, then: func(ctx context.Context, tx *sql.Tx) error {
		// The blocks it writes are of today's layout, which needs version
		// 5's column and version 9's tables.
		if err := addMessagesColumn(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, filterTables); err != nil {
			return err
		}
		return moveEventsIntoBlocks(ctx, tx)
	}},
	// 5: a block's messages in a column of their own (block.Block.Messages),
	// which a count or a condition on fields never reads: three quarters of
	// a block's bytes. Blocks written before keep them in data.
	{then: addMessagesColumn},
	// 6: what a query reads of the blocks of a window (id, service, times,
	// rows), newest first, from one index without a table row per block:
	// the rows hold the series summaries, and reading them was half of a
	// count by service over a day (measured).
	{sql: `
CREATE INDEX blocks_by_time_covering ON blocks(max_time, id, min_time, service, rows);
DROP INDEX blocks_by_time;
`},
	// 7: blocks store their fields as columns (block/columns.go), which a
	// codec before cannot read: the version keeps an older zlog off the
	// file. Nothing is rewritten; blocks written before still decode.
	{},
	// 8: a block's head names its series in a dictionary and chains seqs
	// through streams (block/head.go); as for 7, nothing is rewritten.
	{},
	// 9: bloom filters waiting for a group in a table of their own, whose
	// rows are deleted when grouped (NULLed in block_filters, they left
	// its pages three quarters empty), and filter group lines under one
	// integer key, appended in order (see filterRows).
	{sql: filterTables, then: moveFilters},
	// 10: a block's series summary gives ids as distances
	// (block.MarshalSeries); as for 7, nothing is rewritten.
	{},
}

// filterTables are version 9's tables; version 4's Go half makes them
// too, for the blocks it writes.
const filterTables = `
CREATE TABLE IF NOT EXISTS block_blooms (
	id    INTEGER PRIMARY KEY, -- blocks.id, until its filter is in a group
	bloom BLOB    NOT NULL     -- block.Bloom of every word
);
CREATE TABLE IF NOT EXISTS filter_bits (
	key  INTEGER PRIMARY KEY, -- filter_groups.id << 32 | the row's place (filterRows)
	bits BLOB    NOT NULL     -- chunkBytes of a size's interleaved lines
);
`

// addMessagesColumn adds block_data.messages (the messages of a block
// stored apart, NULL where data holds them), unless the file already has
// it: version 4's Go part adds it before it moves version 3's rows into
// blocks of today's layout.
func addMessagesColumn(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info('block_data') WHERE name = 'messages'").Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, "ALTER TABLE block_data ADD COLUMN messages BLOB")
	return err
}

// moveFilters is the Go half of migration 9: the blooms of block_filters
// go into block_blooms, the lines of filter_lines into filter_bits (what
// version 4's Go half wrote is there already).
func moveFilters(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info('block_filters') WHERE name = 'bloom'").Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO block_blooms(id, bloom) SELECT id, bloom FROM block_filters WHERE bloom IS NOT NULL;
			ALTER TABLE block_filters DROP COLUMN bloom;`); err != nil {
			return fmt.Errorf("move bloom filters: %w", err)
		}
	}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'filter_lines'").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return moveFilterLines(ctx, tx)
}

// migration is one step of the schema: SQL, then Go for what SQL cannot do.
type migration struct {
	sql  string
	then func(context.Context, *sql.Tx) error
}

// SchemaVersion is the user_version of a fully migrated partition.
var SchemaVersion = len(migrations)

// ErrNewerSchema means the file was written by a newer zlog.
var ErrNewerSchema = errors.New("index schema is newer than this binary")

// Migrate brings a partition to SchemaVersion in one transaction, so a
// reader never sees a file half way (events without the streams table).
// from is the version the file had: 0 for a new file.
func Migrate(ctx context.Context, db *sql.DB) (from int, err error) {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if v > SchemaVersion {
		return v, fmt.Errorf("%w: file has version %d, this binary knows up to %d", ErrNewerSchema, v, SchemaVersion)
	}
	if v == SchemaVersion {
		return v, nil
	}
	return v, migrate(ctx, db, v)
}

func migrate(ctx context.Context, db *sql.DB, v int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate from version %d: %w", v, err)
	}
	defer tx.Rollback()
	from := v
	for ; v < SchemaVersion; v++ {
		m := migrations[v]
		if m.sql != "" {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v+1, err)
			}
		}
		if m.then == nil {
			continue
		}
		if err := m.then(ctx, tx); err != nil {
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
	if from > 0 && from < blocksVersion {
		// The dropped row and full-text tables were most of the file: give
		// their pages back, as the upgrade's point is the smaller index.
		if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
			return fmt.Errorf("compact after migrating to version %d: %w", v, err)
		}
	}
	return nil
}

// blocksVersion is the schema version that moved events into blocks.
const blocksVersion = 4
