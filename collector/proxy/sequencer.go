package proxy

import "github.com/zlog/zlog/schema"

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
	next map[schema.Stream]uint64 // highest accepted per stream
}

func newSequencer(durable map[schema.Stream]uint64) *sequencer {
	s := &sequencer{next: make(map[schema.Stream]uint64, len(durable))}
	for k, v := range durable {
		s.next[k] = v
	}
	return s
}

func (s *sequencer) admit(ev *schema.Event) verdict {
	if ev.Seq == 0 {
		return unsequenced
	}
	k := schema.Stream{Publisher: ev.Publisher, Topic: ev.Topic()}
	hwm, known := s.next[k]
	switch {
	case !known:
		// A stream the index has never seen (or whose partitions retention
		// removed): whatever it starts with is its beginning.
		s.next[k] = ev.Seq
		return resync
	case ev.Seq == hwm+1:
		s.next[k] = ev.Seq
		return accept
	case ev.Seq <= hwm:
		return duplicate
	default:
		return outOfOrder
	}
}
