package publisher

import "testing"

func TestOutStreamIndexAndPrevWithGaps(t *testing.T) {
	st := &outStream{}
	for _, seq := range []uint64{3, 4, 5, 9, 10, 12} {
		st.held = append(st.held, &held{seq: seq})
	}
	for _, c := range []struct {
		seq         uint64
		index       int
		prev        uint64
		prevIsKnown bool
	}{
		{seq: 3, index: 0, prev: 0, prevIsKnown: true},
		{seq: 5, index: 2, prev: 4, prevIsKnown: true},
		{seq: 9, index: 3, prev: 5, prevIsKnown: true}, // after a gap: the guess misses
		{seq: 12, index: 5, prev: 10, prevIsKnown: true},
		{seq: 6, index: -1},  // the guess lands on 10
		{seq: 8, index: -1},  // the guess is past the end
		{seq: 2, index: -1},  // below the first
		{seq: 13, index: -1}, // above the last
	} {
		if got := st.index(c.seq); got != c.index {
			t.Errorf("index(%d) = %d, want %d", c.seq, got, c.index)
		}
		if c.prevIsKnown {
			if got := st.prevOf(&held{seq: c.seq}); got != c.prev {
				t.Errorf("prevOf(%d) = %d, want %d", c.seq, got, c.prev)
			}
		}
	}
	if (&outStream{}).index(1) != -1 {
		t.Error("an empty stream found seq 1")
	}
}
