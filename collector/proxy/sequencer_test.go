package proxy

import (
	"testing"

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
