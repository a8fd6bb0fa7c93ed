package query

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/zlog/zlog/schema"
)

// Keys added, taken out (leaving moved slots that later probes must pass)
// and added again across growths keep their own counts.
func TestCountTableCounts(t *testing.T) {
	t.Run("heap", func(t *testing.T) { testCountTableCounts(t, &countTable{}) })
	t.Run("arena", func(t *testing.T) {
		a := &slotArena{}
		defer a.free()
		testCountTableCounts(t, &countTable{arena: a})
		if a.used == 0 {
			t.Error("the table took no slots from its arena")
		}
	})
}

func testCountTableCounts(t *testing.T, c *countTable) {
	want := map[string]int64{}
	key := func(i int) shortKey {
		k, _ := makeShortKey(fmt.Appendf(nil, "k%d\x00", i))
		return k
	}
	for round := range 3 {
		for i := range 5000 {
			k := key(i % (1000 + round*1000))
			c.add(&k, k.hash(), int64(i%3+1))
			want[string(k.b[:k.n])] += int64(i%3 + 1)
		}
		for i := 0; i < 3000; i += 7 { // take some out
			k := key(i)
			if got := c.take(&k, k.hash()); got != want[string(k.b[:k.n])] {
				t.Fatalf("round %d: take %q = %d, want %d", round, k.b[:k.n], got, want[string(k.b[:k.n])])
			}
			delete(want, string(k.b[:k.n]))
		}
	}
	got := map[string]int64{}
	c.each(func(k *shortKey, n int64) { got[string(k.b[:k.n])] = n })
	if !maps.Equal(got, want) || c.n != len(want) {
		t.Errorf("table holds %d keys (n=%d), want %d; equal %v", len(got), c.n, len(want), maps.Equal(got, want))
	}
}

// An arena hands out zeroed, aligned, disjoint slices until its
// reservation is spent, then nil (the caller's cue to use the heap).
func TestSlotArenaHandsOutDisjointZeroedSlices(t *testing.T) {
	a := &slotArena{size: 1 << 20}
	defer a.free()
	var got [][]countSlot
	for {
		s := arenaSlice[countSlot](a, 1000) // 32,000 bytes each
		if s == nil {
			break
		}
		for i := range s {
			if s[i] != (countSlot{}) {
				t.Fatalf("slice %d slot %d not zero", len(got), i)
			}
			s[i].n = int64(len(got) + 1)
		}
		got = append(got, s)
	}
	if len(got) != (1<<20)/32000 {
		t.Fatalf("%d slices of 32,000 bytes from 1 MiB, want %d", len(got), (1<<20)/32000)
	}
	for j, s := range got {
		for i := range s {
			if s[i].n != int64(j+1) {
				t.Fatalf("slice %d slot %d holds %d: slices overlap", j, i, s[i].n)
			}
		}
	}
	if arenaSlice[countSlot](nil, 10) != nil {
		t.Error("a nil arena handed out slots")
	}
}

// A value reached as a plain string, as a number or as an escaped string
// of the same text is one group, however its counts were split between
// the counted strings and the groups, across merged workers; the top few
// come out most frequent first, ties by their text.
func TestTallyMergesTwinsOfStrings(t *testing.T) {
	want := map[string]int64{}
	workers := []*tally{{by: []string{"user"}, top: 5, hits: true}, {by: []string{"user"}, top: 5, hits: true}}
	for i := range 20000 {
		var fields, text string
		switch n := (i * i) % 97; {
		case i%5 == 0:
			fields, text = fmt.Sprintf(`{"user":%d}`, n%10), fmt.Sprint(n%10)
		case i%7 == 0: // \u0075 is u
			fields, text = fmt.Sprintf(`{"user":"\u0075%d"}`, n), fmt.Sprintf("u%d", n)
		case i%3 == 0:
			fields, text = fmt.Sprintf(`{"user":"%d"}`, n%10), fmt.Sprint(n%10)
		default:
			fields, text = fmt.Sprintf(`{"user":"u%d"}`, n), fmt.Sprintf("u%d", n)
		}
		if !workers[i%2].addRaw(fields) {
			t.Fatalf("addRaw(%s) refused", fields)
		}
		want[text]++
	}
	workers[0].merge(workers[1])
	recs, _ := workers[0].records()
	texts := slices.Collect(maps.Keys(want))
	slices.SortFunc(texts, func(a, b string) int { return cmp.Or(cmp.Compare(want[b], want[a]), cmp.Compare(a, b)) })
	var got, expected []string
	for i, r := range recs {
		got = append(got, fmt.Sprintf("%s=%d", schema.FormatValue(r["user"]), r["hits"]))
		expected = append(expected, fmt.Sprintf("%s=%d", texts[i], want[texts[i]]))
	}
	if len(recs) != 5 || !slices.Equal(got, expected) {
		t.Errorf("top 5: got %v, want %v", got, expected)
	}
}

// A string's key made in registers is the key copy makes: its length
// with the NUL, its bytes, zeros after.
func TestStringKeyWordsMatchTheCopiedKey(t *testing.T) {
	const text = "abcdefghijklmnopqrstuvwxyz0123456789"
	for n := 0; n < len(shortKey{}.b); n++ {
		for start := 0; start+n <= len(text); start += 7 {
			s := text[start : start+n]
			k := shortKey{n: uint8(n + 1)}
			copy(k.b[:], s)
			w0, w1, w2 := stringKeyWords(s)
			var got shortKey
			*got.words() = [3]uint64{w0, w1, w2}
			if got != k || hashWords(w0, w1, w2) != k.hash() {
				t.Fatalf("key of %q: %v, want %v", s, got, k)
			}
		}
	}
}
