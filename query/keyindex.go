package query

// keyIndex numbers group keys (the bytes a fold makes of an event's
// values), looked up once per event. Keys that fit in a shortKey live in
// the map's own slots: a string key's bytes live elsewhere, and reading
// them was a second cache miss per lookup, the most of a top over a
// hundred thousand users (measured). Longer keys go to a string map.
type keyIndex struct {
	short map[shortKey]int32
	long  map[string]int32
}

// shortKey holds a key of up to len(b) bytes and its length.
type shortKey struct {
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

// get is key's number; ok is false when it has none.
func (x *keyIndex) get(key []byte) (i int32, ok bool) {
	if k, short := makeShortKey(key); short {
		i, ok = x.short[k]
		return i, ok
	}
	i, ok = x.long[string(key)] // no allocation for a lookup
	return i, ok
}

func (x *keyIndex) put(key []byte, i int32) {
	if k, short := makeShortKey(key); short {
		if x.short == nil {
			x.short = map[shortKey]int32{}
		}
		x.short[k] = i
		return
	}
	if x.long == nil {
		x.long = map[string]int32{}
	}
	x.long[string(key)] = i
}

func (x *keyIndex) len() int { return len(x.short) + len(x.long) }
