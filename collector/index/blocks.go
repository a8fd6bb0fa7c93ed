package index

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/zlog/zlog/collector/index/block"
)

// FullBlock is how many events a block holds once sealed. Each commit
// stores a service's new events as one block; while a service's unsealed
// blocks hold fewer than FullBlock events together, they wait, and the
// commit that reaches FullBlock merges them into sealed blocks of
// FullBlock to 2×FullBlock−1 events. At high rates a commit fills a block
// on its own and events are compressed once; at low rates twice (their
// words are tokenized once: see run.words). Measured
// on the bench's 10M events (README.md), 2,048 against 1,024 made the
// index 5 % smaller and a count of a common word 20 % faster, with rare
// words and the newest matches as fast within the noise.
// 4,096 against 2,048, measured the same way (the same 10M events): the
// index 343.6 to 327.7 MB (of which about 1.5 % was the finer bloom
// filter sizes, measured at 1M), at 1M events 37.0-37.2 to 35.5-36.2 MB; a
// regex over an hour 12 % faster, a quantile by minute 14 %, a field
// comparison 15 %, a common word's count 10 %, a rare word 5 %; the
// newest 100 matches of a word and level 5 % slower.
const FullBlock = 4096

// tx is what block storage needs of a transaction or connection.
type tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// run is a service's unsealed blocks in a partition.
type run struct {
	ids  []int64
	rows int
	// words are the tallies of the run's blocks, so that sealing it does
	// not tokenize its rows again; nil for a run read back from the file.
	words *block.RunFilter
}

// blockStore writes one partition's blocks; it keeps each service's
// unsealed run in memory (rebuilt from the file when it is opened again).
type blockStore struct {
	codec     *block.Codec
	open      map[string]*run
	ungrouped []grouped // sealed blocks whose filters wait for a group, in id order
}

func newBlockStore(ctx context.Context, db tx) (*blockStore, error) {
	c, err := block.NewCodec()
	if err != nil {
		return nil, err
	}
	s := &blockStore{codec: c, open: make(map[string]*run)}
	rows, err := db.QueryContext(ctx, "SELECT id, service, rows FROM blocks WHERE sealed = 0 ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read unsealed blocks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var service string
		var n int
		if err := rows.Scan(&id, &service, &n); err != nil {
			return nil, fmt.Errorf("read unsealed blocks: %w", err)
		}
		r := s.runOf(service)
		r.ids = append(r.ids, id)
		r.rows += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read unsealed blocks: %w", err)
	}
	return s, s.readUngrouped(ctx, db)
}

func (s *blockStore) readUngrouped(ctx context.Context, db tx) error {
	rows, err := db.QueryContext(ctx, `SELECT b.id, b.min_time, b.max_time, f.bloom FROM blocks b JOIN block_blooms f ON f.id = b.id
		WHERE b.sealed AND b.grp IS NULL ORDER BY b.id`)
	if err != nil {
		return fmt.Errorf("read ungrouped filters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g grouped
		if err := rows.Scan(&g.id, &g.minTime, &g.maxTime, (*[]byte)(&g.bloom)); err != nil {
			return fmt.Errorf("read ungrouped filters: %w", err)
		}
		s.ungrouped = append(s.ungrouped, g)
	}
	return rows.Err()
}

func (s *blockStore) runOf(service string) *run {
	r := s.open[service]
	if r == nil {
		r = &run{}
		s.open[service] = r
	}
	return r
}

// mergeBudget is how many rows of unsealed runs a commit reads back and
// compresses again to seal them, beyond the runs it must seal: twice its
// new rows, and at least 2*FullBlock. Services with similar rates fill
// their runs in step: at 20k events/s over 20 services, all twenty sealed
// in the same commit, which took 130 ms instead of 10 and was most of the
// bench's publish -> searchable p99 (measured). Runs over the budget wait
// for a later commit, largest first. A large commit (under load) has the
// budget to seal them all: waiting there only compresses more rows twice.
func mergeBudget(newRows int) int { return max(2*FullBlock, 2*newRows) }

// merging picks the services whose runs a commit of n[service] new rows
// seals: those it must (the new rows fill a block alone, or the run would
// reach 2*FullBlock), then the largest of the others that reached
// FullBlock, within mergeBudget.
func (s *blockStore) merging(n map[string]int) map[string]bool {
	var due []string
	out := map[string]bool{}
	total := 0
	for _, rows := range n {
		total += rows
	}
	budget := mergeBudget(total)
	for service, rows := range n {
		r := s.open[service]
		switch {
		case r == nil || r.rows+rows < FullBlock:
		case rows >= FullBlock || r.rows+rows >= 2*FullBlock:
			out[service] = true
			budget -= r.rows
		default:
			due = append(due, service)
		}
	}
	slices.SortFunc(due, func(a, b string) int {
		return cmp.Or(cmp.Compare(s.open[b].rows, s.open[a].rows), cmp.Compare(a, b))
	})
	for _, service := range due {
		if s.open[service].rows > budget {
			break
		}
		out[service] = true
		budget -= s.open[service].rows
	}
	if len(out) == 0 && len(due) > 0 {
		out[due[0]] = true // one at least: every run seals in turn
	}
	return out
}

// store writes one service's new rows (in time order) in tx, sealing its
// run with them when merge says so (see merging). The in-memory runs
// change before tx commits: after a failed commit the caller must drop
// the store and read it again.
func (s *blockStore) store(ctx context.Context, db tx, service string, rows []block.Row, merge bool) error {
	if r := s.open[service]; r != nil && r.rows+len(rows) >= FullBlock && (merge || len(rows) >= FullBlock) {
		old, err := s.readRun(ctx, db, r.ids)
		if err != nil {
			return err
		}
		fresh := rows
		rows = append(old, rows...)
		slices.SortStableFunc(rows, func(a, b block.Row) int { return cmp.Compare(a.Time, b.Time) })
		delete(s.open, service)
		if r.words != nil && len(rows) < 2*FullBlock { // one sealed block
			_, err := s.insert(ctx, db, service, true, func() (block.Block, error) { return s.codec.EncodeSealing(rows, fresh, r.words) })
			return err
		}
	}
	if len(rows) < FullBlock {
		r := s.runOf(service)
		if len(r.ids) == 0 {
			r.words = new(block.RunFilter)
		}
		id, err := s.insert(ctx, db, service, false, func() (block.Block, error) {
			if r.words == nil {
				return s.codec.Encode(rows)
			}
			return s.codec.EncodeRun(rows, r.words)
		})
		if err != nil {
			return err
		}
		r.ids = append(r.ids, id)
		r.rows += len(rows)
		return nil
	}
	k := len(rows) / FullBlock
	for i := 0; i < k; i++ {
		if err := s.insertRows(ctx, db, service, rows[i*len(rows)/k:(i+1)*len(rows)/k]); err != nil {
			return err
		}
	}
	return nil
}

// insertRows stores rows as one sealed block.
func (s *blockStore) insertRows(ctx context.Context, db tx, service string, rows []block.Row) error {
	_, err := s.insert(ctx, db, service, true, func() (block.Block, error) { return s.codec.Encode(rows) })
	return err
}

// readRun reads and deletes the unsealed blocks ids, returning their rows.
func (s *blockStore) readRun(ctx context.Context, db tx, ids []int64) ([]block.Row, error) {
	var all []block.Row
	for _, id := range ids {
		data, messages, err := AppendBlock(ctx, db, id, true, nil, nil)
		if err != nil {
			return nil, err
		}
		rows, err := s.codec.Decode(data, messages)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", id, err)
		}
		all = append(all, rows...)
		for _, stmt := range []string{"DELETE FROM blocks WHERE id = ?", "DELETE FROM block_filters WHERE id = ?", "DELETE FROM block_blooms WHERE id = ?", "DELETE FROM block_data WHERE id = ?"} {
			if _, err := db.ExecContext(ctx, stmt, id); err != nil {
				return nil, fmt.Errorf("merge block %d: %w", id, err)
			}
		}
	}
	return all, nil
}

// insert stores the block encode makes.
func (s *blockStore) insert(ctx context.Context, db tx, service string, sealed bool, encode func() (block.Block, error)) (int64, error) {
	b, err := encode()
	if err != nil {
		return 0, err
	}
	var id int64
	if err := db.QueryRowContext(ctx,
		"INSERT INTO blocks(service, min_time, max_time, rows, sealed, series) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
		service, b.MinTime, b.MaxTime, b.Count, sealed, block.MarshalSeries(b.Series, b.MaxTime)).Scan(&id); err != nil {
		return 0, fmt.Errorf("insert block: %w", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO block_filters(id, counts) VALUES (?, ?)", id, block.MarshalCounts(b.Filter.Counts)); err != nil {
		return 0, fmt.Errorf("insert block filter: %w", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO block_blooms(id, bloom) VALUES (?, ?)", id, []byte(b.Filter.Bloom)); err != nil {
		return 0, fmt.Errorf("insert block filter: %w", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO block_data(id, data, messages) VALUES (?, ?, ?)", id, b.Data, b.Messages); err != nil {
		return 0, fmt.Errorf("insert block data: %w", err)
	}
	if !sealed {
		return id, nil
	}
	s.ungrouped = append(s.ungrouped, grouped{id, b.MinTime, b.MaxTime, b.Filter.Bloom})
	if len(s.ungrouped) >= GroupBlocks {
		return id, s.group(ctx, db)
	}
	return id, nil
}

// moveEventsIntoBlocks is the Go half of migration 4: version 3's event
// rows, read in time order, become sealed blocks per service, and the row
// and full-text tables are dropped (Migrate then gives their pages back).
func moveEventsIntoBlocks(ctx context.Context, t *sql.Tx) error {
	s, err := newBlockStore(ctx, t)
	if err != nil {
		return err
	}
	rows, err := t.QueryContext(ctx, `SELECT e.id - e.bump, e.series, coalesce(e.seq, 0), e.message, coalesce(e.fields, ''), s.service
		FROM events e JOIN series s ON s.id = e.series ORDER BY e.id`)
	if err != nil {
		return fmt.Errorf("read version 3 events: %w", err)
	}
	pending := map[string][]block.Row{}
	var services []string
	for rows.Next() {
		var r block.Row
		var service string
		var seq int64
		if err := rows.Scan(&r.Time, &r.Series, &seq, &r.Message, &r.Fields, &service); err != nil {
			rows.Close()
			return fmt.Errorf("read version 3 events: %w", err)
		}
		r.Seq = uint64(seq)
		if _, ok := pending[service]; !ok {
			services = append(services, service)
		}
		pending[service] = append(pending[service], r)
		if len(pending[service]) == FullBlock {
			if err := s.insertRows(ctx, t, service, pending[service]); err != nil {
				rows.Close()
				return err
			}
			pending[service] = pending[service][:0]
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("read version 3 events: %w", err)
	}
	for _, service := range services {
		if rs := pending[service]; len(rs) > 0 {
			if err := s.insertRows(ctx, t, service, rs); err != nil {
				return err
			}
		}
	}
	_, err = t.ExecContext(ctx, "DROP TABLE events_fts; DROP TABLE events;")
	return err
}
