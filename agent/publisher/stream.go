package publisher

import (
	"sort"
	"time"
)

// outStream is the sender's state of one stream (this publisher + a topic):
// the events it holds, oldest first, and how the collector has answered.
// Together with the store's numbering it is all the publisher knows about
// a stream's sequence.
type outStream struct {
	topic string
	held  []*held // unsettled, in seq order; sent ones first
	last  uint64  // highest seq taken from the store
	// progress is when the stream last moved: an ack advanced it, or it
	// was (re)sent into an empty buffer. Resend timeouts count from here.
	progress time.Time
	// goBacks counts resends without progress since; the wait before the
	// next one doubles with it.
	goBacks    int
	lastGoBack time.Time
}

// prevOf is the prev an event goes out with: the seq of the event before
// it that the stream still holds, 0 when it holds none. It tells the
// collector that nothing between them will ever be sent.
func (st *outStream) prevOf(h *held) uint64 {
	i := st.index(h.seq)
	if i <= 0 {
		return 0
	}
	return st.held[i-1].seq
}

func (st *outStream) index(seq uint64) int {
	// Held seqs are consecutive unless events were dropped or rejected:
	// try where seq would be then (a binary search over thousands of
	// pointers was 6 % of a publisher's CPU at full rate).
	if len(st.held) > 0 && seq >= st.held[0].seq {
		if g := seq - st.held[0].seq; g < uint64(len(st.held)) && st.held[g].seq == seq {
			return int(g)
		}
	}
	i := sort.Search(len(st.held), func(i int) bool { return st.held[i].seq >= seq })
	if i < len(st.held) && st.held[i].seq == seq {
		return i
	}
	return -1
}

// settle removes the events at or below hwm and returns them.
func (st *outStream) settle(hwm uint64) []*held {
	i := 0
	for i < len(st.held) && st.held[i].seq <= hwm {
		i++
	}
	out := st.held[:i:i]
	st.held = st.held[i:]
	return out
}

// drop removes one event (rejected by the collector), if held.
func (st *outStream) drop(seq uint64) *held {
	i := st.index(seq)
	if i < 0 {
		return nil
	}
	h := st.held[i]
	st.held = append(st.held[:i:i], st.held[i+1:]...)
	return h
}

// floor is the highest seq at or below which everything is settled.
func (st *outStream) floor() uint64 {
	if len(st.held) > 0 {
		return st.held[0].seq - 1
	}
	return st.last
}

// waitBeforeResend is how long the stream may go without an ack, with the
// collector alive and idle, before it is sent again: AckTimeout, doubling
// with each resend that brought no progress, up to 64 times.
func (st *outStream) waitBeforeResend(base time.Duration) time.Duration {
	return base << min(st.goBacks, 6)
}
