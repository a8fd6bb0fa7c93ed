package block

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// headDictionary is the version of a head (schema 8) that names the
// block's series once, in a dictionary, and chains seqs through streams:
//
//	head: 0, headDictionary   (an older head starts with its count, never 0)
//	      count
//	      count × time delta  (the first from 0; times never descend)
//	      series: n, n × id delta (ascending, the first from 0)
//	      n × chain           (the series' stream, numbered in the block)
//	      count × series      (its place in the dictionary)
//	      count × seq delta   (signed, from the previous row of its chain,
//	                           the first from 0; seq 0 means none)
//
// Measured on the bench's 1M events (16,000 series, 20 streams per
// service), the heads shrank from 5.9 to 4.2 MB: a series id took 2.0
// bytes a row, a place in the dictionary takes 0.4 compressed (the
// dictionaries 1.7 bytes a row), and seqs, which took 1.4 bytes a row
// chained per series (a jump of the number of hosts sharing the
// stream), take nothing: a stream's go up by one from row to row.
const headDictionary = 1

// SetStreams tells Encode which stream each series belongs to (the
// series of one publisher's service and level): its seqs are chained
// through the stream's rows. Without it, each series is its own chain.
func (c *Codec) SetStreams(streamOf func(series int64) int64) { c.streamOf = streamOf }

// appendHead appends the head of rows, which must not descend in time.
func (c *Codec) appendHead(b []byte, rows []Row) ([]byte, error) {
	b = append(b, 0, headDictionary)
	b = binary.AppendUvarint(b, uint64(len(rows)))
	prev := rows[0].Time
	b = binary.AppendVarint(b, prev)
	for _, r := range rows[1:] {
		if r.Time < prev {
			return nil, fmt.Errorf("encode block: times must not descend (%d after %d)", r.Time, prev)
		}
		b = binary.AppendUvarint(b, uint64(r.Time-prev))
		prev = r.Time
	}
	b, chains := c.appendDictionary(b, rows)
	for _, at := range c.places {
		b = binary.AppendUvarint(b, uint64(at))
	}
	last := slices.Grow(c.last[:0], len(chains))[:len(chains)]
	clear(last)
	for i, r := range rows {
		ch := chains[c.places[i]]
		b = binary.AppendVarint(b, int64(r.Seq-last[ch]))
		last[ch] = r.Seq
	}
	c.last = last
	return b, nil
}

// appendDictionary appends the block's series and their chains, and
// leaves each row's place in the dictionary in c.places; it returns each
// place's chain.
func (c *Codec) appendDictionary(b []byte, rows []Row) ([]byte, []int32) {
	if c.placeOf == nil {
		c.placeOf, c.chainOf = make(map[int64]int32), make(map[int64]int32)
	}
	clear(c.placeOf)
	ids := c.ids[:0]
	for _, r := range rows {
		if _, ok := c.placeOf[r.Series]; !ok {
			c.placeOf[r.Series] = 0
			ids = append(ids, r.Series)
		}
	}
	slices.Sort(ids)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	prev := int64(0)
	for i, id := range ids {
		c.placeOf[id] = int32(i)
		b = binary.AppendVarint(b, id-prev)
		prev = id
	}
	clear(c.chainOf)
	chains := c.chains[:0]
	for _, id := range ids {
		stream := id
		if c.streamOf != nil {
			stream = c.streamOf(id)
		}
		ch, ok := c.chainOf[stream]
		if !ok {
			ch = int32(len(c.chainOf))
			c.chainOf[stream] = ch
		}
		chains = append(chains, ch)
		b = binary.AppendUvarint(b, uint64(ch))
	}
	places := slices.Grow(c.places[:0], len(rows))[:len(rows)]
	for i, r := range rows {
		places[i] = c.placeOf[r.Series]
	}
	c.ids, c.chains, c.places = ids, chains, places
	return b, chains
}

// decodeDictionaryHead reads a headDictionary head after its times into
// rows: their series, and with withSeqs their seqs.
func (c *Codec) decodeDictionaryHead(r *reader, rows []Row, withSeqs bool) error {
	n := r.uvarint()
	if r.err != nil || n == 0 || n > uint64(len(rows)) {
		return fmt.Errorf("%w: bad series dictionary", ErrCorrupt)
	}
	ids := slices.Grow(c.ids[:0], int(n))[:n]
	id := int64(0)
	for i := range ids {
		id += r.varint()
		ids[i] = id
	}
	chains := slices.Grow(c.chains[:0], int(n))[:n]
	for i := range chains {
		if ch := r.uvarint(); ch < n {
			chains[i] = int32(ch)
		} else {
			r.fail()
		}
	}
	places := slices.Grow(c.places[:0], len(rows))[:len(rows)]
	for i := range rows {
		at := r.uvarint()
		if at >= n {
			r.fail()
			at = 0
		}
		places[i] = int32(at)
		rows[i].Series = ids[at]
	}
	c.ids, c.chains, c.places = ids, chains, places
	if r.err != nil || !withSeqs {
		return r.err
	}
	last := slices.Grow(c.last[:0], int(n))[:n]
	clear(last)
	for i := range rows {
		ch := chains[places[i]]
		rows[i].Seq = last[ch] + uint64(r.varint())
		last[ch] = rows[i].Seq
	}
	c.last = last
	return r.err
}
