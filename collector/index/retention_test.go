package index

import (
	"slices"
	"testing"
	"time"
)

func TestExpired(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	day := func(s string, mb int64) sizedPartition {
		d, _ := time.Parse(time.DateOnly, s)
		return sizedPartition{Partition: Partition{Day: d, Path: s}, bytes: mb << 20}
	}
	cases := []struct {
		name     string
		parts    []sizedPartition
		retain   time.Duration
		maxBytes int64
		want     []string
	}{
		{"nothing configured", []sizedPartition{day("2026-11-01", 5), day("2026-11-30", 5)}, 0, 0, nil},
		{"age", []sizedPartition{day("2026-11-20", 1), day("2026-11-22", 1), day("2026-11-23", 1), day("2026-11-30", 1)}, 7 * 24 * time.Hour, 0,
			[]string{"2026-11-20", "2026-11-22"}},
		{"size removes oldest first", []sizedPartition{day("2026-11-27", 4), day("2026-11-28", 4), day("2026-11-29", 4), day("2026-11-30", 4)}, 0, 9 << 20,
			[]string{"2026-11-27", "2026-11-28"}},
		{"size never takes today", []sizedPartition{day("2026-11-29", 1), day("2026-11-30", 50)}, 0, 10 << 20,
			[]string{"2026-11-29"}},
		// Fault 3: future partitions are not "newer data" that protects
		// itself at today's expense.
		{"size spares today for a future day", []sizedPartition{day("2026-11-30", 50), day("2200-01-01", 1), day("2262-04-11", 1)}, 0, 1 << 20,
			nil},
		{"age then size", []sizedPartition{day("2026-11-01", 1), day("2026-11-28", 8), day("2026-11-29", 8), day("2026-11-30", 8)}, 7 * 24 * time.Hour, 20 << 20,
			[]string{"2026-11-01", "2026-11-28"}},
	}
	for _, c := range cases {
		var got []string
		for _, r := range expired(c.parts, now, c.retain, c.maxBytes) {
			got = append(got, r.Path)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: removed %v, want %v", c.name, got, c.want)
		}
	}
}
