package publisher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zlog/zlog/agent/spool"
	"github.com/zlog/zlog/schema"
)

// held is one event the publisher keeps from Publish until the collector
// settles it (acknowledges it as stored, or rejects it).
type held struct {
	topic   string
	seq     uint64
	frames  [][]byte
	settled func() // Mark.Acked; runs on the sender's goroutine
	done    bool   // settled
	sent    bool   // sent at least once
	resend  bool   // sent by a previous run (recovered from the spool)
	queued  bool   // waiting in the resend queue
}

// store numbers events and keeps them until the sender has them settled.
// It is the one place a stream's numbering lives: in memory, or in the
// spool, which survives restarts. put hands each event to the sender in
// order through take.
type store interface {
	// put numbers ev in its stream, keeps it, and queues it for the sender.
	// When full it waits until ctx ends, or fails at once with drop.
	put(ctx context.Context, ev *schema.Event, m Mark, drop bool) error
	// putBatch puts events in order, returning how many it put before the
	// error that stopped it.
	putBatch(ctx context.Context, evs []*schema.Event, marks []Mark, drop bool) (int, error)
	// take returns the events put since the last take, oldest first; limit
	// bounds how many (0: all).
	take(limit int) []*held
	// waiting counts events put and not yet taken.
	waiting() int
	// settledBelow tells the store that, per topic, every event at or below
	// the number is settled and need not be kept.
	settledBelow(floor map[string]uint64)
	// lastSeq is the last number given to topic.
	lastSeq(topic string) uint64
	// wakeup is signalled when put adds an event.
	wakeup() <-chan struct{}
	close() error
}

// errFull is wrapped by put when the store has no room and may not wait.
var errFull = errors.New("full")

// handoff is the queue from put to take, shared by both stores.
type handoff struct {
	mu    sync.Mutex
	queue []*held
	// taken is what the last take returned: its caller is done with it
	// when it takes again, so an emptied queue starts over in it instead
	// of growing a new slice from nothing each time.
	taken []*held
	wake  chan struct{} // signalled when the queue grows
	room  chan struct{} // signalled when take makes room
}

func newHandoff() handoff {
	return handoff{wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func (h *handoff) push(e *held) {
	h.queue = append(h.queue, e)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// take returns up to limit events queued (all for 0), valid until the
// next take.
func (h *handoff) take(limit int) []*held {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.queue)
	if limit > 0 {
		n = min(n, limit)
	}
	out := h.queue[:n:n]
	if n == len(h.queue) {
		clear(h.taken) // let its events go
		h.queue, h.taken = h.taken[:0], h.queue[:n]
	} else {
		h.queue = h.queue[n:]
	}
	if n > 0 {
		select {
		case h.room <- struct{}{}:
		default:
		}
	}
	return out
}

func (h *handoff) wakeup() <-chan struct{} { return h.wake }

func (h *handoff) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.queue)
}

// memStore keeps events in memory only: a killed publisher loses them.
// Its queue (events not yet taken by the sender) holds at most size events.
type memStore struct {
	handoff
	size int
	last map[string]uint64
}

func newMemStore(size int) *memStore {
	return &memStore{handoff: newHandoff(), size: size, last: make(map[string]uint64)}
}

func (s *memStore) put(ctx context.Context, ev *schema.Event, m Mark, drop bool) error {
	topic := ev.Topic()
	for {
		s.mu.Lock()
		if len(s.queue) < s.size {
			seq := s.last[topic] + 1
			ev.Seq = seq
			frames, err := schema.Encode(nil, ev)
			if err != nil {
				s.mu.Unlock()
				return err
			}
			s.last[topic] = seq
			s.push(&held{topic: topic, seq: seq, frames: frames, settled: m.Acked})
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		if drop {
			return fmt.Errorf("queue %w", errFull)
		}
		select {
		case <-s.room:
		case <-ctx.Done():
			return fmt.Errorf("queue %w: %w", errFull, ctx.Err())
		}
	}
}

func (s *memStore) putBatch(ctx context.Context, evs []*schema.Event, marks []Mark, drop bool) (int, error) {
	return putEach(ctx, s, evs, marks, drop)
}

// putEach puts events one at a time.
func putEach(ctx context.Context, s store, evs []*schema.Event, marks []Mark, drop bool) (int, error) {
	for i, ev := range evs {
		if err := s.put(ctx, ev, marks[i], drop); err != nil {
			return i, err
		}
	}
	return len(evs), nil
}

func (s *memStore) settledBelow(map[string]uint64) {}

func (s *memStore) lastSeq(topic string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[topic]
}

func (s *memStore) close() error { return nil }

// spoolStore writes every event to the spool before put returns, so a
// killed publisher resends it when it starts again. A full spool, or a full
// disk under it, makes put wait (or fail with drop); nothing is dropped.
type spoolStore struct {
	handoff
	sp *spool.Spool
	// waitingFor is told once when put starts waiting for room, with why.
	waitingFor func(error)
}

func (s *spoolStore) put(ctx context.Context, ev *schema.Event, m Mark, drop bool) error {
	topic := ev.Topic()
	for wait := time.Millisecond; ; wait = min(wait*2, 100*time.Millisecond) {
		s.mu.Lock()
		rec, err := s.sp.AppendNext(spool.Record{Topic: topic, Key: m.Key, Cursor: m.Cursor}, func(seq uint64) ([][]byte, error) {
			ev.Seq = seq
			return schema.Encode(nil, ev)
		})
		if err == nil {
			s.push(&held{topic: topic, seq: rec.Seq, frames: rec.Frames, settled: m.Acked})
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		if !errors.Is(err, spool.ErrFull) && !errors.Is(err, spool.ErrNoSpace) {
			return err
		}
		if drop {
			return fmt.Errorf("%w: %w", errFull, err)
		}
		if wait == time.Millisecond && s.waitingFor != nil {
			s.waitingFor(err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w: %w", errFull, err, ctx.Err())
		case <-s.room:
		case <-time.After(wait):
		}
	}
}

// putBatch writes the events to the spool with one system call. When the
// spool has no room for all of them, they go one at a time, as put waits.
func (s *spoolStore) putBatch(ctx context.Context, evs []*schema.Event, marks []Mark, drop bool) (int, error) {
	rs := make([]spool.Record, len(evs))
	for i, ev := range evs {
		rs[i] = spool.Record{Topic: ev.Topic(), Key: marks[i].Key, Cursor: marks[i].Cursor}
	}
	s.mu.Lock()
	err := s.sp.AppendNextBatch(rs, func(i int, seq uint64) ([][]byte, error) {
		evs[i].Seq = seq
		return schema.Encode(nil, evs[i])
	})
	if err == nil {
		for i := range rs {
			s.push(&held{topic: rs[i].Topic, seq: rs[i].Seq, frames: rs[i].Frames, settled: marks[i].Acked})
		}
		s.mu.Unlock()
		return len(evs), nil
	}
	s.mu.Unlock()
	if !errors.Is(err, spool.ErrFull) && !errors.Is(err, spool.ErrNoSpace) {
		return 0, err
	}
	return putEach(ctx, s, evs, marks, drop)
}

func (s *spoolStore) settledBelow(floor map[string]uint64) { s.sp.Ack(floor) }

func (s *spoolStore) lastSeq(topic string) uint64 { return s.sp.LastSeq(topic) }

func (s *spoolStore) close() error { return s.sp.Close() }
