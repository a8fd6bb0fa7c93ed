package proxy

import (
	"time"

	"github.com/zlog/zlog/schema"
)

// verdict is what the stream table decides about one event.
type verdict int

const (
	accept      verdict = iota
	duplicate           // seq at or below what was already accepted: a resend
	outOfOrder          // an event the publisher still holds comes before it: it must be resent first
	resync              // wire version 1 only: first event of an unknown stream, accepted as its start
	unsequenced         // seq 0: best effort, always accepted
)

var verdictLabels = map[verdict]string{accept: "accepted", duplicate: "duplicate", outOfOrder: "out_of_order", resync: "resync", unsequenced: "unsequenced"}

// streamTable is everything the collector knows about each stream
// (publisher + topic): how far it has accepted it (a go-back-N receiver),
// how far index commits have made it durable (what acks have said), the
// last event it rejected, and when it was last seen. The proxy's loop owns
// it; nothing else reads or writes a stream's sequence state.
//
// A stream's start is known, never guessed. Each event says which earlier
// event of the stream its publisher still holds (Prev: 0 when none), so an
// event is accepted when Prev <= accepted < Seq: nothing the publisher could
// still send is missing before it. After a collector restart, what the dead
// collector forwarded but never committed is below the publisher's first
// held event, so the stream resumes exactly there; and a stream whose
// acknowledged events the collector lost (its data deleted, retention) is
// accepted from the first event its publisher holds.
type streamTable struct {
	streams map[schema.Stream]*streamState
	now     time.Time // coarse clock, set per batch by the proxy
}

type streamState struct {
	accepted uint64 // highest seq accepted (stored or rejected)
	durable  uint64 // highest seq an index commit made durable
	rejected uint64 // last seq rejected, and why: a resend of it is told again
	reason   string
	lastSeen time.Time
	lastNack time.Time
}

// nackEvery bounds how often one stream is told to go back: a publisher
// sending fast puts many events behind the one that is missing.
const nackEvery = 250 * time.Millisecond

func newStreamTable(durable map[schema.Stream]uint64) *streamTable {
	t := &streamTable{streams: make(map[schema.Stream]*streamState, len(durable)), now: time.Now()}
	for k, v := range durable {
		t.streams[k] = &streamState{accepted: v, durable: v, lastSeen: t.now}
	}
	return t
}

func (t *streamTable) len() int { return len(t.streams) }

// admit decides whether the event h heads may be taken now. On accept it
// also returns how many sequence numbers it skips: events its publisher no
// longer holds (dropped and counted there, or acknowledged by a collector
// that then lost them).
func (t *streamTable) admit(h schema.Header) (v verdict, skipped uint64) {
	if h.Seq == 0 {
		return unsequenced, 0
	}
	k := schema.Stream{Publisher: h.Publisher, Topic: h.Topic}
	st := t.streams[k]
	var hwm uint64
	if st != nil {
		hwm = st.accepted
		st.lastSeen = t.now
	}
	switch {
	case h.Seq <= hwm:
		return duplicate, 0
	case h.Prev == schema.PrevUnknown && hwm == 0:
		if st == nil {
			st = &streamState{lastSeen: t.now}
			t.streams[k] = st
		}
		st.accepted = h.Seq
		return resync, 0
	case h.Prev == schema.PrevUnknown && h.Seq != hwm+1, h.Prev != schema.PrevUnknown && h.Prev > hwm:
		return outOfOrder, 0
	}
	if st == nil {
		st = &streamState{lastSeen: t.now}
		t.streams[k] = st
	}
	skipped = h.Seq - 1 - hwm
	st.accepted = h.Seq
	return accept, skipped
}

// rejected records that the event at seq, just admitted, will never be
// stored, and why.
func (t *streamTable) rejected(k schema.Stream, seq uint64, reason string) {
	if st := t.streams[k]; st != nil {
		st.rejected, st.reason = seq, reason
	}
}

// rejection is the reason seq of k was rejected, if it was the last one.
func (t *streamTable) rejection(k schema.Stream, seq uint64) (string, bool) {
	st := t.streams[k]
	if st == nil || st.rejected != seq || seq == 0 {
		return "", false
	}
	return st.reason, true
}

// committed raises the durable marks after an index commit.
func (t *streamTable) committed(hwms map[schema.Stream]uint64) {
	for k, hwm := range hwms {
		st := t.streams[k]
		if st == nil { // forgotten meanwhile; the commit brings it back
			st = &streamState{accepted: hwm, lastSeen: t.now}
			t.streams[k] = st
		}
		st.durable = max(st.durable, hwm)
	}
}

// durable is what a resend of stored events is answered with: a publisher
// whose acks were lost (a collector restart) would otherwise resend them
// forever.
func (t *streamTable) durable(k schema.Stream) (uint64, bool) {
	st := t.streams[k]
	if st == nil || st.durable == 0 {
		return 0, false
	}
	return st.durable, true
}

// nackDue reports whether k should be told to go back now, and if so
// returns how far the collector has it.
func (t *streamTable) nackDue(k schema.Stream) (uint64, bool) {
	st := t.streams[k]
	var hwm uint64
	if st != nil {
		if t.now.Sub(st.lastNack) < nackEvery {
			return 0, false
		}
		st.lastNack, hwm = t.now, st.accepted
	} else {
		// An unknown stream: remember it only to rate-limit its nacks.
		t.streams[k] = &streamState{lastSeen: t.now, lastNack: t.now}
	}
	return hwm, true
}

// forget drops the streams not seen since before: a publisher without a
// spool takes a new id each start, so its old streams would otherwise stay
// in memory for good. The collector forgets a stream only once retention
// has removed every partition it could be in, which also removed its
// durable mark: forgetting it then is what a restart would do.
func (t *streamTable) forget(before time.Time) []schema.Stream {
	var gone []schema.Stream
	for k, st := range t.streams {
		if st.lastSeen.Before(before) {
			delete(t.streams, k)
			gone = append(gone, k)
		}
	}
	return gone
}
