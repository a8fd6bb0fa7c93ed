package index

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/schema"
)

// ErrNotReady marks a partition the collector has created but not yet given
// its tables (user_version 0): it holds no events yet.
var ErrNotReady = errors.New("partition not initialised yet")

// ErrOlderSchema marks a partition an older zlog wrote that the collector
// has not migrated yet (it migrates every partition when it starts):
// readers cannot search it until then.
var ErrOlderSchema = errors.New("index partition in an older format")

// OpenReadOnly opens a partition for reading while the collector may be
// writing it. A partition written by a newer zlog is refused, and one not
// yet migrated to this version's format too (ErrOlderSchema). The page
// cache is 1 MiB (SQLite's default is 2): the collector's API may have many
// readers open at once.
func OpenReadOnly(path string) (*sql.DB, error) {
	db, v, err := openAnyVersion(path)
	if err == nil && v < SchemaVersion {
		db.Close()
		return nil, fmt.Errorf("open index %q: %w: file has version %d; start this version's zlog-collector once to upgrade it to %d",
			path, ErrOlderSchema, v, SchemaVersion)
	}
	return db, err
}

// mapSize bounds how much of a partition a mapped reader maps: more than
// a day's partition holds (the bench's 10M events a day take 330 MB).
const mapSize = 4 << 30

// Map has SQLite read db's partition through a memory map (PRAGMA
// mmap_size) rather than a pread per 4 KiB page: for a reader kept open
// across queries (query.ConnPool), whose pages stay mapped from one to
// the next. A top by user over a day of 10M events spent a quarter of its
// time in those preads (measured on a 2-core VM: 110-115 -> 76-96 ms).
// Not for a short-lived reader: there each page is a page fault instead,
// dearer than the pread (12-14 µs against about 5 on that VM). As with
// every mapped store (LMDB, Prometheus' TSDB), an I/O error on the disk,
// or a partition truncated by hand while it is read, stops the process
// (SIGBUS) instead of failing the query.
func Map(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", mapSize)); err != nil {
		return fmt.Errorf("map index: %w", err)
	}
	return nil
}

// openAnyVersion opens a partition of this version or an older one, and
// says which.
func openAnyVersion(path string) (*sql.DB, int, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000&_cache_size=-1024")
	if err != nil {
		return nil, 0, fmt.Errorf("open index %q: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		db.Close()
		return nil, 0, fmt.Errorf("open index %q: %w", path, err)
	}
	if v == 0 {
		db.Close()
		return nil, 0, ErrNotReady
	}
	if v > SchemaVersion {
		db.Close()
		return nil, 0, fmt.Errorf("open index %q: %w: file has version %d, this binary knows up to %d", path, ErrNewerSchema, v, SchemaVersion)
	}
	return db, v, nil
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
// writing). Partitions not initialised yet, or damaged, are skipped; those
// of older versions still give their marks (version 2 has them).
func ReadMarks(ctx context.Context, dir string) (map[schema.Stream]uint64, error) {
	parts, err := ListPartitions(dir)
	if err != nil {
		return nil, err
	}
	marks := make(map[schema.Stream]uint64)
	for _, part := range parts {
		db, v, err := openAnyVersion(part.Path)
		if errors.Is(err, ErrNotReady) || IsDamaged(err) {
			continue // a damaged partition has no marks to give
		}
		if err != nil {
			return nil, err
		}
		if v < 2 {
			db.Close()
			continue // before stream marks
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

// Series is one row of a partition's label dictionary.
type Series struct {
	Service   string
	Level     schema.Level
	Host      string
	Publisher string
	Labels    schema.Labels
}

// ReadSeriesByID returns one series.
func ReadSeriesByID(ctx context.Context, db tx, id int64) (Series, error) {
	var s Series
	var labels string
	if err := db.QueryRowContext(ctx, "SELECT service, level, host, publisher, labels FROM series WHERE id = ?", id).
		Scan(&s.Service, &s.Level, &s.Host, &s.Publisher, &labels); err != nil {
		return s, fmt.Errorf("read series %d: %w", id, err)
	}
	var err error
	s.Labels, err = ParseLabelsColumn(labels)
	return s, err
}

// ReadLabelKeys returns the names of the labels a partition's series
// have: what a query asks before it decides whether a name is a field of
// the events alone, without reading every series.
func ReadLabelKeys(ctx context.Context, db tx) (map[string]bool, error) {
	keys := make(map[string]bool)
	var bad error
	err := eachBlob(ctx, db, "read label keys", func(_ int64, column []byte) {
		labels, err := ParseLabelsColumn(string(column))
		bad = cmp.Or(bad, err)
		for k := range labels {
			keys[k] = true
		}
	}, "SELECT 0, labels FROM (SELECT DISTINCT labels FROM series WHERE labels != '')")
	return keys, cmp.Or(err, bad)
}

// ReadSeries returns a partition's series by id: those of level minLevel
// or above, of services when not empty. A partition may hold thousands of
// series (a service on each of many hosts, each level): a query by level
// or service reads only its share.
func ReadSeries(ctx context.Context, db tx, minLevel schema.Level, services []string) (map[int64]Series, error) {
	stmt, args := ofServices("SELECT id, service, level, host, publisher, labels FROM series WHERE level >= ?", []any{int(minLevel)}, services)
	rows, err := db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("read series: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]Series)
	for rows.Next() {
		var id int64
		var s Series
		var labels string
		if err := rows.Scan(&id, &s.Service, &s.Level, &s.Host, &s.Publisher, &labels); err != nil {
			return nil, fmt.Errorf("read series: %w", err)
		}
		if s.Labels, err = ParseLabelsColumn(labels); err != nil {
			return nil, err
		}
		out[id] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read series: %w", err)
	}
	return out, nil
}

// BlockMeta is what a partition says about a block without decompressing
// it.
type BlockMeta struct {
	ID               int64
	Service          string
	MinTime, MaxTime int64
	Rows             int
	series           []byte
}

// EachSeries calls fn with how many events of each series the block holds,
// until fn returns false; only for blocks read withSeries.
func (b *BlockMeta) EachSeries(fn func(block.Series) bool) error {
	if err := block.EachSeries(b.series, b.MaxTime, fn); err != nil {
		return fmt.Errorf("block %d: %w", b.ID, err)
	}
	return nil
}

// Series decodes how many events of each series the block holds; only
// for blocks read withSeries.
func (b *BlockMeta) Series() ([]block.Series, error) {
	ss, err := block.UnmarshalSeries(b.series, b.MaxTime)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", b.ID, err)
	}
	return ss, nil
}

// blockColumns are what scanBlocks reads; the series summary (a good part
// of what there is to read) only withSeries.
func blockColumns(withSeries bool) string {
	if withSeries {
		return "id, service, min_time, max_time, rows, series"
	}
	return "id, service, min_time, max_time, rows, NULL"
}

// ReadBlocks returns the blocks holding events of [lo, hi] (Unix ns), of
// services when not empty, newest (by max_time) first; their series
// summaries only withSeries.
func ReadBlocks(ctx context.Context, db tx, lo, hi int64, services []string, withSeries bool) ([]BlockMeta, error) {
	stmt, args := ofServices("SELECT "+blockColumns(withSeries)+" FROM blocks WHERE max_time >= ? AND min_time <= ?", []any{lo, hi}, services)
	return scanBlocks(ctx, db, stmt+" ORDER BY max_time DESC, id DESC", args...)
}

// ReadBlocksAcross returns the blocks holding events of [lo, hi] that are
// not wholly inside it, newest first: the ones ServiceTotals leaves out.
func ReadBlocksAcross(ctx context.Context, db tx, lo, hi int64, withSeries bool) ([]BlockMeta, error) {
	return scanBlocks(ctx, db, "SELECT "+blockColumns(withSeries)+` FROM blocks
		WHERE max_time >= ? AND min_time <= ? AND (min_time < ? OR max_time > ?) ORDER BY max_time DESC, id DESC`, lo, hi, lo, hi)
}

// ServiceTotal is the events of a service's blocks and the newest time
// among them.
type ServiceTotal struct {
	Service       string
	Rows, MaxTime int64
}

// ServiceTotals sums the events of the blocks wholly inside [lo, hi] per
// service, in SQLite from blocks_by_time_covering: a count by service
// over a day of 10M events read two thousand block rows through
// database/sql to add them up (measured: a fifth of logq's time).
func ServiceTotals(ctx context.Context, db tx, lo, hi int64) ([]ServiceTotal, error) {
	return queryAll(ctx, db, "sum blocks by service", func(rows *sql.Rows, t *ServiceTotal) error {
		return rows.Scan(&t.Service, &t.Rows, &t.MaxTime)
	}, `SELECT service, sum(rows), max(max_time) FROM blocks
		WHERE max_time >= ? AND max_time <= ? AND min_time >= ? GROUP BY service`, lo, hi, lo)
}

// queryAll runs stmt and scans each row it returns into a T; what names
// the query in its errors.
func queryAll[T any](ctx context.Context, db tx, what string, scan func(*sql.Rows, *T) error, stmt string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// ofServices narrows a statement's WHERE to rows of services, when any.
func ofServices(stmt string, args []any, services []string) (string, []any) {
	if len(services) == 0 {
		return stmt, args
	}
	list, _ := json.Marshal(services)
	return stmt + " AND service IN (SELECT value FROM json_each(?))", append(args, string(list))
}

// ReadBlocksByID returns the blocks ids, newest (by max_time) first.
func ReadBlocksByID(ctx context.Context, db tx, ids []int64, withSeries bool) ([]BlockMeta, error) {
	list, _ := json.Marshal(ids)
	return scanBlocks(ctx, db, "SELECT "+blockColumns(withSeries)+" FROM blocks WHERE id IN (SELECT value FROM json_each(?)) ORDER BY max_time DESC, id DESC", string(list))
}

func scanBlocks(ctx context.Context, db tx, stmt string, args ...any) ([]BlockMeta, error) {
	return queryAll(ctx, db, "read blocks", func(rows *sql.Rows, b *BlockMeta) error {
		return rows.Scan(&b.ID, &b.Service, &b.MinTime, &b.MaxTime, &b.Rows, &b.series)
	}, stmt, args...)
}

// EachUngroupedLines calls fn with the id of each block with events in
// [lo, hi] whose filter is not in a filter group, and the lines its
// filter holds for hashes (block.LineOf, worked out by SQLite from the
// filter's size): a few bytes a block rather than its whole filter. The
// lines are SQLite's buffers: fn must not keep them.
func EachUngroupedLines(ctx context.Context, db tx, lo, hi int64, hashes []uint64, fn func(id int64, p block.Probe)) error {
	cols, args := ungroupedLineColumns(hashes)
	rows, err := db.QueryContext(ctx, `SELECT b.id`+cols+` FROM blocks b INDEXED BY blocks_ungrouped
		JOIN block_blooms f ON f.id = b.id WHERE b.grp IS NULL AND b.max_time >= ? AND b.min_time <= ?`,
		append(args, lo, hi)...)
	if err != nil {
		return fmt.Errorf("read block filters: %w", err)
	}
	defer rows.Close()
	var id int64
	lines := make([]sql.RawBytes, len(hashes))
	dest := []any{&id}
	for i := range lines {
		dest = append(dest, &lines[i])
	}
	probe := block.Probe{Hashes: hashes, Lines: make([][]byte, len(hashes))}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read block filters: %w", err)
		}
		for i := range lines {
			probe.Lines[i] = lines[i]
		}
		fn(id, probe)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read block filters: %w", err)
	}
	return nil
}

// ungroupedLineColumns selects the line of each hash from a filter f of
// whole lines (nothing from a damaged one, which then says yes).
func ungroupedLineColumns(hashes []uint64) (string, []any) {
	var cols strings.Builder
	args := make([]any, len(hashes))
	for i, h := range hashes {
		args[i] = int64(h >> 32) // block.LineOf: (h>>32) * lines >> 32
		fmt.Fprintf(&cols, `, CASE WHEN length(f.bloom) %% %[1]d = 0
			THEN substr(f.bloom, 1 + %[1]d * ((?%[2]d * (length(f.bloom) / %[1]d)) >> 32), %[1]d) END`, block.LineBytes, i+1)
	}
	return cols.String(), args
}

// EachCountsByID calls fn with the word counts of each block of ids. The
// counts are SQLite's buffer: fn must not keep them.
func EachCountsByID(ctx context.Context, db tx, ids []int64, fn func(id int64, c block.Counts)) error {
	list, _ := json.Marshal(ids)
	return eachBlob(ctx, db, "read block counts", func(id int64, b []byte) { fn(id, b) },
		"SELECT id, counts FROM block_filters WHERE id IN (SELECT value FROM json_each(?))", string(list))
}

// eachBlob runs stmt, which selects an id and a blob, and calls fn with
// each row, the blob in SQLite's buffer (no copy).
func eachBlob(ctx context.Context, db tx, what string, fn func(id int64, b []byte), stmt string, args ...any) error {
	rows, err := db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var id int64
	var blob sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&id, &blob); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fn(id, blob)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// EachBlockCounts calls fn with each block holding events of [lo, hi]
// and its word counts, in one walk: a count of a common word needs
// nothing else. The block's series summary (withSeries) and the counts
// are SQLite's buffers: fn must not keep them.
func EachBlockCounts(ctx context.Context, db tx, lo, hi int64, withSeries bool, fn func(b *BlockMeta, c block.Counts)) error {
	series := "NULL"
	if withSeries {
		series = "b.series"
	}
	rows, err := db.QueryContext(ctx, "SELECT b.id, b.min_time, b.max_time, "+series+", f.counts FROM blocks b JOIN block_filters f ON f.id = b.id WHERE b.max_time >= ? AND b.min_time <= ?", lo, hi)
	if err != nil {
		return fmt.Errorf("read block counts: %w", err)
	}
	defer rows.Close()
	var b BlockMeta
	var summary, counts sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&b.ID, &b.MinTime, &b.MaxTime, &summary, &counts); err != nil {
			return fmt.Errorf("read block counts: %w", err)
		}
		b.series = summary
		fn(&b, block.Counts(counts))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read block counts: %w", err)
	}
	return nil
}

// AppendBlock reads a block's data and, with withMessages, the messages
// stored apart (nil for blocks that hold them in data), appended to the
// buffers given, which a reader of many blocks reuses: a scan of a day
// read every block twice over in fresh memory otherwise (the driver's
// copy, then database/sql's). A count or a condition on fields reads no
// messages, three quarters of a block's bytes.
func AppendBlock(ctx context.Context, db tx, id int64, withMessages bool, data, messages []byte) ([]byte, []byte, error) {
	q := blockDataSQL
	if withMessages {
		q = blockBothSQL
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	// A read of one block is short: a query that can be cancelled costs
	// database/sql a goroutine that watches it, per block.
	rows, err := db.QueryContext(context.WithoutCancel(ctx), q, id)
	if err != nil {
		return nil, nil, fmt.Errorf("read block %d: %w", id, err)
	}
	return appendBlockRow(rows, id, data, messages)
}

// The queries of a block's data, without and with its messages.
const (
	blockDataSQL = "SELECT data, NULL FROM block_data WHERE id = ?"
	blockBothSQL = "SELECT data, messages FROM block_data WHERE id = ?"
)

// appendBlockRow appends the one row of a block's data query, and closes
// rows.
func appendBlockRow(rows *sql.Rows, id int64, data, messages []byte) ([]byte, []byte, error) {
	defer rows.Close()
	if !rows.Next() {
		err := rows.Err()
		if err == nil {
			err = sql.ErrNoRows
		}
		return nil, nil, fmt.Errorf("read block %d: %w", id, err)
	}
	var rawData, rawMessages sql.RawBytes // valid until Close: copied out at once
	if err := rows.Scan(&rawData, &rawMessages); err != nil {
		return nil, nil, fmt.Errorf("read block %d: %w", id, err)
	}
	data = append(data[:0], rawData...)
	if rawMessages == nil {
		return data, nil, nil
	}
	return data, append(messages[:0], rawMessages...), nil
}
