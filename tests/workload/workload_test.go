package workload

import (
	"strings"
	"testing"
	"time"
)

func TestDeterministicAndShaped(t *testing.T) {
	o := Options{Seed: 7, Count: 200000, Start: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)}
	a, b := New(o), New(o)
	levels := map[string]int{}
	services, hosts := map[string]bool{}, map[string]bool{}
	needles, total, size := 0, 0, 0
	var last time.Time
	for !a.Done() {
		ea, ia := a.Next()
		eb, _ := b.Next()
		if ea.Message != eb.Message || !ea.Time.Equal(eb.Time) || ea.Host != eb.Host {
			t.Fatalf("event %d differs between runs with one seed", ia)
		}
		if ea.Time.Before(last) {
			t.Fatalf("event %d goes back in time", ia)
		}
		last = ea.Time
		levels[ea.Level.String()]++
		services[ea.Service], hosts[ea.Host] = true, true
		if strings.Contains(ea.Message, "needle") {
			needles++
		}
		total++
		size += len(ea.Message)
	}
	if total != 200000 || needles != 2 || len(services) != 20 || len(hosts) != 50 {
		t.Fatalf("total %d needles %d services %d hosts %d", total, needles, len(services), len(hosts))
	}
	for lvl, want := range map[string]float64{"info": 0.70, "debug": 0.10, "warn": 0.15, "error": 0.05} {
		if got := float64(levels[lvl]) / float64(total); got < want-0.01 || got > want+0.01 {
			t.Errorf("%s: %.3f of events, want %.2f", lvl, got, want)
		}
	}
	if avg := size / total; avg < 80 || avg > 110 {
		t.Errorf("average message %d bytes, want about 95", avg)
	}
	// Parts of one stream, sent by several publishers, are the same events.
	p0, p1 := New(Options{Seed: 7, Count: 200000, Start: o.Start, Parts: 2}), New(Options{Seed: 7, Count: 200000, Start: o.Start, Parts: 2, Partition: 1})
	e0, i0 := p0.Next()
	e1, i1 := p1.Next()
	if i0 != 0 || i1 != 1 || e0.Time.Equal(e1.Time) {
		t.Fatalf("parts: %d %d", i0, i1)
	}
	ev, _ := New(o).Next()
	for name, line := range map[string]string{"rfc5424": string(RFC5424(nil, &ev)), "json": string(JSONLine(nil, &ev)), "plain": string(PlainLine(nil, &ev))} {
		if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 || !strings.Contains(line, ev.Message) {
			t.Errorf("%s line %q", name, line)
		}
	}
}
