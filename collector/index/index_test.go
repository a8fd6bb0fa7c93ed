package index

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zlog/zlog/collector/index/block"
	"github.com/zlog/zlog/schema"
)

// writeCommits writes each batch as one commit of a new index, closes it,
// and opens the partition of at for the test to look into.
func writeCommits(t *testing.T, at time.Time, commits ...[]schema.Event) *sql.DB {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "index")
	writeInto(t, dir, commits...)
	return openDay(t, dir, at)
}

// writeInto writes each batch as one commit through a writer of its own.
func writeInto(t *testing.T, dir string, commits ...[]schema.Event) {
	t.Helper()
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
}

// openDay opens the partition of at for the test to look into.
func openDay(t *testing.T, dir string, at time.Time) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", PartitionFile(dir, at))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// eachStoredBlock decodes every block of a partition, newest first,
// checks it against its row in blocks, and calls fn with it.
func eachStoredBlock(t *testing.T, db *sql.DB, fn func(m BlockMeta, rows []block.Row)) {
	t.Helper()
	ctx := context.Background()
	metas, err := ReadBlocks(ctx, db, -1<<63, 1<<63-1, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := block.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		data, messages, err := AppendBlock(ctx, db, m.ID, true, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := c.Decode(data, messages)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != m.Rows || rows[0].Time != m.MinTime || rows[len(rows)-1].Time != m.MaxTime {
			t.Fatalf("block %d: %d rows %d..%d, but its row says %+v", m.ID, len(rows), rows[0].Time, rows[len(rows)-1].Time, m)
		}
		if _, err := m.Series(); err != nil {
			t.Fatal(err)
		}
		fn(m, rows)
	}
}

// storedRows decodes every block of a partition, per service.
func storedRows(t *testing.T, db *sql.DB) map[string][]block.Row {
	t.Helper()
	out := map[string][]block.Row{}
	eachStoredBlock(t, db, func(m BlockMeta, rows []block.Row) { out[m.Service] = append(out[m.Service], rows...) })
	for _, rows := range out { // blocks come newest first
		slices.SortStableFunc(rows, func(a, b block.Row) int { return cmp.Compare(a.Time, b.Time) })
	}
	return out
}

// Events that share a timestamp, in one commit or across commits, late or
// not, are all stored once, at their own time.
func TestSharedTimestampsAcrossCommits(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	const commits, per = 40, 250
	want := map[int64]int{}
	var commitsOf [][]schema.Event
	for c := 0; c < commits; c++ {
		var b []schema.Event
		for i := 0; i < per; i++ {
			ts := at
			if i%10 == 0 {
				ts = at.Add(time.Duration(c%5+1) * time.Nanosecond)
			}
			want[ts.UnixNano()]++
			b = append(b, schema.Event{Time: ts, Service: "s", Level: schema.LevelInfo, Host: "h", Message: "shared stamp"})
		}
		commitsOf = append(commitsOf, b)
	}
	got := map[int64]int{}
	for _, r := range storedRows(t, writeCommits(t, at, commitsOf...))["s"] {
		got[r.Time]++
	}
	if len(got) != len(want) {
		t.Fatalf("times stored %v, want %v", got, want)
	}
	for ts, n := range want {
		if got[ts] != n {
			t.Fatalf("time %d: %d events stored, want %d", ts, got[ts], n)
		}
	}
}

// Small commits wait in unsealed blocks and are merged, in time order, into
// sealed blocks of FullBlock events or more once enough have come, also
// across a reopened writer; late events land in time order in the merge.
func TestSmallCommitsMergeIntoFullBlocks(t *testing.T) {
	at := time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "index")
	const commits, per = 30, FullBlock / 20 // one and a half FullBlock in all
	for half := 0; half < 2; half++ {
		var batches [][]schema.Event
		for c := half * commits / 2; c < (half+1)*commits/2; c++ {
			var b []schema.Event
			for i := 0; i < per; i++ {
				// Every commit carries one event from before all others.
				ts := at.Add(time.Duration(c*per+i) * time.Millisecond)
				if i == 0 {
					ts = at.Add(-time.Duration(c+1) * time.Second)
				}
				b = append(b, schema.Event{Time: ts, Service: "s", Level: schema.LevelInfo, Host: "h", Message: "m", Publisher: "p", Seq: uint64(c*per + i + 1)})
			}
			batches = append(batches, b)
		}
		writeInto(t, dir, batches...) // a writer per half: the second reads the unsealed run back
	}
	db := openDay(t, dir, at)
	var sealed, sealedRows, unsealedRows int
	if err := db.QueryRow("SELECT count(*) FILTER (WHERE sealed), coalesce(sum(rows) FILTER (WHERE sealed), 0), coalesce(sum(rows) FILTER (WHERE NOT sealed), 0) FROM blocks").
		Scan(&sealed, &sealedRows, &unsealedRows); err != nil {
		t.Fatal(err)
	}
	if sealed == 0 || sealedRows < sealed*FullBlock || unsealedRows >= FullBlock || sealedRows+unsealedRows != commits*per {
		t.Fatalf("%d sealed blocks of %d events and %d unsealed events; want blocks of >= %d and %d in all", sealed, sealedRows, unsealedRows, FullBlock, commits*per)
	}
	rows := storedRows(t, db)["s"]
	seqs := map[uint64]bool{}
	for _, r := range rows {
		seqs[r.Seq] = true
	}
	if len(rows) != commits*per || len(seqs) != commits*per {
		t.Fatalf("%d rows, %d distinct seqs; want %d", len(rows), len(seqs), commits*per)
	}
	var hwm int64
	if err := db.QueryRow("SELECT hwm FROM streams WHERE publisher = 'p' AND topic = 's.info'").Scan(&hwm); err != nil || hwm != commits*per {
		t.Fatalf("high-water mark %d, %v", hwm, err)
	}
	var sealedMeta []BlockMeta
	metas, _ := ReadBlocks(context.Background(), db, -1<<63, 1<<63-1, nil, true)
	for _, m := range metas {
		if m.Rows >= FullBlock {
			sealedMeta = append(sealedMeta, m)
		}
	}
	if len(sealedMeta) == 0 || !slices.IsSortedFunc(metas, func(a, b BlockMeta) int { return int(b.MaxTime - a.MaxTime) }) {
		t.Fatalf("blocks %+v not newest first", metas)
	}
	// Sealed tells sealed blocks by their rows alone: SealedReader relies
	// on it to leave unsealed ones, which merges delete, to the reader's
	// transaction.
	var mislabelled int
	if err := db.QueryRow("SELECT count(*) FROM blocks WHERE sealed != (rows >= ?)", FullBlock).Scan(&mislabelled); err != nil || mislabelled != 0 {
		t.Fatalf("%d blocks sealed otherwise than Sealed(rows) says (%v)", mislabelled, err)
	}
	for _, mapped := range []bool{false, true} {
		checkSealedReader(t, db, PartitionFile(dir, at), mapped, sealedMeta)
	}
}

// checkSealedReader reads every sealed block through a SealedReader of
// path, mapped or not, and compares it with what db reads.
func checkSealedReader(t *testing.T, db *sql.DB, path string, mapped bool, sealed []BlockMeta) {
	t.Helper()
	sr, err := OpenSealedReader(context.Background(), path, mapped)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	if sr.blobs == nil {
		t.Fatal("sealed blocks are read through database/sql: go-sqlite3's sqlite3 handle was not found")
	}
	var size int64
	if err := sr.blobs.conn.QueryRowContext(context.Background(), "PRAGMA mmap_size").Scan(&size); err != nil || (size > 0) != mapped {
		t.Fatalf("mapped %v: mmap_size %d, %v", mapped, size, err)
	}
	var data, messages []byte // reused, as a query's worker does
	for _, m := range sealed {
		for _, withMessages := range []bool{true, false} {
			data, messages, err = sr.AppendBlock(context.Background(), m.ID, withMessages, data, messages)
			wantData, wantMessages, _ := AppendBlock(context.Background(), db, m.ID, withMessages, nil, nil)
			if err != nil || !bytes.Equal(data, wantData) || !bytes.Equal(messages, wantMessages) || (messages == nil) != (wantMessages == nil) {
				t.Fatalf("sealed block %d (messages %v, mapped %v) through its own reader: %v", m.ID, withMessages, mapped, err)
			}
		}
	}
	if _, _, err := sr.AppendBlock(context.Background(), 1<<40, true, nil, nil); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("a block that is not there: %v", err)
	}
}

// Services whose runs fill in step seal over several commits, a few at a
// time, instead of all in one commit that takes many times as long as the
// others (the freshness p99 of a steady 20k events/s over 20 services).
// Nothing is lost or doubled, and every block stays what Sealed says.
func TestRunsFillingInStepSealOverSeveralCommits(t *testing.T) {
	at := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "index")
	const services, per, commits = 20, 100, 60 // 6,000 events a service
	w, err := New(Options{Dir: dir}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var db *sql.DB
	mostSealed, prevSealed := 0, 0
	for c := 0; c < commits; c++ {
		var b []schema.Event
		for s := 0; s < services; s++ {
			for i := 0; i < per; i++ {
				b = append(b, schema.Event{Time: at.Add(time.Duration(c*per+i) * time.Millisecond), Service: fmt.Sprintf("s%02d", s),
					Level: schema.LevelInfo, Host: "h", Message: "m", Publisher: "p", Seq: uint64(c*per + i + 1)})
			}
		}
		if err := w.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if db == nil {
			db = openDay(t, dir, at)
		}
		var sealed int
		if err := db.QueryRow("SELECT count(*) FROM blocks WHERE sealed").Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		mostSealed, prevSealed = max(mostSealed, sealed-prevSealed), sealed
	}
	if want := mergeBudget(services*per)/FullBlock + 1; mostSealed > want || prevSealed != services {
		t.Fatalf("%d runs sealed in one commit (want at most %d), %d in all (want %d)", mostSealed, want, prevSealed, services)
	}
	var mislabelled int
	if err := db.QueryRow("SELECT count(*) FROM blocks WHERE sealed != (rows >= ?)", FullBlock).Scan(&mislabelled); err != nil || mislabelled != 0 {
		t.Fatalf("%d blocks sealed otherwise than Sealed(rows) says (%v)", mislabelled, err)
	}
	for service, rows := range storedRows(t, db) {
		if len(rows) != per*commits || !slices.IsSortedFunc(rows, func(a, b block.Row) int { return cmp.Compare(a.Time, b.Time) }) {
			t.Fatalf("%s: %d rows (want %d) in time order %v", service, len(rows), per*commits, slices.IsSortedFunc(rows, func(a, b block.Row) int { return cmp.Compare(a.Time, b.Time) }))
		}
	}
}

// Once GroupBlocks blocks are sealed, their bloom filters move, line by
// line, into a filter group: each block's words are still found there,
// through its own slot, and the blocks keep their word counts.
func TestSealedFiltersFormGroups(t *testing.T) {
	at := time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)
	checkGroups(t, writeCommits(t, at, groupCommits(at)...))
}

// A version 8 partition keeps its filters through migration 9: the
// blooms waiting for a group move to block_blooms, the group's lines to
// filter_bits, and every member's words are found as before.
func TestMigrateVersion8Filters(t *testing.T) {
	at := time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "index")
	commits := groupCommits(at)
	writeInto(t, dir, commits[:len(commits)-1]...)
	db := openDay(t, dir, at)
	ctx := context.Background()
	groups, err := ReadGroups(ctx, db, -1<<63, 1<<63-1)
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups %+v, %v", groups, err)
	}
	exec := func(stmt string, args ...any) {
		t.Helper()
		if _, err := db.Exec(stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	exec(`CREATE TABLE filter_lines (grp INTEGER NOT NULL, lines INTEGER NOT NULL, line INTEGER NOT NULL,
		piece INTEGER NOT NULL, bits BLOB NOT NULL, PRIMARY KEY (grp, lines, line, piece)) WITHOUT ROWID`)
	// Version 8's rows: each line of a size, in pieces of pieceMembers
	// members.
	g := groups[0]
	for size, s := range g.rows.sizes {
		bits := groupBits(t, db, g, size)
		lineBytes := int(s.members) * block.LineBytes
		for line := range size {
			for piece := 0; piece*pieceMembers < int(s.members); piece++ {
				lo := line*lineBytes + piece*pieceMembers*block.LineBytes
				exec("INSERT INTO filter_lines(grp, lines, line, piece, bits) VALUES (?, ?, ?, ?, ?)",
					g.ID, size, line, piece, bits[lo:min(lo+pieceMembers*block.LineBytes, (line+1)*lineBytes)])
			}
		}
	}
	for _, stmt := range []string{"ALTER TABLE block_filters ADD COLUMN bloom BLOB",
		"UPDATE block_filters SET bloom = (SELECT bloom FROM block_blooms b WHERE b.id = block_filters.id)",
		"DROP TABLE filter_bits", "DROP TABLE block_blooms", "PRAGMA user_version = 8"} {
		exec(stmt)
	}
	db.Close()
	writeInto(t, dir, commits[len(commits)-1])
	checkGroups(t, openDay(t, dir, at))
}

// groupBits reads a group's interleaved lines of one size.
func groupBits(t *testing.T, db *sql.DB, g *Group, size int) []byte {
	t.Helper()
	var bits []byte
	from, _ := g.rows.at(g.ID, size, 0, 0)
	to, _ := g.rows.at(g.ID, size, size-1, int(g.rows.sizes[size].members)-1)
	for key := from; key <= to; key++ {
		var chunk []byte
		if err := db.QueryRow("SELECT bits FROM filter_bits WHERE key = ?", key).Scan(&chunk); err != nil {
			t.Fatal(err)
		}
		bits = append(bits, chunk...)
	}
	return bits
}

// groupCommits are GroupBlocks+5 commits of a block each, with words
// checkGroups looks for.
func groupCommits(at time.Time) [][]schema.Event {
	const blocks = GroupBlocks + 5
	var commits [][]schema.Event
	for b := 0; b < blocks; b++ {
		var evs []schema.Event
		for i := 0; i < FullBlock; i++ {
			// Blocks of different sizes of vocabulary: some filters have
			// more lines than others.
			msg := fmt.Sprintf("block%d common", b)
			if b%3 == 0 {
				msg += fmt.Sprintf(" id%d", i)
			}
			evs = append(evs, schema.Event{Time: at.Add(time.Duration(b*FullBlock+i) * time.Millisecond), Service: "s", Level: schema.LevelInfo, Host: "h", Message: msg})
		}
		commits = append(commits, evs)
	}
	return commits
}

// checkGroups checks the partition of groupCommits: one filter group
// whose members' words are found through it, the other blocks' filters
// on their own, and every block's word counts.
func checkGroups(t *testing.T, db *sql.DB) {
	t.Helper()
	const blocks = GroupBlocks + 5
	ctx := context.Background()
	groups, err := ReadGroups(ctx, db, -1<<63, 1<<63-1)
	if err != nil || len(groups) != 1 || len(groups[0].Members) != GroupBlocks {
		t.Fatalf("groups %+v, %v; want one of %d blocks", groups, err, GroupBlocks)
	}
	g := groups[0]
	sizes := map[int]bool{}
	for i, m := range g.Members {
		sizes[m.Lines] = true
		b := int(m.ID - 1) // block ids start at 1, one block per commit
		for _, w := range []string{fmt.Sprintf("block%d", b), "common"} {
			if ok, err := g.MayContain(ctx, db, i, block.HashWord(w)); err != nil || !ok {
				t.Fatalf("member %d (block %d): %q not found: %v", i, m.ID, w, err)
			}
		}
		if ok, _ := g.MayContain(ctx, db, i, block.HashWord(fmt.Sprintf("block%d", b+1))); ok && b%3 != 0 {
			t.Logf("member %d: a false positive", i)
		}
	}
	if len(sizes) < 2 {
		t.Fatalf("filter sizes %v: the test wants members of different sizes", sizes)
	}
	var grouped, nullBlooms, ungrouped int
	db.QueryRow("SELECT count(*) FROM blocks WHERE grp = ?", g.ID).Scan(&grouped)
	db.QueryRow("SELECT count(*) FROM blocks WHERE id NOT IN (SELECT id FROM block_blooms)").Scan(&nullBlooms)
	if err := EachUngroupedLines(ctx, db, -1<<63, 1<<63-1, nil, func(int64, block.Probe) { ungrouped++ }); err != nil {
		t.Fatal(err)
	}
	if grouped != GroupBlocks || nullBlooms != GroupBlocks || ungrouped != blocks-GroupBlocks {
		t.Fatalf("%d blocks in the group, %d without their own filter, %d ungrouped", grouped, nullBlooms, ungrouped)
	}
	counted := 0
	if err := EachBlockCounts(ctx, db, -1<<63, 1<<63-1, true, func(_ *BlockMeta, c block.Counts) {
		if n, ok := c.Rows("common"); ok && n == FullBlock {
			counted++
		}
	}); err != nil || counted != blocks {
		t.Fatalf("%d blocks count \"common\" in every row, want %d: %v", counted, blocks, err)
	}
}

func TestSeriesKeysPackApart(t *testing.T) {
	keys := []seriesKey{
		{service: "a", level: schema.LevelInfo, host: "h\x00b", pub: "c"},
		{service: "a", level: schema.LevelInfo, host: "h", pub: "\x00bc"},
		{service: "a", level: schema.LevelInfo, host: "h", pub: "bc"},
		{service: "a", level: schema.LevelWarn, host: "h", pub: "bc"},
		{service: "ab", level: schema.LevelInfo, host: "", pub: ""},
		{service: "a", level: schema.LevelInfo, host: "b", pub: ""},
		{service: "a", level: schema.LevelInfo, host: "", pub: "b"},
		{service: "a", level: schema.LevelInfo, host: "", pub: "", labels: `{"b":"c"}`},
		{service: "a", level: schema.LevelInfo, host: "", pub: `{"b":"c"}`},
	}
	seen := map[string]int{}
	for i, k := range keys {
		packed := string(k.appendPacked(nil))
		if j, dup := seen[packed]; dup {
			t.Errorf("keys %d and %d pack alike: %+v, %+v", j, i, keys[j], k)
		}
		seen[packed] = i
	}
}

// A commit bringing more new series than one INSERT takes, some seen
// twice in it and some again in the next commit, stores each event under
// its own series.
func TestManyNewSeriesInOneCommit(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	host := func(i int) string { return fmt.Sprintf("host-%d", i%(seriesPerInsert*2+7)) }
	var first, second []schema.Event
	for i := 0; i < 3*seriesPerInsert; i++ {
		ev := schema.Event{Time: at.Add(time.Duration(i)), Service: "many", Level: schema.LevelInfo,
			Host: host(i), Message: fmt.Sprintf("event %d", i)}
		if i%3 == 0 {
			ev.Labels = schema.Labels{"env": "prod"}
		}
		if i < 2*seriesPerInsert {
			first = append(first, ev)
		} else {
			second = append(second, ev)
		}
	}
	db := writeCommits(t, at, first, second)
	rows := storedRows(t, db)["many"]
	if len(rows) != 3*seriesPerInsert {
		t.Fatalf("%d rows stored, want %d", len(rows), 3*seriesPerInsert)
	}
	for _, r := range rows {
		var i int
		fmt.Sscanf(r.Message, "event %d", &i)
		s, err := ReadSeriesByID(context.Background(), db, r.Series)
		if err != nil {
			t.Fatal(err)
		}
		if s.Host != host(i) || (s.Labels["env"] == "prod") != (i%3 == 0) {
			t.Fatalf("event %d stored under series %d = %+v, want host %s", i, r.Series, s, host(i))
		}
	}
}

// The lines SQLite cuts out of ungrouped filters answer as the whole
// filters do, whatever their size, and a damaged filter says yes.
func TestUngroupedLinesAnswerAsTheirFilters(t *testing.T) {
	at := time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)
	db := writeCommits(t, at, groupCommits(at)[:7]...)
	ctx := context.Background()
	var words []string
	for i := range 7 {
		words = append(words, fmt.Sprintf("block%d", i), fmt.Sprintf("id%d", i*97))
	}
	for i := range 200 {
		words = append(words, fmt.Sprintf("absent%d", i))
	}
	if _, err := db.Exec("UPDATE block_blooms SET bloom = substr(bloom, 1, length(bloom) - 1) WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	blooms := map[int64]block.Bloom{}
	rows, err := db.Query("SELECT id, bloom FROM block_blooms")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			t.Fatal(err)
		}
		blooms[id] = b
	}
	var found, ruledOut int
	for len(words) > 0 {
		batch := words[:min(40, len(words))]
		words = words[len(batch):]
		var hashes []uint64
		for _, w := range batch {
			hashes = append(hashes, block.HashWord(w))
		}
		seen := 0
		err := EachUngroupedLines(ctx, db, -1<<63, 1<<63-1, hashes, func(id int64, p block.Probe) {
			seen++
			for _, w := range batch {
				got, want := p.MayContain(w), blooms[id].MayContain(w)
				if got != want || (id == 2 && !got) {
					t.Errorf("block %d, %q: lines say %v, the filter %v", id, w, got, want)
				}
				if got {
					found++
				} else {
					ruledOut++
				}
			}
		})
		if err != nil || seen != len(blooms) || seen != 7 {
			t.Fatalf("%d of %d filters seen: %v", seen, len(blooms), err)
		}
	}
	if ruledOut < 1000 || found < 14 {
		t.Fatalf("%d words found, %d ruled out: the test asks too little", found, ruledOut)
	}
}

// A run sealed by the writer that wrote its blocks takes its filter from
// their tallies, one read back from the file tokenizes its rows: both
// store the filter of the sealed block's rows, counts and bloom filter
// byte for byte.
func TestSealedFiltersAreTheirRowsFilters(t *testing.T) {
	at := time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "index")
	const per = FullBlock / 20
	commit := func(c int) []schema.Event {
		var b []schema.Event
		for i := 0; i < per; i++ {
			n := c*per + i
			msg := fmt.Sprintf("request id%d took %d ms user u%d", n, n%37, n%500)
			if i%40 == 0 {
				msg += " Überlauf"
			}
			b = append(b, schema.Event{Time: at.Add(time.Duration(n) * time.Millisecond), Service: "s", Level: schema.LevelInfo, Host: "h",
				Message: msg, Fields: map[string]any{"path": fmt.Sprintf("/api/%d", n%7)}, Publisher: "p", Seq: uint64(n + 1)})
		}
		return b
	}
	var first, second [][]schema.Event
	for c := 0; c < 25; c++ { // seals once, in the writer that wrote the run
		first = append(first, commit(c))
	}
	for c := 25; c < 50; c++ { // reads the rest of the run back, then seals it
		second = append(second, commit(c))
	}
	writeInto(t, dir, first...)
	writeInto(t, dir, second...)
	db := openDay(t, dir, at)
	sealed := 0
	eachStoredBlock(t, db, func(m BlockMeta, rows []block.Row) {
		want := block.NewFilter(rows)
		var counts, bloom []byte
		if err := db.QueryRow("SELECT f.counts, b.bloom FROM block_filters f JOIN block_blooms b ON b.id = f.id WHERE f.id = ?", m.ID).Scan(&counts, &bloom); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(counts, block.MarshalCounts(want.Counts)) || !bytes.Equal(bloom, want.Bloom) {
			t.Errorf("block %d (%d rows): stored filter is not the filter of its rows", m.ID, m.Rows)
		}
		if m.Rows >= FullBlock {
			sealed++
		}
	})
	if sealed < 2 {
		t.Fatalf("%d sealed blocks; the test needs one sealed by each writer", sealed)
	}
}
