package query

import (
	"context"
	"runtime"
	"sync"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/collector/index/block"
)

// readAhead reads and decodes the blocks a partIter will load next, up
// to one per core at a time, while the iterator hands out the rows of
// those before them. A search's blocks were read and decompressed one
// after another on one core: most of a rare word's time, with a core
// idle (measured). A block decoded ahead and never loaded (the limit was
// reached) costs only its decoding.
type readAhead struct {
	r        *partReader
	ctx      context.Context
	inflight []*aheadBlock // the first blocks to load, in order
	spare    []*aheadDecoder
	decoders int // made so far, at most maxAhead
}

// maxAhead is how many blocks are decoded ahead at once.
var maxAhead = runtime.GOMAXPROCS(0)

// idleDecoders keeps decoders, and the memory they grew, from one search
// to the next in a long-lived process (the collector's API): each search
// made its own, and grew and cleared their buffers again. Measured there
// (10M events, alternated): a word + level over an hour 10.8 -> 10.0 ms,
// a rare word over a day 9.3 -> 9.0 ms.
var idleDecoders sync.Pool

// aheadDecoder is a codec and the memory it decodes into, reused.
type aheadDecoder struct {
	c  *block.Codec
	sc scratch
}

type aheadBlock struct {
	id   int64
	dec  *aheadDecoder
	done chan struct{}
	rows []block.Row
	err  error
}

// fill starts decoding the first of upcoming that are not in flight,
// while there are decoders to spare or to make. upcoming are the blocks
// still to load, in order; those in flight are its first.
func (a *readAhead) fill(upcoming []index.BlockMeta) {
	for len(a.inflight) < len(upcoming) {
		dec := a.decoder()
		if dec == nil {
			return
		}
		b := upcoming[len(a.inflight)]
		ab := &aheadBlock{id: b.ID, dec: dec, done: make(chan struct{})}
		a.inflight = append(a.inflight, ab)
		go func() { // joined by take or close
			defer close(ab.done)
			ab.rows, ab.err = a.r.decodeBlock(a.ctx, &b, dec.c, textAll, nil, true, &dec.sc)
		}()
	}
}

// decoder is a spare decoder, a new one while fewer than maxAhead were
// made, or nil. Its codec borrows (see block.Codec.Borrow).
func (a *readAhead) decoder() *aheadDecoder {
	if n := len(a.spare); n > 0 {
		d := a.spare[n-1]
		a.spare = a.spare[:n-1]
		return d
	}
	if a.decoders >= maxAhead {
		return nil
	}
	if d, ok := idleDecoders.Get().(*aheadDecoder); ok {
		a.decoders++
		return d
	}
	c, err := block.NewCodec()
	if err != nil {
		return nil // the block is decoded when it is loaded
	}
	// Its rows' strings point into its memory until it decodes again:
	// the iterator copies the few rows it keeps, rather than the codec
	// every message of the block (most of them ruled out: copying them
	// was a fifth of a word search, measured).
	c.Borrow()
	a.decoders++
	return &aheadDecoder{c: c}
}

// take waits for b when it is the first block in flight and returns its
// decoded rows (ok) and the decoder to give back once they are used.
func (a *readAhead) take(b *index.BlockMeta) (rows []block.Row, dec *aheadDecoder, ok bool, err error) {
	if len(a.inflight) == 0 || a.inflight[0].id != b.ID {
		return nil, nil, false, nil
	}
	ab := a.inflight[0]
	a.inflight = a.inflight[1:]
	<-ab.done
	return ab.rows, ab.dec, true, ab.err
}

func (a *readAhead) giveBack(d *aheadDecoder) { a.spare = append(a.spare, d) }

// close waits for the blocks in flight, and keeps their decoders and
// the spare ones for the next search.
func (a *readAhead) close() {
	for _, ab := range a.inflight {
		<-ab.done
		a.spare = append(a.spare, ab.dec)
	}
	for _, d := range a.spare {
		d.sc = scratch{data: d.sc.data[:0], messages: d.sc.messages[:0], rows: d.sc.rows[:0]}
		idleDecoders.Put(d)
	}
	a.inflight, a.spare = nil, nil
}
