// Package index writes events into the SQLite index: one file per UTC day
// of event time, events stored in compressed blocks per service (see
// format.go, blocks.go and README.md for the layout and why).
//
// Each Write is one transaction per partition touched, holding the events'
// blocks and their streams' high-water marks together, so what is
// acknowledged is exactly what is stored.
package index

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers "sqlite3"

	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/atomicfile"
)

// Options configure the writer.
type Options struct {
	Dir       string        // <data>/index
	IdleClose time.Duration // close partitions not written for this long; 10m
	CacheKiB  int           // SQLite page cache per open partition; 16384

	// Committed, when set, is called after each partition commit with the
	// highest sequence number of each stream in that commit.
	Committed func(map[schema.Stream]uint64)

	// Retention, checked at New and then at most every RetentionEvery as
	// batches are written: partitions whose day ended more than Retain ago
	// are removed (0 keeps them), then the oldest while the index is over
	// MaxBytes (0: no limit). RetentionEvery defaults to 1m.
	Retain         time.Duration
	MaxBytes       int64
	RetentionEvery time.Duration
}

// Writer is not safe for concurrent use; the collector calls it from one goroutine.
type Writer struct {
	opts   Options
	logger *slog.Logger
	parts  map[int64]*partition // by UTC day, unix seconds

	lastRetention time.Time
	metrics       Metrics
}

// New creates the index directory. Partitions are opened on first write.
// metrics may be nil (nothing counted).
func New(opts Options, logger *slog.Logger, metrics *Metrics) (*Writer, error) {
	if opts.IdleClose <= 0 {
		opts.IdleClose = 10 * time.Minute
	}
	if opts.CacheKiB <= 0 {
		opts.CacheKiB = 16384
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create index directory %q: %w", opts.Dir, err)
	}
	w := &Writer{opts: opts, logger: logger.With("component", "index"), parts: make(map[int64]*partition), metrics: metrics.orNone()}
	if opts.RetentionEvery <= 0 {
		w.opts.RetentionEvery = time.Minute
	}
	if err := w.enforceRetention(time.Now()); err != nil {
		return nil, err
	}
	w.lastRetention = time.Now()
	return w, nil
}

// Write commits batch, one transaction per partition. On error, partitions
// already committed stay committed and the failing one is rolled back; the
// returned error says which. Retrying the whole batch would duplicate the
// committed part, so the caller retries only Failed.
func (w *Writer) Write(ctx context.Context, batch []schema.Event) error {
	byDay := make(map[int64][]*schema.Event, 1)
	var order []int64
	for i := range batch {
		d := DayOf(batch[i].Time).Unix()
		if _, ok := byDay[d]; !ok {
			order = append(order, d)
		}
		byDay[d] = append(byDay[d], &batch[i])
	}
	// Oldest day first: a stream's sequence numbers rise with time, so if a
	// crash falls between two partition commits, the durable high-water mark
	// (the maximum over partitions) never covers events that were not stored.
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	var failed []schema.Event
	var firstErr error
	for _, d := range order {
		evs := byDay[d]
		if err := w.writePartition(ctx, d, evs); err != nil {
			w.metrics.Errors.Inc()
			if firstErr == nil {
				firstErr = err
			}
			for _, ev := range evs {
				failed = append(failed, *ev)
			}
			continue
		}
		w.metrics.Stored.Add(float64(len(evs)))
	}
	w.Maintain()
	if firstErr != nil {
		return &WriteError{Failed: failed, Err: firstErr}
	}
	return nil
}

// Maintain closes idle partitions and applies retention when due. Write
// calls it; an idle collector calls it on its ticks, so retention applies
// whether or not events arrive.
func (w *Writer) Maintain() {
	w.closeIdle()
	if time.Since(w.lastRetention) >= w.opts.RetentionEvery {
		w.lastRetention = time.Now()
		if err := w.enforceRetention(w.lastRetention); err != nil {
			w.logger.Warn("retention failed; will retry", "err", err)
		}
	}
}

// ErrPartitionRemoved means a commit went into a partition file that was
// deleted while open: it did not count, and the events are written again.
var ErrPartitionRemoved = errors.New("index partition removed while open")

// WriteError reports the events of a batch that were not committed.
type WriteError struct {
	Failed []schema.Event
	Err    error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("index %d events: %v", len(e.Failed), e.Err)
}
func (e *WriteError) Unwrap() error { return e.Err }

// Unwritten are the events to write again.
func (e *WriteError) Unwritten() []schema.Event { return e.Failed }

func (w *Writer) writePartition(ctx context.Context, day int64, evs []*schema.Event) error {
	p, err := w.partition(ctx, day)
	if err != nil {
		return err
	}
	start := time.Now()
	hwms, err := p.write(ctx, evs)
	if err == nil && !p.stillThere() {
		// Committed into a file nobody can open again (the data directory
		// deleted under us): not stored. No ack; the caller writes the
		// batch again, into a new file.
		w.metrics.Lost.Inc()
		w.logger.Error("index partition removed while open; writing its batch again into a new file", "path", p.path)
		err = ErrPartitionRemoved
	}
	if err != nil {
		// The in-memory state (series ids, max id) may be ahead of what was
		// rolled back; reopen from disk next time.
		p.close()
		delete(w.parts, day)
		if IsDamaged(err) {
			w.quarantine(p.path, err)
		}
		return fmt.Errorf("partition %s: %w", time.Unix(day, 0).UTC().Format(time.DateOnly), err)
	}
	p.lastWrite = time.Now()
	w.metrics.CommitSeconds.Observe(time.Since(start).Seconds())
	if w.opts.Committed != nil && len(hwms) > 0 {
		w.opts.Committed(hwms)
	}
	return nil
}

// LoadHWMs reads every partition's stream high-water marks and returns the
// highest per stream: what the collector has durably stored. Partitions are
// opened for writing, so older ones are migrated first; damaged ones are
// moved aside.
func (w *Writer) LoadHWMs(ctx context.Context) (map[schema.Stream]uint64, error) {
	parts, err := ListPartitions(w.opts.Dir)
	if err != nil {
		return nil, err
	}
	out := make(map[schema.Stream]uint64)
	for _, part := range parts {
		if truncated(part.Path) {
			w.quarantine(part.Path, errTruncated)
			continue
		}
		p, err := openPartition(ctx, part.Path, 1024)
		if err == nil && p.migrated != "" {
			w.logger.Info("index partition migrated", "path", part.Path, "how", p.migrated)
		}
		if err == nil {
			err = scanMarks(ctx, p.conn, out)
			p.close()
		}
		if IsDamaged(err) {
			w.quarantine(part.Path, err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read high-water marks of %q: %w", part.Path, err)
		}
	}
	return out, nil
}

// quarantine moves a damaged partition aside, logs it and counts it; the
// next write to its day starts a new file.
func (w *Writer) quarantine(path string, cause error) {
	to, err := quarantine(path)
	if err != nil {
		w.logger.Error("damaged partition could not be moved aside", "path", path, "cause", cause, "err", err)
		return
	}
	w.metrics.Quarantined.Inc()
	w.logger.Error("damaged partition moved aside; its events remain in the log files", "path", path, "moved_to", to, "cause", cause)
}

func (w *Writer) partition(ctx context.Context, day int64) (*partition, error) {
	if p, ok := w.parts[day]; ok {
		return p, nil
	}
	path := PartitionFile(w.opts.Dir, time.Unix(day, 0))
	p, err := openPartition(ctx, path, w.opts.CacheKiB)
	if err == nil && p.migrated != "" {
		w.logger.Info("index partition migrated", "path", path, "how", p.migrated)
	}
	if IsDamaged(err) {
		w.quarantine(path, err)
	}
	if err != nil {
		return nil, err
	}
	w.parts[day] = p
	return p, nil
}

func (w *Writer) closeIdle() {
	for day, p := range w.parts {
		if time.Since(p.lastWrite) > w.opts.IdleClose {
			p.close()
			delete(w.parts, day)
		}
	}
}

// Close closes every partition; committed data is already durable in the WAL.
func (w *Writer) Close() error {
	var first error
	for day, p := range w.parts {
		if err := p.close(); err != nil && first == nil {
			first = err
		}
		delete(w.parts, day)
	}
	return first
}

// dsn is the go-sqlite3 data source name of a partition.
func dsn(path string, cacheKiB int) string {
	return fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_txlock=immediate&_cache_size=-%d", path, cacheKiB)
}

type seriesKey struct {
	service string
	level   schema.Level
	host    string
	pub     string
	labels  string // LabelsColumn
}

// appendPacked appends k as one run of bytes, each string after its
// length: looking a series up per event then hashes and compares one
// string, where five apart cost a cache miss each (8 % of the collector's
// CPU at full ingest, measured).
func (k *seriesKey) appendPacked(b []byte) []byte {
	b = append(binary.AppendUvarint(b, uint64(len(k.service))), k.service...)
	b = append(b, byte(k.level))
	b = append(binary.AppendUvarint(b, uint64(len(k.host))), k.host...)
	b = append(binary.AppendUvarint(b, uint64(len(k.pub))), k.pub...)
	return append(b, k.labels...)
}

// scanSeries reads a row of id, service, level, host, publisher, labels
// from the series table, with its packed key.
func scanSeries(rows *sql.Rows) (id int64, packed string, k seriesKey, err error) {
	if err = rows.Scan(&id, &k.service, &k.level, &k.host, &k.pub, &k.labels); err != nil {
		return 0, "", k, err
	}
	return id, string(k.appendPacked(nil)), k, nil
}

// streamKey is a stream by its parts: its topic is a concatenation,
// which made a string per event.
type streamKey struct {
	publisher, service string
	level              schema.Level
}

type partition struct {
	path      string
	file      *os.File // the file itself, to notice it deleted
	db        *sql.DB
	conn      *sql.Conn
	series    map[string]int64 // by seriesKey.appendPacked
	streams   seriesStreams
	packed    []byte // scratch for a packed key
	blocks    *blockStore
	lastWrite time.Time
	migrated  string // how opening it migrated the file, if it did
}

// seriesStreams numbers the streams of a partition's series, for the
// block codec's seq chains (block.Codec.SetStreams).
type seriesStreams struct {
	byID    []int64 // by series id (a partition's row ids, small and dense)
	numbers map[streamKey]int64
}

func (s *seriesStreams) add(id int64, k seriesKey) {
	if id < 0 || id >= 1<<24 {
		return // left to of, as a stream of its own
	}
	if s.numbers == nil {
		s.numbers = make(map[streamKey]int64)
	}
	sk := streamKey{k.pub, k.service, k.level}
	n, ok := s.numbers[sk]
	if !ok {
		n = int64(len(s.numbers))
		s.numbers[sk] = n
	}
	if id >= int64(len(s.byID)) {
		s.byID = append(s.byID, make([]int64, int(id)+1-len(s.byID))...)
	}
	s.byID[id] = n + 1
}

// of is series id's stream number; a series it was not told of is a
// stream of its own (a number no stream has).
func (s *seriesStreams) of(id int64) int64 {
	if id >= 0 && id < int64(len(s.byID)) && s.byID[id] > 0 {
		return s.byID[id]
	}
	return -1 - id
}

func openPartition(ctx context.Context, path string, cacheKiB int) (*partition, error) {
	// The directory may have been deleted under a running collector.
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create index directory: %w", err)
	}
	// SQLite gives the -wal and -shm files the mode of the database file,
	// so the file is made 0640 before SQLite first opens it. The descriptor
	// stays open to tell later whether the path still names this file.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create index %q: %w", path, err)
	}
	p, err := openSQLite(ctx, path, cacheKiB)
	if err != nil {
		f.Close()
		return nil, err
	}
	p.file = f
	return p, nil
}

// stillThere reports whether the partition's path still names the file it
// writes: not when the file or its directory was deleted or replaced.
func (p *partition) stillThere() bool { return atomicfile.StillAt(p.file, p.path) }

func openSQLite(ctx context.Context, path string, cacheKiB int) (*partition, error) {
	db, err := sql.Open("sqlite3", dsn(path, cacheKiB))
	if err != nil {
		return nil, fmt.Errorf("open index %q: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	p := &partition{path: path, db: db, series: make(map[string]int64), lastWrite: time.Now()}
	fail := func(err error) (*partition, error) {
		db.Close()
		return nil, fmt.Errorf("open index %q: %w", path, err)
	}
	start := time.Now()
	from, err := Migrate(ctx, db)
	if err != nil {
		return fail(err)
	}
	if from > 0 && from < SchemaVersion {
		p.migrated = fmt.Sprintf("from version %d to %d in %v", from, SchemaVersion, time.Since(start).Round(time.Millisecond))
	}
	if p.conn, err = db.Conn(ctx); err != nil {
		return fail(err)
	}
	return p, nil
}

// prepareWrites reads what writing needs of the file, on the first write:
// the series, and the blocks waiting to be merged or grouped. (At start-up
// every partition is opened for its marks alone.)
func (p *partition) prepareWrites(ctx context.Context) error {
	if p.blocks != nil {
		return nil
	}
	rows, err := p.conn.QueryContext(ctx, "SELECT id, service, level, host, publisher, labels FROM series")
	if err != nil {
		return fmt.Errorf("read series: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		id, packed, k, err := scanSeries(rows)
		if err != nil {
			return fmt.Errorf("read series: %w", err)
		}
		p.series[packed] = id
		p.streams.add(id, k)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read series: %w", err)
	}
	if p.blocks, err = newBlockStore(ctx, p.conn); err != nil {
		return err
	}
	p.blocks.codec.SetStreams(p.streams.of)
	return nil
}

func (p *partition) close() error {
	if p.conn != nil {
		p.conn.Close()
	}
	err := p.db.Close()
	if p.file != nil {
		p.file.Close()
	}
	return err
}

// write commits evs, with the high-water marks of their streams, in one
// transaction: per service, the events in time order become a block.
func (p *partition) write(ctx context.Context, evs []*schema.Event) (hwms map[schema.Stream]uint64, err error) {
	if err := p.prepareWrites(ctx); err != nil {
		return nil, err
	}
	tx, err := p.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	slices.SortStableFunc(evs, func(a, b *schema.Event) int { return a.Time.Compare(b.Time) })
	sids, err := p.seriesIDs(ctx, tx, evs)
	if err != nil {
		return nil, err
	}
	byService, marks := sortOut(evs, sids)
	counts := make(map[string]int, len(byService))
	for service, rows := range byService {
		counts[service] = len(*rows)
	}
	merge := p.blocks.merging(counts)
	for _, service := range slices.Sorted(maps.Keys(byService)) {
		if err := p.blocks.store(ctx, tx, service, *byService[service], merge[service]); err != nil {
			return nil, err
		}
	}
	if len(marks) > 0 {
		hwms = make(map[schema.Stream]uint64, len(marks))
		for k, seq := range marks {
			ev := schema.Event{Service: k.service, Level: k.level}
			hwms[schema.Stream{Publisher: k.publisher, Topic: ev.Topic()}] = seq
		}
	}
	for s, hwm := range hwms {
		if _, err := tx.ExecContext(ctx, `INSERT INTO streams(publisher, topic, hwm) VALUES (?, ?, ?)
			ON CONFLICT(publisher, topic) DO UPDATE SET hwm = max(hwm, excluded.hwm)`, s.Publisher, s.Topic, int64(hwm)); err != nil {
			return nil, fmt.Errorf("record high-water mark: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return hwms, nil
}

// sortOut makes the rows of each service and the high-water mark of each
// stream of a batch. It looks each event up by its series id, and its
// service and stream once per series: two string-keyed map lookups an
// event were 3 % of the collector's CPU at ingest (measured).
func sortOut(evs []*schema.Event, sids []int64) (byService map[string]*[]block.Row, marks map[streamKey]uint64) {
	type seriesOut struct {
		rows   *[]block.Row
		stream streamKey
		hwm    uint64
	}
	bySeries := make(map[int64]*seriesOut)
	byService = make(map[string]*[]block.Row)
	for i, ev := range evs {
		so := bySeries[sids[i]]
		if so == nil {
			rows := byService[ev.Service]
			if rows == nil {
				rows = new([]block.Row)
				byService[ev.Service] = rows
			}
			so = &seriesOut{rows: rows, stream: streamKey{ev.Publisher, ev.Service, ev.Level}}
			bySeries[sids[i]] = so
		}
		so.hwm = max(so.hwm, ev.Seq)
		*so.rows = append(*so.rows, block.Row{
			Time: ev.Time.UnixNano(), Series: sids[i], Seq: ev.Seq, Message: ev.Message, Fields: FieldsColumn(ev.Fields)})
	}
	marks = make(map[streamKey]uint64)
	for _, so := range bySeries {
		if so.hwm > 0 {
			marks[so.stream] = max(marks[so.stream], so.hwm)
		}
	}
	return byService, marks
}

// seriesIDs returns the series of each event, adding the series the
// partition does not have yet, many per statement (one INSERT each was
// 3 % of the collector's CPU while a burst brought new series).
func (p *partition) seriesIDs(ctx context.Context, tx *sql.Tx, evs []*schema.Event) ([]int64, error) {
	sids := make([]int64, len(evs))
	var fresh []seriesKey
	freshAt := map[string]int{} // packed key → index in fresh
	var waiting []int           // events whose series is in fresh
	for i, ev := range evs {
		k := seriesKey{ev.Service, ev.Level, ev.Host, ev.Publisher, LabelsColumn(ev.Labels)}
		p.packed = k.appendPacked(p.packed[:0])
		if id, ok := p.series[string(p.packed)]; ok {
			sids[i] = id
			continue
		}
		j, ok := freshAt[string(p.packed)]
		if !ok {
			j = len(fresh)
			freshAt[string(p.packed)] = j
			fresh = append(fresh, k)
		}
		sids[i] = int64(j)
		waiting = append(waiting, i)
	}
	if len(fresh) == 0 {
		return sids, nil
	}
	ids, err := p.addSeries(ctx, tx, fresh)
	if err != nil {
		return nil, err
	}
	for _, i := range waiting {
		sids[i] = ids[sids[i]]
	}
	return sids, nil
}

// seriesPerInsert keeps an INSERT's parameters (five a series) well
// under SQLite's limit of 32766.
const seriesPerInsert = 500

// addSeries inserts keys and returns their ids, in order.
func (p *partition) addSeries(ctx context.Context, tx *sql.Tx, keys []seriesKey) ([]int64, error) {
	ids := make([]int64, 0, len(keys))
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), seriesPerInsert)]
		keys = keys[len(chunk):]
		stmt := "INSERT INTO series(service, level, host, publisher, labels) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(chunk)), ", ") + " RETURNING id, service, level, host, publisher, labels"
		args := make([]any, 0, 5*len(chunk))
		at := make(map[string]int, len(chunk))
		for i, k := range chunk {
			args = append(args, k.service, int(k.level), k.host, k.pub, k.labels)
			at[string(k.appendPacked(nil))] = len(ids) + i
		}
		ids = ids[:len(ids)+len(chunk)]
		if err := p.scanAdded(ctx, tx, stmt, args, at, ids); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// scanAdded reads an INSERT's RETURNING rows, which come in no promised
// order, into ids by their keys' places in at, and remembers them.
func (p *partition) scanAdded(ctx context.Context, tx *sql.Tx, stmt string, args []any, at map[string]int, ids []int64) error {
	rows, err := tx.QueryContext(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("add series: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		id, packed, k, err := scanSeries(rows)
		if err != nil {
			return fmt.Errorf("add series: %w", err)
		}
		i, ok := at[packed]
		if !ok {
			return fmt.Errorf("add series: the index returned a series it was not given: %+v", k)
		}
		ids[i] = id
		p.series[packed] = id
		p.streams.add(id, k)
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("add series: %w", err)
	}
	if n != len(at) {
		return fmt.Errorf("add series: %d of %d added", n, len(at))
	}
	return nil
}
