package block

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// runRows are rows whose words repeat across blocks at every frequency:
// one-off ids, words in one row of each block (frequent only summed over
// a run), words in some rows, words in every row, fields and non-ASCII.
func runRows(n int, rng *rand.Rand) []Row {
	rows := make([]Row, n)
	for i := range rows {
		msg := fmt.Sprintf("request id%d took %d ms", i, rng.IntN(50))
		if rng.IntN(40) == 0 {
			msg += " Überlauf rare" + fmt.Sprint(rng.IntN(3))
		}
		if i%97 == 0 {
			msg += " sparse"
		}
		rows[i] = Row{Time: int64(i), Series: int64(1 + i%3), Seq: uint64(i + 1), Message: msg,
			Fields: fmt.Sprintf(`{"user":"u%d","path":"/api/%d"}`, rng.IntN(20), i%5)}
	}
	return rows
}

// The block that seals a run gets the filter of all its rows, byte for
// byte the filter of the rows tokenized at once, however the run was cut
// into blocks.
func TestSealingFilterIsTheRunsRowsFilter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int // the run's blocks, then the rows that seal it
	}{
		{"one block, then fresh rows", []int{300, 100}},
		{"many small blocks", []int{7, 1, 13, 40, 2, 97, 5}},
		{"blocks of one row", []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"bench shape: commits of 640", []int{640, 640, 640, 640, 640, 640, 700}},
		{"nothing held yet", []int{500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.sizes))))
			total := 0
			for _, n := range tc.sizes {
				total += n
			}
			all := runRows(total, rng)
			c := codec(t)
			var run RunFilter
			at := 0
			for _, n := range tc.sizes[:len(tc.sizes)-1] {
				part := all[at : at+n]
				b, err := c.EncodeRun(part, &run)
				if err != nil {
					t.Fatal(err)
				}
				if want := NewFilter(part); !reflect.DeepEqual(b.Filter, want) {
					t.Fatalf("block of rows %d-%d: its own filter differs from its rows'", at, at+n)
				}
				at += n
			}
			sealed, err := c.EncodeSealing(all, all[at:], &run)
			if err != nil {
				t.Fatal(err)
			}
			want := NewFilter(all)
			if !reflect.DeepEqual(sealed.Filter.Counts, want.Counts) {
				t.Fatalf("counts:\n got %v\nwant %v", sealed.Filter.Counts, want.Counts)
			}
			if !reflect.DeepEqual(sealed.Filter.Bloom, want.Bloom) {
				t.Fatalf("bloom filters differ (%d and %d lines)", sealed.Filter.Bloom.Lines(), want.Bloom.Lines())
			}
			if len(want.Counts) == 0 {
				t.Fatal("no counted words: the test data counts nothing")
			}
			plain, err := c.Encode(all)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sealed.Data, plain.Data) || !reflect.DeepEqual(sealed.Messages, plain.Messages) {
				t.Fatal("the sealing block's data differs from Encode's")
			}
		})
	}
}

// A run that does not hold the rows it is said to (a caller's mistake)
// costs a tokenization, not a wrong filter.
func TestSealingWithTheWrongRunEncodesAfresh(t *testing.T) {
	rows := runRows(200, rand.New(rand.NewPCG(2, 2)))
	c := codec(t)
	var run RunFilter
	if _, err := c.EncodeRun(rows[:50], &run); err != nil {
		t.Fatal(err)
	}
	b, err := c.EncodeSealing(rows, rows[100:], &run) // rows 50-99 were never in the run
	if err != nil {
		t.Fatal(err)
	}
	if want := NewFilter(rows); !reflect.DeepEqual(b.Filter, want) {
		t.Fatal("filter of a run that misses rows: not the rows' filter")
	}
}
