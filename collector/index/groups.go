package index

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/zlog/zlog/collector/index/block"
)

// GroupBlocks is how many sealed blocks' bloom filters go into one filter
// group (about 130,000 to 260,000 events). A rare word then costs one row
// per filter size per group (about 40 groups at 10M events of the bench)
// instead of one filter per block (about 4,000); blocks not yet in a group
// (at most GroupBlocks-1 sealed ones per partition, and the unsealed) are
// probed one by one.
const GroupBlocks = 64

// pieceMembers is how many members' lines one filter_lines row of
// version 8 held.
const pieceMembers = 15

// chunkBytes is the size of a filter_bits row: four to a 4 KiB page.
// (Rows of a size's whole line spilled into overflow pages of their own,
// which cost 7 bytes per event, measured.)
const chunkBytes = 15 * block.LineBytes

// Member is a block in a filter group.
type Member struct {
	ID    int64
	Lines int // its bloom filter's size in lines
}

func marshalMembers(ms []Member) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ms)))
	prev := int64(0)
	for _, m := range ms {
		b = binary.AppendVarint(b, m.ID-prev)
		b = binary.AppendUvarint(b, uint64(m.Lines))
		prev = m.ID
	}
	return b
}

func unmarshalMembers(b []byte) ([]Member, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: filter group members", block.ErrCorrupt)
	}
	b = b[k:]
	out := make([]Member, n)
	prev := int64(0)
	for i := range out {
		d, k1 := binary.Varint(b)
		if k1 <= 0 {
			return nil, fmt.Errorf("%w: filter group members", block.ErrCorrupt)
		}
		l, k2 := binary.Uvarint(b[k1:])
		if k2 <= 0 || l == 0 {
			return nil, fmt.Errorf("%w: filter group members", block.ErrCorrupt)
		}
		b = b[k1+k2:]
		prev += d
		out[i] = Member{prev, int(l)}
	}
	return out, nil
}

// grouped is a sealed block whose bloom filter waits for a group.
type grouped struct {
	id               int64
	minTime, maxTime int64
	bloom            block.Bloom
}

// group writes the first GroupBlocks waiting filters as a filter group and
// takes them out of their blocks.
func (s *blockStore) group(ctx context.Context, db tx) error {
	members := s.ungrouped[:GroupBlocks]
	ms := make([]Member, len(members))
	minTime, maxTime := members[0].minTime, members[0].maxTime
	for i, m := range members {
		ms[i] = Member{m.id, m.bloom.Lines()}
		minTime, maxTime = min(minTime, m.minTime), max(maxTime, m.maxTime)
	}
	var gid int64
	if err := db.QueryRowContext(ctx, "INSERT INTO filter_groups(min_time, max_time, members) VALUES (?, ?, ?) RETURNING id",
		minTime, maxTime, marshalMembers(ms)).Scan(&gid); err != nil {
		return fmt.Errorf("insert filter group: %w", err)
	}
	layout := layoutOf(ms)
	if layout.rows >= 1<<32 {
		return fmt.Errorf("filter group of %d rows: too many for its keys", layout.rows)
	}
	for _, lines := range slices.Sorted(maps.Keys(layout.sizes)) {
		var same []block.Bloom
		for _, m := range members {
			if m.bloom.Lines() == lines {
				same = append(same, m.bloom)
			}
		}
		if err := insertChunks(ctx, db, layout.first(gid, lines), interleave(same)); err != nil {
			return err
		}
	}
	for _, m := range members {
		if _, err := db.ExecContext(ctx, "UPDATE blocks SET grp = ? WHERE id = ?", gid, m.id); err != nil {
			return fmt.Errorf("group block %d: %w", m.id, err)
		}
		if _, err := db.ExecContext(ctx, "DELETE FROM block_blooms WHERE id = ?", m.id); err != nil {
			return fmt.Errorf("group block %d: %w", m.id, err)
		}
	}
	s.ungrouped = slices.Delete(s.ungrouped, 0, GroupBlocks)
	return nil
}

// interleave lays the filters of one size of a group out line by line:
// line 0 of each member in member order, then line 1, and so on.
func interleave(bs []block.Bloom) []byte {
	lines := bs[0].Lines()
	out := make([]byte, 0, lines*len(bs)*block.LineBytes)
	for line := range lines {
		for _, b := range bs {
			out = append(out, b[line*block.LineBytes:][:block.LineBytes]...)
		}
	}
	return out
}

// insertChunks writes a size's interleaved lines in rows of chunkBytes,
// under keys from first.
func insertChunks(ctx context.Context, db tx, first int64, bits []byte) error {
	for i := 0; i*chunkBytes < len(bits); i++ {
		chunk := bits[i*chunkBytes : min(len(bits), (i+1)*chunkBytes)]
		if _, err := db.ExecContext(ctx, "INSERT INTO filter_bits(key, bits) VALUES (?, ?)", first+int64(i), chunk); err != nil {
			return fmt.Errorf("insert filter lines: %w", err)
		}
	}
	return nil
}

// filterRows is where a filter group's lines lie in filter_bits: for
// each filter size (ascending), its members' lines interleaved (see
// interleave) and cut into rows of chunkBytes, numbered from 0 under
// the group's id. Rows of one size go in in key order and SQLite fills
// its pages; one row per line and piece of 15 members, of mixed sizes,
// in a WITHOUT ROWID table keyed by (group, size, line, piece) left 18 %
// of them empty (measured on the bench's 1M events).
type filterRows struct {
	sizes map[int]sizeRows // by filter size in lines
	rows  int64
}

type sizeRows struct{ first, members int64 }

func layoutOf(ms []Member) filterRows {
	count := make(map[int]int64)
	for _, m := range ms {
		count[m.Lines]++
	}
	l := filterRows{sizes: make(map[int]sizeRows, len(count))}
	for _, lines := range slices.Sorted(maps.Keys(count)) {
		l.sizes[lines] = sizeRows{l.rows, count[lines]}
		l.rows += (int64(lines)*count[lines]*block.LineBytes + chunkBytes - 1) / chunkBytes
	}
	return l
}

// first is the key of the first row of a group's filters of one size.
func (l filterRows) first(grp int64, lines int) int64 { return grp<<32 | l.sizes[lines].first }

// at is where line line of the member at slot among the members of its
// size lies: the key of its row, and its offset in the row.
func (l filterRows) at(grp int64, lines, line, slot int) (key int64, off int) {
	s := l.sizes[lines]
	b := (int64(line)*s.members + int64(slot)) * block.LineBytes
	return grp<<32 | (s.first + b/chunkBytes), int(b % chunkBytes)
}

// moveFilterLines is the Go half of migration 9: version 8's filter_lines
// rows go into filter_bits under their keys.
func moveFilterLines(ctx context.Context, t *sql.Tx) error {
	layouts := make(map[int64]filterRows)
	groups, err := ReadGroups(ctx, t, math.MinInt64, math.MaxInt64)
	if err != nil {
		return err
	}
	for _, g := range groups {
		layouts[g.ID] = g.rows
	}
	rows, err := t.QueryContext(ctx, "SELECT grp, lines, bits FROM filter_lines ORDER BY grp, lines, line, piece")
	if err != nil {
		return fmt.Errorf("read version 8 filter lines: %w", err)
	}
	defer rows.Close()
	// A size's rows, in order, are its interleaved lines.
	var grp, size int64
	var bits []byte
	flush := func() error {
		if len(bits) == 0 {
			return nil
		}
		l, ok := layouts[grp]
		if _, has := l.sizes[int(size)]; !ok || !has {
			return fmt.Errorf("%w: filter lines of size %d in group %d, which has none", block.ErrCorrupt, size, grp)
		}
		err := insertChunks(ctx, t, l.first(grp, int(size)), bits)
		bits = bits[:0]
		return err
	}
	for rows.Next() {
		var g, lines int64
		var b []byte
		if err := rows.Scan(&g, &lines, &b); err != nil {
			return fmt.Errorf("read version 8 filter lines: %w", err)
		}
		if g != grp || lines != size {
			if err := flush(); err != nil {
				return err
			}
			grp, size = g, lines
		}
		bits = append(bits, b...)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read version 8 filter lines: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	_, err = t.ExecContext(ctx, "DROP TABLE filter_lines")
	return err
}

// Group is a filter group as a query reads it: its members, and the lines
// it has read so far.
type Group struct {
	ID               int64
	MinTime, MaxTime int64
	Members          []Member
	slot             []int // each member's place among the members of its size
	rows             filterRows
	read             map[int64][]byte // by filter_bits key
}

// ReadGroups returns the filter groups with blocks in [lo, hi].
func ReadGroups(ctx context.Context, db tx, lo, hi int64) ([]*Group, error) {
	rows, err := db.QueryContext(ctx, "SELECT id, min_time, max_time, members FROM filter_groups WHERE max_time >= ? AND min_time <= ?", lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read filter groups: %w", err)
	}
	defer rows.Close()
	var out []*Group
	for rows.Next() {
		g := &Group{read: make(map[int64][]byte)}
		var members []byte
		if err := rows.Scan(&g.ID, &g.MinTime, &g.MaxTime, &members); err != nil {
			return nil, fmt.Errorf("read filter groups: %w", err)
		}
		if g.Members, err = unmarshalMembers(members); err != nil {
			return nil, fmt.Errorf("filter group %d: %w", g.ID, err)
		}
		seen := make(map[int]int)
		for _, m := range g.Members {
			g.slot = append(g.slot, seen[m.Lines])
			seen[m.Lines]++
		}
		g.rows = layoutOf(g.Members)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read filter groups: %w", err)
	}
	return out, nil
}

// MayContain reports whether member i's filter may hold the word of hash
// h, reading (once) the line it needs.
func (g *Group) MayContain(ctx context.Context, db tx, i int, h uint64) (bool, error) {
	lines := g.Members[i].Lines
	line := block.LineOf(h, lines)
	key, off := g.rows.at(g.ID, lines, line, g.slot[i])
	bits, ok := g.read[key]
	if !ok {
		if err := db.QueryRowContext(ctx, "SELECT bits FROM filter_bits WHERE key = ?", key).Scan(&bits); err != nil {
			return true, fmt.Errorf("read filter group %d: %w", g.ID, err)
		}
		g.read[key] = bits
	}
	if off+block.LineBytes > len(bits) {
		return true, fmt.Errorf("%w: filter group %d line %d/%d is short", block.ErrCorrupt, g.ID, line, lines)
	}
	return block.LineHas(bits[off:off+block.LineBytes], h), nil
}

// LoadLines reads, in one statement, every line that MayContain will need
// to look up the words of hashes in groups: one row per filter size and
// piece, instead of a statement each.
func LoadLines(ctx context.Context, db tx, groups []*Group, hashes []uint64) error {
	at := make(map[int64]*Group)
	for _, g := range groups {
		for lines, s := range g.rows.sizes {
			for _, h := range hashes {
				line := block.LineOf(h, lines)
				from, _ := g.rows.at(g.ID, lines, line, 0)
				to, _ := g.rows.at(g.ID, lines, line, int(s.members)-1)
				for key := from; key <= to; key++ {
					at[key] = g
				}
			}
		}
	}
	if len(at) == 0 {
		return nil
	}
	arg, _ := json.Marshal(slices.Collect(maps.Keys(at)))
	rows, err := db.QueryContext(ctx, `SELECT f.key, f.bits FROM json_each(?) j JOIN filter_bits f ON f.key = j.value`, string(arg))
	if err != nil {
		return fmt.Errorf("read filter lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key int64
		var bits []byte
		if err := rows.Scan(&key, &bits); err != nil {
			return fmt.Errorf("read filter lines: %w", err)
		}
		if g := at[key]; g != nil {
			g.read[key] = bits
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read filter lines: %w", err)
	}
	return nil
}
