package query

import (
	"hash/maphash"
	"math/bits"
	"unsafe"
)

// countTable counts short keys: open addressing with linear probing, a
// slot holding its key and count. A tally counts strings here rather
// than giving each a group: a top by user over a day made a hundred
// thousand groups per worker (a string, a slice and an interface each)
// and numbered them in a Go map, and on this VM the memory they touched
// cost more than the counting (page faults, measured).
type countTable struct {
	slots []countSlot
	n     int        // keys counted
	used  int        // slots taken, moved ones too
	arena *slotArena // where grow takes slots from; nil: the Go heap
}

type countSlot struct {
	k shortKey
	n int64 // 0 is an empty slot, moved a key whose count went elsewhere
}

const moved = -1

// keySeed keeps the hashes of one process unguessable, so that values
// written into logs cannot be chosen to collide.
var keySeed = maphash.Comparable(maphash.MakeSeed(), 0)

// words is the key as three words, its length and bytes as memory holds
// them: all a hash and an equality need.
func (k *shortKey) words() *[3]uint64 { return (*[3]uint64)(unsafe.Pointer(k)) }

func (k *shortKey) equal(o *shortKey) bool {
	a, b := k.words(), o.words()
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2]
}

// hash mixes the key's words by multiplication, as wyhash does.
func (k *shortKey) hash() uint64 {
	w := k.words()
	return hashWords(w[0], w[1], w[2])
}

func hashWords(w0, w1, w2 uint64) uint64 {
	hi, lo := bits.Mul64(w0^keySeed, w1^0xe7037ed1a0b428db)
	hi, lo = bits.Mul64(hi^lo^w2, 0x8ebc6af09c88c6e3)
	return hi ^ lo
}

// stringKeyWords are the words of the short key of s and its NUL (s is
// shorter than a shortKey's bytes), made in registers: a key built
// byte by byte on the stack and then read as words stalled each value
// on store-to-load forwarding (measured: nine tenths of the samples of
// a top by user's counting loop).
func stringKeyWords(s string) (w0, w1, w2 uint64) {
	if len(s) < 4 { // values this short are few: bytes
		return uint64(len(s)+1) | le64(s, 0)<<8, 0, 0
	}
	w0 = uint64(len(s)+1) | le32(s, 0)<<8 // inlined, for the common short values
	if len(s) < 8 {
		return w0 | le32(s, len(s)-4)<<(8*(len(s)-3)), 0, 0
	}
	return uint64(len(s)+1) | le64(s, 0)<<8, le64(s, 7), le64(s, 15)
}

// le64 is s[i:i+8] as a little-endian word, zeros past the end of s.
// Shorter tails are read as two overlapping halves or three bytes,
// without a loop (a loop per value was a tenth of a top by user).
func le64(s string, i int) uint64 {
	switch n := len(s) - i; {
	case n >= 8:
		return le32(s, i) | le32(s, i+4)<<32
	case n >= 4:
		return le32(s, i) | le32(s, len(s)-4)<<(8*(n-4))
	case n > 0:
		return uint64(s[i]) | uint64(s[i+n/2])<<(8*(n/2)) | uint64(s[len(s)-1])<<(8*(n-1))
	}
	return 0
}

func le32(s string, i int) uint64 {
	s = s[i : i+4]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

// add counts n more of k, whose hash is h.
func (c *countTable) add(k *shortKey, h uint64, n int64) {
	if (c.used+1)*4 > len(c.slots)*3 { // at most three quarters full
		c.grow()
	}
	mask := uint64(len(c.slots) - 1)
	for j := h & mask; ; j = (j + 1) & mask {
		s := &c.slots[j]
		if s.n == 0 {
			*s = countSlot{k: *k, n: n}
			c.n++
			c.used++
			return
		}
		if s.n != moved && s.k.equal(k) {
			s.n += n
			return
		}
	}
}

// take removes k and returns its count, 0 when it has none.
func (c *countTable) take(k *shortKey, h uint64) int64 {
	if c.n == 0 {
		return 0
	}
	mask := uint64(len(c.slots) - 1)
	for j := h & mask; ; j = (j + 1) & mask {
		s := &c.slots[j]
		switch {
		case s.n == 0:
			return 0
		case s.n != moved && s.k.equal(k):
			n := s.n
			s.n = moved // the probes of keys after it go on past it
			c.n--
			return n
		}
	}
}

func (c *countTable) grow() {
	old := c.slots
	n := max(2*len(old), 64)
	if c.slots = arenaSlice[countSlot](c.arena, n); c.slots == nil {
		c.slots = make([]countSlot, n)
	}
	// Written before it is read: memory fresh from the kernel is not
	// cleared by make (nor by the arena), and a page read first maps the
	// shared zero page, so the first write faults again and flushes every
	// CPU's TLB (on this VM a tenth of a top by user, measured).
	clear(c.slots)
	c.n, c.used = 0, 0
	for i := range old {
		if old[i].n > 0 {
			c.add(&old[i].k, old[i].k.hash(), old[i].n)
		}
	}
}

// each calls fn with every key and its count.
func (c *countTable) each(fn func(k *shortKey, n int64)) {
	for i := range c.slots {
		if c.slots[i].n > 0 {
			fn(&c.slots[i].k, c.slots[i].n)
		}
	}
}
