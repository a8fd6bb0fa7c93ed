package query

// keyIndex numbers group keys (the bytes a fold makes of an event's
// values), looked up once per event. Keys that fit in a shortKey live in
// the maps' own slots: a string key's bytes live elsewhere, and reading
// them was a second cache miss per lookup (measured). Longer keys go to
// a string map.
//
// Short keys are spread over keyParts maps by their hash, so that a
// tally can put off the lookups of a part's keys and make them together
// (see tally.pending): the part's map, a few hundred keys, is then in the
// cache for all of them. Lookups into one map of a hundred thousand users
// missed the cache about twice each, half of a top by user (measured).
type keyIndex struct {
	short [keyParts]map[shortKey]int32
	long  map[string]int32
	n     int
}

const (
	keyPartBits = 8
	keyParts    = 1 << keyPartBits
)

// shortKey holds a key of up to len(b) bytes and its length: 24 bytes,
// word-aligned, read as three words to hash and compare (countTable).
type shortKey struct {
	_ [0]uint64
	n uint8
	b [23]byte
}

func makeShortKey(key []byte) (k shortKey, ok bool) {
	if len(key) > len(k.b) {
		return k, false
	}
	k.n = uint8(len(key))
	copy(k.b[:], key)
	return k, true
}

// part is which of keyParts maps holds k: the top bits of its hash, the
// low ones being a countTable's slot.
func (k *shortKey) part() int { return int(k.hash() >> (64 - keyPartBits)) }

// get is key's number; ok is false when it has none.
func (x *keyIndex) get(key []byte) (i int32, ok bool) {
	if k, short := makeShortKey(key); short {
		i, ok = x.short[k.part()][k]
		return i, ok
	}
	i, ok = x.long[string(key)] // no allocation for a lookup
	return i, ok
}

func (x *keyIndex) put(key []byte, i int32) {
	if k, short := makeShortKey(key); short {
		x.putShort(k, k.part(), i)
		return
	}
	if x.long == nil {
		x.long = map[string]int32{}
	}
	if _, ok := x.long[string(key)]; !ok {
		x.n++
	}
	x.long[string(key)] = i
}

// putShort numbers k, which is in part.
func (x *keyIndex) putShort(k shortKey, part int, i int32) {
	m := x.short[part]
	if m == nil {
		m = map[shortKey]int32{}
		x.short[part] = m
	}
	if _, ok := m[k]; !ok {
		x.n++
	}
	m[k] = i
}

func (x *keyIndex) len() int { return x.n }
