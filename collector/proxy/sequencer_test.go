package proxy

import (
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

func TestSequencer(t *testing.T) {
	ev := func(pub string, lvl schema.Level, seq uint64) *schema.Event {
		return &schema.Event{Service: "svc", Level: lvl, Publisher: pub, Seq: seq}
	}
	s := newSequencer(map[schema.Stream]uint64{{Publisher: "p", Topic: "svc.info"}: 10})
	steps := []struct {
		ev   *schema.Event
		want verdict
	}{
		{ev("p", schema.LevelInfo, 11), accept},
		{ev("p", schema.LevelInfo, 11), duplicate},
		{ev("p", schema.LevelInfo, 5), duplicate},
		{ev("p", schema.LevelInfo, 13), outOfOrder}, // 12 went missing
		{ev("p", schema.LevelInfo, 12), accept},     // the resend, in order
		{ev("p", schema.LevelInfo, 13), accept},
		{ev("p", schema.LevelError, 1), resync}, // another topic is another stream
		{ev("p", schema.LevelError, 2), accept},
		{ev("q", schema.LevelInfo, 500), resync}, // a stream first seen mid-way
		{ev("q", schema.LevelInfo, 501), accept},
		{ev("p", schema.LevelInfo, 0), unsequenced},
		{ev("p", schema.LevelInfo, 0), unsequenced},
	}
	for i, st := range steps {
		if got := s.admit(st.ev); got != st.want {
			t.Fatalf("step %d (%s seq %d): got %v, want %v", i, st.ev.Topic(), st.ev.Seq, got, st.want)
		}
	}
}

// Streams idle since before the cut are forgotten; active ones stay.
func TestSequencerForget(t *testing.T) {
	old := schema.Stream{Publisher: "gone", Topic: "svc.info"}
	s := newSequencer(map[schema.Stream]uint64{old: 10})
	s.now = s.now.Add(time.Hour)
	if v := s.admit(&schema.Event{Service: "svc", Level: schema.LevelInfo, Publisher: "live", Seq: 1}); v != resync {
		t.Fatalf("got %v", v)
	}
	gone := s.forget(s.now.Add(-time.Minute))
	if len(gone) != 1 || gone[0] != old || len(s.next) != 1 {
		t.Fatalf("forgot %v, left %d streams", gone, len(s.next))
	}
	// A forgotten stream that comes back starts afresh, as after a restart.
	if v := s.admit(&schema.Event{Service: "svc", Level: schema.LevelInfo, Publisher: "gone", Seq: 11}); v != resync {
		t.Errorf("a forgotten stream's return: %v, want resync", v)
	}
}
