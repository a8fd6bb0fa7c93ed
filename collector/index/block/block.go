// Package block is the codec of the index's storage format (schema 4 and
// later): a run of one service's events, in time order, stored as
// zstd-compressed columns, with a token filter and a per-series summary
// beside it, instead of one SQLite row and one positional full-text entry
// per event. Measured on the bench's workload (collector/index/README.md),
// messages shrink to about 21 % of their size this way, against 118 bytes
// of table plus 128 of full-text index per event in schema 3.
//
// A block is stored in two pieces. Block.Data: the length of the head
// frame, the head frame, a 1 byte, the fields as columns (columns.go;
// schema 7), or, in blocks written before, a 0 byte and one fields frame.
// Block.Messages: the messages frame. Each frame is zstd-compressed on its own, so that a
// count by time or series reads the head alone and a condition on a field
// the fields alone; the messages, three quarters of a block on the bench's
// workload, are stored apart (schema 5) so that neither reads them.
// Blocks written before keep their messages in Data and still decode:
// after the head, the length of the messages frame (never 0), the
// messages frame and the fields frame (schema 4), or, older still, one
// text frame holding both (it starts with zstd's magic). Every integer is
// a varint. The head is written as head.go says (schema 8); before, it
// was:
//
//	head: count
//	      count × time delta  (the first from 0; times never descend)
//	      count × series      (series.id of the partition)
//	      count × seq delta   (signed, from the series' previous row, the
//	                           first from 0; seq 0 means none)
//	text: count × message length, then the messages
//	      count × fields length,  then the fields (JSON text, "" for none)
//
// Columns stay apart so that zstd sees like next to like; a series' seq
// deltas are mostly alike, which made blocks 6 % smaller (measured on the
// bench's workload).
package block

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/klauspost/compress/zstd"
)

// Row is one event as the index stores it.
type Row struct {
	Time    int64  // Unix ns
	Series  int64  // series.id
	Seq     uint64 // 0: unsequenced
	Message string
	Fields  string // JSON object; "" for none
}

// Block is a run of rows in time order.
type Block struct {
	MinTime, MaxTime int64
	Count            int
	Data             []byte   // the head and the fields, zstd-compressed
	Messages         []byte   // the messages, stored apart
	Filter           Filter   // what words the messages and fields hold
	Series           []Series // the series present, ascending by ID
}

// MaxRaw bounds a block's uncompressed columns, so that a damaged frame
// header cannot make Decode allocate gigabytes; the writer cuts blocks
// well below it.
const MaxRaw = 256 << 20

// ErrCorrupt is wrapped by Decode for data that is not a block.
var ErrCorrupt = errors.New("corrupt block")

// Codec compresses and decompresses blocks; it is not safe for concurrent
// use (each writer and reader has its own).
type Codec struct {
	enc    *zstd.Encoder
	dec    *zstd.Decoder
	buf    []byte
	filter filterBuilder
	seqs   seqChain
	// the head's series dictionary and seq chains (head.go), reused
	streamOf         func(series int64) int64
	placeOf, chainOf map[int64]int32
	ids              []int64
	chains, places   []int32
	last             []uint64
	lens             []uint64 // a text column's lengths, reused
	// the fields as columns (columns.go), reused
	split          columnSplitter
	colBuf, frames []byte
	dir            []columnEntry
	cols           []decodedColumn
	starts         []uint32
	one            [1]string // DecodeColumn's name, as an only
	// With borrow, decoded strings point into text (messages, fields)
	// instead of being copied out; see Borrow.
	borrow bool
	text   [3][]byte
}

// Borrow makes the strings of the rows this codec decodes point into its
// own memory, valid only until it decodes the next block's text: for a
// reader that is done with a block's rows before it decodes the next and
// copies what it keeps (a count, a fold), which then touches no fresh
// memory per block. Copying every message and field out was a fifth of
// a top by a field over millions of events (measured).
func (c *Codec) Borrow() { c.borrow = true }

// NewCodec returns a codec at zstd's fastest level: measured, the default
// level saved nothing on log messages and cost a fifth more time.
func NewCodec() (*Codec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxRaw))
	if err != nil {
		return nil, err
	}
	return &Codec{enc: enc, dec: dec}, nil
}

// Encode makes the block of rows, which must not descend in time.
func (c *Codec) Encode(rows []Row) (Block, error) {
	return c.encode(rows, func() Filter { return c.filter.build(rows) })
}

// EncodeRun makes the block of rows as Encode does, and adds their words
// to run, the filter of the run the block belongs to.
func (c *Codec) EncodeRun(rows []Row, run *RunFilter) (Block, error) {
	return c.encode(rows, func() Filter {
		c.filter.tally(rows)
		run.fold(&c.filter, len(rows))
		return c.filter.finish(len(rows))
	})
}

// EncodeSealing makes the block of rows, which are the rows of run's
// blocks and fresh (in time order), taking its filter from run and
// fresh's words: run's rows are not tokenized again. run is spent. When
// the rows are not as many as run's and fresh's, it encodes as Encode.
func (c *Codec) EncodeSealing(rows, fresh []Row, run *RunFilter) (Block, error) {
	if run.rows+len(fresh) != len(rows) {
		return c.Encode(rows)
	}
	return c.encode(rows, func() Filter {
		c.filter.tally(fresh)
		run.fold(&c.filter, len(fresh))
		c.filter.release()
		return run.filter()
	})
}

// encode makes the block of rows, its filter from filter.
func (c *Codec) encode(rows []Row, filter func() Filter) (Block, error) {
	if len(rows) == 0 {
		return Block{}, errors.New("encode block: no rows")
	}
	head, err := c.appendHead(c.buf[:0], rows)
	if err != nil {
		return Block{}, err
	}
	headLen := len(head)
	cols := appendStrings(head, rows, func(r *Row) string { return r.Message })
	msgEnd := len(cols)
	split := c.split.split(rows)
	if !split {
		cols = appendStrings(cols, rows, func(r *Row) string { return r.Fields })
	}
	c.buf = cols
	if len(cols) > MaxRaw {
		return Block{}, fmt.Errorf("encode block: %d bytes of columns, limit %d", len(cols), MaxRaw)
	}
	data := framed(nil, c.enc.EncodeAll(cols[:headLen], nil))
	if split {
		data = c.appendColumns(append(data, fieldColumns), &c.split)
	} else {
		data = append(data, messagesApart)
		data = c.enc.EncodeAll(cols[msgEnd:], data)
	}
	return Block{
		MinTime: rows[0].Time, MaxTime: rows[len(rows)-1].Time, Count: len(rows),
		Data: data, Messages: c.enc.EncodeAll(cols[headLen:msgEnd], nil),
		Filter: filter(), Series: summarise(rows),
	}, nil
}

// seqChain is each series' previous seq in a block, what the seq deltas
// of a head written before schema 8 are taken from (decodeSeriesHead;
// newer heads chain through streams, head.go). Series ids are a partition's row ids, small and dense, so
// they index a slice the codec keeps between blocks (a map cost a sixth
// of a block's head decoding, measured); ids past denseSeries, which a
// damaged block could hold, go to a map.
type seqChain struct {
	dense   []uint64
	touched []int64 // ids set in dense, to clear for the next block
	sparse  map[int64]uint64
}

const denseSeries = 1 << 20

func (c *seqChain) reset() {
	for _, id := range c.touched {
		c.dense[id] = 0
	}
	c.touched = c.touched[:0]
	clear(c.sparse)
}

func (c *seqChain) get(series int64) uint64 {
	if series >= 0 && series < int64(len(c.dense)) {
		return c.dense[series]
	}
	return c.sparse[series]
}

// swap sets series' previous seq to seq and returns the one it replaces.
func (c *seqChain) swap(series int64, seq uint64) uint64 {
	if series < 0 || series >= denseSeries {
		if c.sparse == nil {
			c.sparse = map[int64]uint64{}
		}
		old := c.sparse[series]
		c.sparse[series] = seq
		return old
	}
	if series >= int64(len(c.dense)) {
		c.dense = append(c.dense, make([]uint64, int(series)+1-len(c.dense))...)
	}
	old := c.dense[series]
	if old == 0 {
		c.touched = append(c.touched, series)
	}
	c.dense[series] = seq
	return old
}

// framed appends a frame's length and the frame.
func framed(b, frame []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(frame))), frame...)
}

func appendStrings(b []byte, rows []Row, col func(*Row) string) []byte {
	for i := range rows {
		b = binary.AppendUvarint(b, uint64(len(col(&rows[i]))))
	}
	for i := range rows {
		b = append(b, col(&rows[i])...)
	}
	return b
}

// messagesApart follows the head of a block whose messages are stored
// apart (Block.Messages); a block holding them follows its head with the
// messages frame's length, which is never 0, or with zstd's magic.
const messagesApart = 0

// Decode returns a block's rows, from its two pieces as Encode made them
// (messages is nil for blocks that hold their messages in data).
func (c *Codec) Decode(data, messages []byte) ([]Row, error) {
	rows, text, err := c.decodeHead(data, nil, true)
	if err != nil {
		return nil, err
	}
	return rows, c.decodeText(text, messages, rows, nil)
}

// DecodeHead returns a block's rows with their time, series and seq only:
// what a count or a stream's fill looks at first. DecodeText adds the
// rest.
func (c *Codec) DecodeHead(data []byte) ([]Row, error) {
	rows, _, err := c.decodeHead(data, nil, true)
	return rows, err
}

// DecodeHeadInto is DecodeHead into rows' memory (reused, cleared), for
// a reader of many blocks that is done with one before the next.
func (c *Codec) DecodeHeadInto(data []byte, rows []Row) ([]Row, error) {
	rows, _, err := c.decodeHead(data, rows, true)
	return rows, err
}

// DecodeTimesInto is DecodeHeadInto without the seqs (left 0): what a
// count reads, which never asks for one (their chain was a third of a
// head's decoding, measured).
func (c *Codec) DecodeTimesInto(data []byte, rows []Row) ([]Row, error) {
	rows, _, err := c.decodeHead(data, rows, false)
	return rows, err
}

// DecodeText fills in the messages and fields of rows that DecodeHead
// returned for the same data: every field, or with only, at least those
// it names (see DecodeFields).
func (c *Codec) DecodeText(data, messages []byte, rows []Row, only []string) error {
	text, err := afterHead(data)
	if err != nil {
		return err
	}
	return c.decodeText(text, messages, rows, only)
}

// afterHead is what follows a block's head frame.
func afterHead(data []byte) ([]byte, error) {
	r := reader{b: data}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return nil, fmt.Errorf("%w: bad head length", ErrCorrupt)
	}
	return r.b[n:], nil
}

func (c *Codec) decodeHead(data []byte, into []Row, withSeqs bool) (rows []Row, text []byte, err error) {
	r := reader{b: data}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return nil, nil, fmt.Errorf("%w: bad head length", ErrCorrupt)
	}
	head, text := r.b[:n], r.b[n:]
	raw, err := c.dec.DecodeAll(head, c.buf[:0])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	c.buf = raw
	r = reader{b: raw}
	dictionary := len(raw) >= 2 && raw[0] == 0
	if dictionary {
		if raw[1] != headDictionary {
			return nil, nil, fmt.Errorf("%w: head version %d", ErrCorrupt, raw[1])
		}
		r.b = raw[2:]
	}
	count := r.uvarint()
	if r.err != nil || count == 0 || count > uint64(len(raw)) {
		return nil, nil, fmt.Errorf("%w: bad row count", ErrCorrupt)
	}
	rows = slices.Grow(into[:0], int(count))[:count]
	clear(rows)
	t := r.varint()
	for i := range rows {
		if i > 0 {
			t += int64(r.uvarint())
		}
		rows[i].Time = t
	}
	if dictionary {
		err = c.decodeDictionaryHead(&r, rows, withSeqs)
	} else {
		c.decodeSeriesHead(&r, rows, withSeqs)
		err = r.err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if withSeqs && len(r.b) != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes after the head columns", ErrCorrupt, len(r.b))
	}
	return rows, text, nil
}

// decodeSeriesHead reads the rest of a head written before schema 8:
// each row's series id, and its seq chained through its series.
func (c *Codec) decodeSeriesHead(r *reader, rows []Row, withSeqs bool) {
	for i := range rows {
		rows[i].Series = int64(r.uvarint())
	}
	if !withSeqs {
		return
	}
	c.seqs.reset()
	for i := range rows {
		row := &rows[i]
		row.Seq = c.seqs.get(row.Series) + uint64(r.varint())
		c.seqs.swap(row.Series, row.Seq)
	}
}

func (c *Codec) decodeText(text, messages []byte, rows []Row, only []string) error {
	t, err := splitText(text)
	if err != nil {
		return err
	}
	if t.joined != nil {
		return c.decodeColumns(t.joined, &c.text[0], rows, setMessage, setFields)
	}
	if t.messages == nil {
		if len(messages) == 0 {
			return fmt.Errorf("%w: the messages stored apart are missing", ErrCorrupt)
		}
		t.messages = messages
	}
	if err := c.decodeColumns(t.messages, &c.text[0], rows, setMessage); err != nil {
		return err
	}
	if t.columns != nil {
		return c.decodeFieldColumns(t.columns, rows, only)
	}
	return c.decodeColumns(t.fields, &c.text[1], rows, setFields)
}

// DecodeFields fills in only the fields of rows that DecodeHead returned:
// what a condition on a field, or a count by one, reads. With only (nil
// for every field), a block whose fields are stored as columns gives each
// row the fields only names that it holds, as a text like the whole one
// (a row's text that was not cut into columns comes whole); blocks
// written before give every field, and those written before the messages
// had their own frame are decoded whole.
func (c *Codec) DecodeFields(data []byte, rows []Row, only []string) error {
	text, err := afterHead(data)
	if err != nil {
		return err
	}
	t, err := splitText(text)
	if err != nil {
		return err
	}
	switch {
	case t.joined != nil:
		return c.decodeColumns(t.joined, &c.text[0], rows, setMessage, setFields)
	case t.columns != nil:
		return c.decodeFieldColumns(t.columns, rows, only)
	}
	return c.decodeColumns(t.fields, &c.text[1], rows, setFields)
}

// DecodeFieldsInto returns a block's count rows with their fields only,
// without its head, in rows' memory (reused, cleared): what a fold over
// fields reads of a block that lies wholly in its window with every
// series wanted, where times and series do not matter (measured: the
// head was a sixth of a top by a field).
func (c *Codec) DecodeFieldsInto(data []byte, count int, rows []Row, only []string) ([]Row, error) {
	if count <= 0 || count > MaxRaw {
		return nil, fmt.Errorf("%w: bad row count %d", ErrCorrupt, count)
	}
	rows = slices.Grow(rows[:0], count)[:count]
	clear(rows)
	return rows, c.DecodeFields(data, rows, only)
}

// DecodeTextInto is DecodeFieldsInto with the messages too: what a
// condition on messages and fields reads of such a block.
func (c *Codec) DecodeTextInto(data, messages []byte, count int, rows []Row, only []string) ([]Row, error) {
	if count <= 0 || count > MaxRaw {
		return nil, fmt.Errorf("%w: bad row count %d", ErrCorrupt, count)
	}
	rows = slices.Grow(rows[:0], count)[:count]
	clear(rows)
	return rows, c.DecodeText(data, messages, rows, only)
}

func setMessage(row *Row, s string) { row.Message = s }
func setFields(row *Row, s string)  { row.Fields = s }

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// textFrames are the frames that follow a block's head: the messages
// (nil when stored apart) and the fields, as one frame or as columns, or,
// in the oldest blocks, both joined in one frame.
type textFrames struct{ messages, fields, columns, joined []byte }

// splitText cuts what follows the head into its frames, by the layouts
// the package comment describes.
func splitText(text []byte) (textFrames, error) {
	switch {
	case len(text) > 0 && text[0] == messagesApart:
		return textFrames{fields: text[1:]}, nil
	case len(text) > 0 && text[0] == fieldColumns: // a messages frame of 1 byte cannot be
		return textFrames{columns: text[1:]}, nil
	case bytes.HasPrefix(text, zstdMagic):
		return textFrames{joined: text}, nil
	}
	r := reader{b: text}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return textFrames{}, fmt.Errorf("%w: bad messages frame length", ErrCorrupt)
	}
	return textFrames{messages: r.b[:n], fields: r.b[n:]}, nil
}

// decodeColumns decompresses a frame holding one string column per set,
// in order, into buf, and fills them in.
func (c *Codec) decodeColumns(frame []byte, buf *[]byte, rows []Row, sets ...func(*Row, string)) error {
	raw, err := c.dec.DecodeAll(frame, (*buf)[:0])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	*buf = raw
	r := reader{b: raw, borrow: c.borrow}
	for _, set := range sets {
		c.lens = r.strings(rows, set, c.lens)
	}
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last column", ErrCorrupt, len(r.b))
	}
	return nil
}

// Series is how many rows of a block belong to one series, and the newest
// one's time: enough to count events by level, service or host, or to skip
// a block no wanted series is in, without decompressing it.
type Series struct {
	ID      int64
	Rows    uint32
	MaxTime int64
}

func summarise(rows []Row) []Series {
	var out []Series
	for _, r := range rows {
		i, ok := slices.BinarySearchFunc(out, r.Series, func(s Series, id int64) int { return compareInt(s.ID, id) })
		if !ok {
			out = slices.Insert(out, i, Series{ID: r.Series})
		}
		out[i].Rows++
		out[i].MaxTime = max(out[i].MaxTime, r.Time)
	}
	return out
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MarshalSeries encodes a block's series summary: 0 and summaryDeltas,
// the number of series, then each one's id as the distance from the one
// before (ascending), rows, and newest time as a varint distance below
// maxTime. A summary written before schema 10 starts with the number of
// series (never 0) and gives each id whole: two bytes of the about
// seven of an entry, where a distance takes one.
func MarshalSeries(ss []Series, maxTime int64) []byte {
	b := binary.AppendUvarint([]byte{0, summaryDeltas}, uint64(len(ss)))
	prev := int64(0)
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(s.ID-prev))
		b = binary.AppendUvarint(b, uint64(s.Rows))
		b = binary.AppendUvarint(b, uint64(maxTime-s.MaxTime))
		prev = s.ID
	}
	return b
}

const summaryDeltas = 1

// summaryReader reads a series summary of either layout.
type summaryReader struct {
	reader
	n      uint64
	deltas bool
	prev   int64
}

func readSummary(b []byte) summaryReader {
	s := summaryReader{reader: reader{b: b}}
	if len(b) >= 2 && b[0] == 0 {
		if b[1] != summaryDeltas {
			s.fail()
			return s
		}
		s.b, s.deltas = b[2:], true
	}
	s.n = s.uvarint()
	return s
}

func (s *summaryReader) next(maxTime int64) Series {
	id := int64(s.uvarint())
	if s.deltas {
		id += s.prev
		s.prev = id
	}
	out := Series{ID: id, Rows: uint32(s.uvarint())}
	out.MaxTime = maxTime - int64(s.uvarint())
	return out
}

// EachSeries calls fn with each series of a marshalled summary, without
// allocating, until fn returns false.
func EachSeries(b []byte, maxTime int64, fn func(Series) bool) error {
	r := readSummary(b)
	for i := uint64(0); i < r.n && r.err == nil; i++ {
		s := r.next(maxTime)
		if r.err == nil && !fn(s) {
			return nil
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w: series summary", ErrCorrupt)
	}
	return nil
}

// UnmarshalSeries decodes what MarshalSeries encoded.
func UnmarshalSeries(b []byte, maxTime int64) ([]Series, error) {
	r := readSummary(b)
	if r.err != nil || r.n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: series summary", ErrCorrupt)
	}
	out := make([]Series, r.n)
	for i := range out {
		out[i] = r.next(maxTime)
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: series summary", ErrCorrupt)
	}
	return out, nil
}

// reader walks the uncompressed columns; the first error sticks.
type reader struct {
	b      []byte
	err    error
	borrow bool // strings point into b
}

var errShort = errors.New("column runs past the data")

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errShort
	}
	r.b = nil
}

// texts reads n lengths and the strings they measure into vals
// (reused), pointing into r's bytes; lens is scratch, returned.
func (r *reader) texts(vals []string, n int, lens []uint64) ([]string, []uint64) {
	lens = slices.Grow(lens[:0], n)[:n]
	total := uint64(0)
	for i := range lens {
		if lens[i] = r.uvarint(); lens[i] > uint64(len(r.b)) {
			r.fail()
		}
		total += lens[i]
	}
	if r.err != nil || total > uint64(len(r.b)) {
		r.fail()
		return vals[:0], lens
	}
	vals = slices.Grow(vals[:0], n)[:n]
	all := unsafe.String(unsafe.SliceData(r.b), int(total))
	r.b = r.b[total:]
	at := uint64(0)
	for i, l := range lens {
		vals[i] = all[at : at+l]
		at += l
	}
	return vals, lens
}

// strings reads a length column (into lens, reused and returned) and the
// strings it measures; the strings are copied out, so rows outlive the
// codec's buffer, unless borrowed.
func (r *reader) strings(rows []Row, set func(*Row, string), lens []uint64) []uint64 {
	lens = slices.Grow(lens[:0], len(rows))[:len(rows)]
	total := uint64(0)
	for i := range lens {
		lens[i] = r.uvarint()
		total += lens[i]
	}
	if r.err != nil || total > uint64(len(r.b)) {
		r.fail()
		return lens
	}
	var all string
	if r.borrow {
		all = unsafe.String(unsafe.SliceData(r.b), int(total))
	} else {
		all = string(r.b[:total])
	}
	r.b = r.b[total:]
	at := uint64(0)
	for i := range rows {
		set(&rows[i], all[at:at+lens[i]])
		at += lens[i]
	}
	return lens
}
