package index

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
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

// pieceMembers is how many members' lines one filter_lines row holds:
// 960 bytes, so that the row stays within an index page's share (about
// 1,000 bytes at 4 KiB pages) instead of spilling into an overflow page of
// its own, which cost 7 bytes per event (measured).
const pieceMembers = 15

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
	sizes := make(map[int]bool)
	for _, m := range ms {
		sizes[m.Lines] = true
	}
	for _, lines := range slices.Sorted(maps.Keys(sizes)) {
		var same []block.Bloom
		for _, m := range members {
			if m.bloom.Lines() == lines {
				same = append(same, m.bloom)
			}
		}
		if err := insertLines(ctx, db, gid, lines, same); err != nil {
			return err
		}
	}
	for _, m := range members {
		if _, err := db.ExecContext(ctx, "UPDATE blocks SET grp = ? WHERE id = ?", gid, m.id); err != nil {
			return fmt.Errorf("group block %d: %w", m.id, err)
		}
		if _, err := db.ExecContext(ctx, "UPDATE block_filters SET bloom = NULL WHERE id = ?", m.id); err != nil {
			return fmt.Errorf("group block %d: %w", m.id, err)
		}
	}
	s.ungrouped = slices.Delete(s.ungrouped, 0, GroupBlocks)
	return nil
}

// insertLines writes the filters of one size of a group, line by line, in
// pieces of pieceMembers filters.
func insertLines(ctx context.Context, db tx, gid int64, lines int, blooms []block.Bloom) error {
	for line := 0; line < lines; line++ {
		for piece := 0; piece*pieceMembers < len(blooms); piece++ {
			var bits []byte
			for _, b := range blooms[piece*pieceMembers : min(len(blooms), (piece+1)*pieceMembers)] {
				bits = append(bits, b[line*block.LineBytes:][:block.LineBytes]...)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO filter_lines(grp, lines, line, piece, bits) VALUES (?, ?, ?, ?, ?)",
				gid, lines, line, piece, bits); err != nil {
				return fmt.Errorf("insert filter line: %w", err)
			}
		}
	}
	return nil
}

// Group is a filter group as a query reads it: its members, and the lines
// it has read so far.
type Group struct {
	ID               int64
	MinTime, MaxTime int64
	Members          []Member
	slot             []int // each member's place among the members of its size
	read             map[[3]int][]byte
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
		g := &Group{read: make(map[[3]int][]byte)}
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
	piece := g.slot[i] / pieceMembers
	key := [3]int{lines, line, piece}
	bits, ok := g.read[key]
	if !ok {
		if err := db.QueryRowContext(ctx, "SELECT bits FROM filter_lines WHERE grp = ? AND lines = ? AND line = ? AND piece = ?",
			g.ID, lines, line, piece).Scan(&bits); err != nil {
			return true, fmt.Errorf("read filter group %d: %w", g.ID, err)
		}
		g.read[key] = bits
	}
	at := g.slot[i] % pieceMembers * block.LineBytes
	if at+block.LineBytes > len(bits) {
		return true, fmt.Errorf("%w: filter group %d line %d/%d is short", block.ErrCorrupt, g.ID, line, lines)
	}
	return block.LineHas(bits[at:at+block.LineBytes], h), nil
}

// LoadLines reads, in one statement, every line that MayContain will need
// to look up the words of hashes in groups: one row per filter size and
// piece, instead of a statement each.
func LoadLines(ctx context.Context, db tx, groups []*Group, hashes []uint64) error {
	type key struct {
		Grp, Lines, Line int64
	}
	var keys []key
	for _, g := range groups {
		sizes := make(map[int]bool)
		for _, m := range g.Members {
			sizes[m.Lines] = true
		}
		for lines := range sizes {
			for _, h := range hashes {
				keys = append(keys, key{g.ID, int64(lines), int64(block.LineOf(h, lines))})
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	list := make([][3]int64, len(keys))
	for i, k := range keys {
		list[i] = [3]int64{k.Grp, k.Lines, k.Line}
	}
	arg, _ := json.Marshal(list)
	rows, err := db.QueryContext(ctx, `SELECT f.grp, f.lines, f.line, f.piece, f.bits FROM json_each(?) j
		JOIN filter_lines f ON f.grp = j.value->>0 AND f.lines = j.value->>1 AND f.line = j.value->>2`, string(arg))
	if err != nil {
		return fmt.Errorf("read filter lines: %w", err)
	}
	defer rows.Close()
	byID := make(map[int64]*Group, len(groups))
	for _, g := range groups {
		byID[g.ID] = g
	}
	for rows.Next() {
		var grp int64
		var lines, line, piece int
		var bits []byte
		if err := rows.Scan(&grp, &lines, &line, &piece, &bits); err != nil {
			return fmt.Errorf("read filter lines: %w", err)
		}
		if g := byID[grp]; g != nil {
			g.read[[3]int{lines, line, piece}] = bits
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read filter lines: %w", err)
	}
	return nil
}
