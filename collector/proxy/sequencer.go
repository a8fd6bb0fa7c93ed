package proxy

import (
	"time"

	"github.com/zlog/zlog/schema"
)

// verdict is what the sequencer decides about one event.
type verdict int

const (
	accept      verdict = iota
	duplicate           // seq at or below what was already accepted: a resend
	outOfOrder          // seq beyond the next expected: something before it is missing
	resync              // first event seen from this stream: accepted as its start
	unsequenced         // seq 0: best effort, always accepted
)

// sequencer is the collector's go-back-N receiver. Per stream it accepts
// only the next sequence number; a publisher that lost events in transit
// (a dropped connection, a collector restart) sees its acks stall and resends
// everything unacknowledged in order, so what is accepted is gapless and
// never repeated. It starts from the durable high-water marks in the index.
type sequencer struct {
	next map[schema.Stream]*streamState
	now  time.Time // coarse clock, set per batch by the proxy
}

type streamState struct {
	hwm      uint64 // highest accepted
	lastSeen time.Time
}

func newSequencer(durable map[schema.Stream]uint64) *sequencer {
	s := &sequencer{next: make(map[schema.Stream]*streamState, len(durable)), now: time.Now()}
	for k, v := range durable {
		s.next[k] = &streamState{hwm: v, lastSeen: s.now}
	}
	return s
}

// forget drops the streams not seen since before: a publisher without a
// spool takes a new id each start, so its old streams would otherwise stay
// in memory for good. The collector forgets a stream only once retention
// has removed every partition it could be in, which also removed its
// durable mark: forgetting it then is what a restart would do.
func (s *sequencer) forget(before time.Time) []schema.Stream {
	var gone []schema.Stream
	for k, st := range s.next {
		if st.lastSeen.Before(before) {
			delete(s.next, k)
			gone = append(gone, k)
		}
	}
	return gone
}

func (s *sequencer) admit(ev *schema.Event) verdict {
	if ev.Seq == 0 {
		return unsequenced
	}
	k := schema.Stream{Publisher: ev.Publisher, Topic: ev.Topic()}
	st, known := s.next[k]
	if !known {
		// A stream the index has never seen (or whose partitions retention
		// removed): whatever it starts with is its beginning.
		s.next[k] = &streamState{hwm: ev.Seq, lastSeen: s.now}
		return resync
	}
	st.lastSeen = s.now
	switch {
	case ev.Seq == st.hwm+1:
		st.hwm = ev.Seq
		return accept
	case ev.Seq <= st.hwm:
		return duplicate
	default:
		return outOfOrder
	}
}
