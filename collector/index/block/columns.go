package block

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// Since schema 7 a block's fields are stored as columns: one zstd frame
// per field name, so that a condition on duration_ms, or a top by user,
// decompresses and walks that field's values alone instead of every
// event's fields text (those were a third of a top by a field over 10M
// events, measured). After the head, the byte fieldColumns, then:
//
//	columns: count
//	         count × (name length, name, kind byte, frame length)
//	         the frames, in that order
//	frame:   n (rows holding the field)
//	         n × row gap (from the previous such row + 1, the first from 0)
//	         the n values, by kind:
//	           kindString: n × length, then the strings (what is between
//	                       the quotes, escapes kept)
//	           kindInt:    n × varint
//	           kindToken:  n × length, then the values as written
//	           kindRaw:    n × length, then whole fields texts
//
// Columns are in ascending order of name. A row's fields text is its
// columns' values in that order, joined back into the object they were
// cut from: exactly the same bytes, since only a flat object as
// FieldsColumn writes it (keys ascending and unescaped, no spaces) is
// cut, and only an integer strconv writes back the same is stored as
// one. Any other text (an old client's, a damaged one) is stored whole in
// the one column of kind kindRaw, whose name is empty.
const fieldColumns = 1

type columnKind byte

const (
	kindRaw columnKind = iota
	kindString
	kindInt
	kindToken
	kindEnd // past the last kind
)

// maxColumns bounds the columns of a block: the rows of a block naming
// more fields keep them in one text frame, the layout before.
const maxColumns = 64

// column is one field's values in a block, as Encode gathers them.
type column struct {
	name string
	kind columnKind
	rows []uint32 // the rows holding the field, ascending
	vals []string // their values as written
	ints []int64  // kindInt's values
}

// columnSplitter cuts rows' fields into columns; it keeps its memory
// between blocks.
type columnSplitter struct {
	byName map[string]int
	cols   []column
	raw    column
	pairs  []pair
	num    []byte
}

type pair struct{ key, val string }

// split gathers rows' fields into s.cols, sorted by name, and s.raw; it
// returns false when they name more than maxColumns fields.
func (s *columnSplitter) split(rows []Row) bool {
	if s.byName == nil {
		s.byName = map[string]int{}
	}
	clear(s.byName)
	s.cols = s.cols[:0]
	s.raw = column{kind: kindRaw, rows: s.raw.rows[:0], vals: s.raw.vals[:0]}
	for i := range rows {
		f := rows[i].Fields
		if f == "" {
			continue
		}
		var ok bool
		if s.pairs, ok = splitObject(f, s.pairs[:0]); !ok {
			s.raw.rows, s.raw.vals = append(s.raw.rows, uint32(i)), append(s.raw.vals, f)
			continue
		}
		for _, p := range s.pairs {
			c := s.column(p.key)
			if c == nil {
				return false
			}
			c.rows, c.vals = append(c.rows, uint32(i)), append(c.vals, p.val)
		}
	}
	slices.SortFunc(s.cols, func(a, b column) int { return strings.Compare(a.name, b.name) })
	for i := range s.cols {
		s.settleKind(&s.cols[i])
	}
	return true
}

// column is the column of name, added if new (reusing an earlier
// block's memory); nil past maxColumns.
func (s *columnSplitter) column(name string) *column {
	if k, ok := s.byName[name]; ok {
		return &s.cols[k]
	}
	if len(s.cols) == maxColumns {
		return nil
	}
	if len(s.cols) < cap(s.cols) {
		s.cols = s.cols[:len(s.cols)+1]
	} else {
		s.cols = append(s.cols, column{})
	}
	c := &s.cols[len(s.cols)-1]
	*c = column{name: name, rows: c.rows[:0], vals: c.vals[:0], ints: c.ints[:0]}
	s.byName[name] = len(s.cols) - 1
	return c
}

// settleKind picks the narrowest kind that writes every value of c back
// as it was.
func (s *columnSplitter) settleKind(c *column) {
	c.kind = kindString
	for _, v := range c.vals {
		if v[0] != '"' {
			c.kind = kindInt
			break
		}
	}
	if c.kind == kindString {
		return
	}
	for _, v := range c.vals {
		n, err := strconv.ParseInt(v, 10, 64)
		if s.num = strconv.AppendInt(s.num[:0], n, 10); err != nil || string(s.num) != v {
			c.kind, c.ints = kindToken, c.ints[:0]
			return
		}
		c.ints = append(c.ints, n)
	}
}

// splitObject cuts a flat JSON object as FieldsColumn writes it into its
// keys and values as written; ok is false for any other text.
func splitObject(s string, pairs []pair) ([]pair, bool) {
	if len(s) < 7 || s[0] != '{' || s[len(s)-1] != '}' { // {"k":1} at least
		return pairs, false
	}
	for i := 1; ; {
		if s[i] != '"' {
			return pairs, false
		}
		end := strings.IndexByte(s[i+1:], '"')
		if end < 0 {
			return pairs, false
		}
		key := s[i+1 : i+1+end]
		if strings.IndexByte(key, '\\') >= 0 || len(pairs) > 0 && key <= pairs[len(pairs)-1].key {
			return pairs, false
		}
		i += end + 2
		if i >= len(s) || s[i] != ':' {
			return pairs, false
		}
		i++
		stop := ValueEnd(s, i)
		if stop <= i || stop >= len(s) {
			return pairs, false
		}
		pairs = append(pairs, pair{key, s[i:stop]})
		if stop == len(s)-1 {
			return pairs, true
		}
		if s[stop] != ',' {
			return pairs, false
		}
		i = stop + 1
	}
}

// ValueEnd is where the JSON value starting at s[i] ends, in a fields
// text or any JSON: past a string's closing quote or an object's or
// array's closing bracket, or at the ',', '}' or ']' that follows any
// other value; -1 when it does not end.
func ValueEnd(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '"':
			if j = StringEnd(s, j); j < 0 {
				return -1
			}
			if depth == 0 {
				return j + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j
			}
			if depth--; depth == 0 {
				return j + 1
			}
		case ',':
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// StringEnd is the index of the quote closing the JSON string that starts
// at s[i], or -1.
func StringEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

// appendColumns appends the columns section of s's columns.
func (c *Codec) appendColumns(b []byte, s *columnSplitter) []byte {
	cols := s.cols
	if len(s.raw.rows) > 0 {
		cols = append([]column{s.raw}, cols...)
	}
	b = binary.AppendUvarint(b, uint64(len(cols)))
	frames := c.frames[:0]
	for i := range cols {
		col := &cols[i]
		c.colBuf = appendColumn(c.colBuf[:0], col)
		start := len(frames)
		frames = c.enc.EncodeAll(c.colBuf, frames)
		b = binary.AppendUvarint(b, uint64(len(col.name)))
		b = append(b, col.name...)
		b = append(b, byte(col.kind))
		b = binary.AppendUvarint(b, uint64(len(frames)-start))
	}
	c.frames = frames
	return append(b, frames...)
}

func appendColumn(b []byte, col *column) []byte {
	b = binary.AppendUvarint(b, uint64(len(col.rows)))
	next := uint32(0)
	for _, r := range col.rows {
		b = binary.AppendUvarint(b, uint64(r-next))
		next = r + 1
	}
	switch col.kind {
	case kindInt:
		for _, n := range col.ints {
			b = binary.AppendVarint(b, n)
		}
		return b
	case kindString:
		for _, v := range col.vals {
			b = binary.AppendUvarint(b, uint64(len(v)-2))
		}
		for _, v := range col.vals {
			b = append(b, v[1:len(v)-1]...)
		}
		return b
	}
	for _, v := range col.vals {
		b = binary.AppendUvarint(b, uint64(len(v)))
	}
	for _, v := range col.vals {
		b = append(b, v...)
	}
	return b
}

// decodedColumn is one column read back: its rows and values, pointing
// into the codec's memory.
type decodedColumn struct {
	name string
	kind columnKind
	rows []uint32
	vals []string
	ints []int64
	at   int // the next row to join
	// lo, hi: its decompressed frame in the codec's memory
	lo, hi int
}

// decodeFieldColumns fills in rows' fields from a columns section: every
// field, or with only, the fields it names (rows holding none of them
// get ""), and whole the texts that were not cut into columns.
func (c *Codec) decodeFieldColumns(section []byte, rows []Row, only []string) error {
	cols, err := c.readColumns(section, len(rows), only)
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].Fields = ""
	}
	out, starts := c.text[2][:0], c.starts[:0]
	var raw *decodedColumn
	if len(cols) > 0 && cols[0].kind == kindRaw {
		raw, cols = &cols[0], cols[1:]
	}
	for {
		row, ok := nextRow(cols, raw)
		if !ok {
			break
		}
		starts = append(starts, uint32(row), uint32(len(out)))
		if raw != nil && raw.at < len(raw.rows) && raw.rows[raw.at] == row {
			out = append(out, raw.vals[raw.at]...)
			raw.at++
		} else {
			out = joinRow(out, cols, row)
		}
	}
	c.text[2], c.starts = out, starts
	return c.setJoined(rows, out, starts, cols, raw)
}

// nextRow is the lowest row some column still holds.
func nextRow(cols []decodedColumn, raw *decodedColumn) (uint32, bool) {
	row, ok := uint32(0), false
	for i := range cols {
		if col := &cols[i]; col.at < len(col.rows) && (!ok || col.rows[col.at] < row) {
			row, ok = col.rows[col.at], true
		}
	}
	if raw != nil && raw.at < len(raw.rows) && (!ok || raw.rows[raw.at] < row) {
		row, ok = raw.rows[raw.at], true
	}
	return row, ok
}

// joinRow appends row's fields text, joined from the columns holding it.
func joinRow(out []byte, cols []decodedColumn, row uint32) []byte {
	sep := byte('{')
	for i := range cols {
		col := &cols[i]
		if col.at >= len(col.rows) || col.rows[col.at] != row {
			continue
		}
		out = append(out, sep, '"')
		out = append(out, col.name...)
		out = append(out, '"', ':')
		switch col.kind {
		case kindInt:
			out = strconv.AppendInt(out, col.ints[col.at], 10)
		case kindString:
			out = append(out, '"')
			out = append(out, col.vals[col.at]...)
			out = append(out, '"')
		default:
			out = append(out, col.vals[col.at]...)
		}
		col.at++
		sep = ','
	}
	return append(out, '}')
}

// setJoined points the rows' fields at their joined texts, once every
// column's rows are used (a row held by the raw column and another is
// corrupt).
func (c *Codec) setJoined(rows []Row, out []byte, starts []uint32, cols []decodedColumn, raw *decodedColumn) error {
	for i := range cols {
		if cols[i].at != len(cols[i].rows) {
			return fmt.Errorf("%w: field column %q holds rows out of order", ErrCorrupt, cols[i].name)
		}
	}
	if raw != nil && raw.at != len(raw.rows) {
		return fmt.Errorf("%w: whole fields texts hold rows out of order", ErrCorrupt)
	}
	var all string
	if c.borrow {
		all = unsafe.String(unsafe.SliceData(out), len(out))
	} else {
		all = string(out)
	}
	for k := 0; k < len(starts); k += 2 {
		end := len(all)
		if k+2 < len(starts) {
			end = int(starts[k+3])
		}
		rows[starts[k]].Fields = all[starts[k+1]:end]
	}
	return nil
}

// readColumns reads a columns section's directory and decodes the
// columns only lets through (all when nil; the raw column always), into
// the codec's memory.
func (c *Codec) readColumns(section []byte, count int, only []string) ([]decodedColumn, error) {
	dir, frames, err := c.readDirectory(section)
	if err != nil {
		return nil, err
	}
	buf, cols := c.text[1][:0], c.cols[:0]
	for _, e := range dir {
		frame := frames[:e.size]
		frames = frames[e.size:]
		if only != nil && e.kind != kindRaw && !slices.Contains(only, e.name) {
			continue
		}
		lo := len(buf)
		if buf, err = c.dec.DecodeAll(frame, buf); err != nil {
			return nil, fmt.Errorf("%w: field column %q: %w", ErrCorrupt, e.name, err)
		}
		if len(cols) < cap(cols) {
			cols = cols[:len(cols)+1]
		} else {
			cols = append(cols, decodedColumn{})
		}
		col := &cols[len(cols)-1]
		*col = decodedColumn{name: e.name, kind: e.kind, lo: lo, hi: len(buf), rows: col.rows[:0], vals: col.vals[:0], ints: col.ints[:0]}
	}
	c.text[1], c.cols = buf, cols
	for i := range cols {
		if err := c.parseColumn(&cols[i], buf[cols[i].lo:cols[i].hi], count); err != nil {
			return nil, err
		}
	}
	return cols, nil
}

// columnEntry is a column as the directory lists it.
type columnEntry struct {
	name string // pointing into the block's data
	kind columnKind
	size int // of its frame
}

// readDirectory reads a columns section's directory, and returns the
// frames that follow it.
func (c *Codec) readDirectory(section []byte) ([]columnEntry, []byte, error) {
	r := reader{b: section}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(section)) {
		return nil, nil, fmt.Errorf("%w: bad field column count", ErrCorrupt)
	}
	dir, total := c.dir[:0], uint64(0)
	for range n {
		l := r.uvarint()
		if r.err != nil || l+2 > uint64(len(r.b)) {
			return nil, nil, fmt.Errorf("%w: bad field column name", ErrCorrupt)
		}
		name := unsafe.String(unsafe.SliceData(r.b), int(l))
		kind := columnKind(r.b[l])
		r.b = r.b[l+1:]
		size := r.uvarint()
		if total += size; r.err != nil || kind >= kindEnd || size > uint64(len(section)) {
			return nil, nil, fmt.Errorf("%w: bad field column %q", ErrCorrupt, name)
		}
		dir = append(dir, columnEntry{name, kind, int(size)})
	}
	c.dir = dir
	if total != uint64(len(r.b)) {
		return nil, nil, fmt.Errorf("%w: field columns of %d bytes in %d", ErrCorrupt, total, len(r.b))
	}
	return dir, r.b, nil
}

// parseColumn reads a column's decompressed frame; its values point
// into raw.
func (c *Codec) parseColumn(col *decodedColumn, raw []byte, count int) error {
	r := reader{b: raw, borrow: true}
	n := r.uvarint()
	if r.err != nil || n > uint64(count) {
		return fmt.Errorf("%w: field column %q: bad row count", ErrCorrupt, col.name)
	}
	col.rows = slices.Grow(col.rows[:0], int(n))[:n]
	next := uint64(0)
	for i := range col.rows {
		row := next + r.uvarint()
		if row >= uint64(count) {
			r.fail()
			break
		}
		col.rows[i], next = uint32(row), row+1
	}
	if col.kind == kindInt {
		col.ints = slices.Grow(col.ints[:0], int(n))[:n]
		for i := range col.ints {
			col.ints[i] = r.varint()
		}
	} else {
		col.vals, c.lens = r.texts(col.vals, int(n), c.lens)
	}
	if r.err != nil || len(r.b) != 0 {
		return fmt.Errorf("%w: field column %q: %v", ErrCorrupt, col.name, r.err)
	}
	return nil
}

// ColumnKind is how a field's values are stored in a block's column.
type ColumnKind byte

// The kinds a Column has.
const (
	ColumnString = ColumnKind(kindString) // JSON strings
	ColumnInt    = ColumnKind(kindInt)    // integers
	ColumnToken  = ColumnKind(kindToken)  // any JSON values
)

// Column is one field's values in a block, as DecodeColumn reads them;
// they point into the codec's memory, valid until it decodes again.
type Column struct {
	Kind  ColumnKind
	Rows  []uint32 // the rows holding the field, ascending
	Ints  []int64  // ColumnInt's values
	Texts []string // the others': a string's text between its quotes (escapes kept), another value as written
	// WholeRows are the rows whose fields text was stored whole (not
	// cut into columns), Whole those texts: they may hold the field too.
	WholeRows []uint32
	Whole     []string
}

// DecodeColumn reads the values of one field of a block's count rows,
// without its head or other fields: what a count of a comparison on a
// field reads of a block wholly in its window. ok is false for a block
// whose fields are not stored as columns (DecodeFields reads those).
func (c *Codec) DecodeColumn(data []byte, count int, name string) (col Column, ok bool, err error) {
	text, err := afterHead(data)
	if err != nil {
		return Column{}, false, err
	}
	t, err := splitText(text)
	if err != nil || t.columns == nil {
		return Column{}, false, err
	}
	c.one[0] = name
	cols, err := c.readColumns(t.columns, count, c.one[:])
	if err != nil {
		return Column{}, false, err
	}
	col.Kind = ColumnToken
	for i := range cols {
		d := &cols[i]
		if d.kind == kindRaw {
			col.WholeRows, col.Whole = d.rows, d.vals
			continue
		}
		col.Kind, col.Rows, col.Ints, col.Texts = ColumnKind(d.kind), d.rows, d.ints, d.vals
	}
	return col, true, nil
}
