package block

import (
	"testing"
	"time"

	"github.com/zlog/zlog/tests/workload"
)

// BenchmarkEncodeWorkload encodes the bench's 1M workload events as the
// next format would store them: per service, in blocks of up to 1,024 rows.
// (Per series, service × host × level, this workload has 4,000 series of
// about 250 rows each, and the blocks compress worse: 0.29 × raw against
// 0.24 ×, measured.) It reports bytes per event on disk (data and
// filter) against the events' plain log lines, for the index README.
func BenchmarkEncodeWorkload(b *testing.B) {
	const perBlock = 1024
	bySeries, raw := workloadRows(events)
	c, err := NewCodec()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var data, filter int
	for n := 0; n < b.N; n++ {
		data, filter = 0, 0
		for _, rows := range bySeries {
			for i := 0; i < len(rows); i += perBlock {
				blk, err := c.Encode(rows[i:min(i+perBlock, len(rows))])
				if err != nil {
					b.Fatal(err)
				}
				data += len(blk.Data) + len(blk.Messages)
				filter += len(MarshalCounts(blk.Filter.Counts)) + len(blk.Filter.Bloom)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*events), "µs/event")
	b.ReportMetric(float64(data)/events, "data-B/event")
	b.ReportMetric(float64(filter)/events, "filter-B/event")
	b.ReportMetric(float64(data+filter)/float64(raw), "x-raw")
	b.ReportMetric(float64(len(bySeries)), "series")
}

const events = 1_000_000

// workloadRows are the bench's events grouped per service, with the size of
// their plain log lines.
func workloadRows(n int) (map[string][]Row, int) {
	gen := workload.New(workload.Options{Count: n, Seed: 1, Start: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)})
	bySeries := map[string][]Row{}
	raw := 0
	var line []byte
	for !gen.Done() {
		ev, i := gen.Next()
		bySeries[ev.Service] = append(bySeries[ev.Service], Row{Time: ev.Time.UnixNano(), Seq: uint64(i + 1), Message: ev.Message})
		line = workload.PlainLine(line[:0], &ev)
		raw += len(line)
	}
	return bySeries, raw
}

// BenchmarkDecodeWorkload decodes those blocks again: what a search pays
// for each block its filters cannot rule out.
func BenchmarkDecodeWorkload(b *testing.B) {
	bySeries, _ := workloadRows(events)
	c, err := NewCodec()
	if err != nil {
		b.Fatal(err)
	}
	var blocks []Block
	for _, rows := range bySeries {
		for i := 0; i < len(rows); i += 1024 {
			blk, err := c.Encode(rows[i:min(i+1024, len(rows))])
			if err != nil {
				b.Fatal(err)
			}
			blocks = append(blocks, blk)
		}
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for _, blk := range blocks {
			if _, err := c.Decode(blk.Data, blk.Messages); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*events), "µs/event")
}
