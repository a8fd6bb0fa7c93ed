package publisher

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/zlog/zlog/schema/zmqmsg"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/schema"
)

// sender is the state of the goroutine that owns the socket. It sends each
// event once, then again only when it may have been lost: after a
// reconnect, when the collector asks (a nack), or, as a last resort, when a
// stream's ack has not advanced for a while although the collector says in
// its heartbeats that it is alive and idle. A collector that is merely slow
// or stalled gets no resends, so it never sees its load multiplied.
type sender struct {
	p       *Publisher
	sock    *zmq.Socket
	out     *zmqmsg.Sender // sends on sock, an event per cgo call
	streams map[string]*outStream
	fresh   []*held // taken from the store, not sent yet
	resend  []*held // to send again, before anything fresh
	holding int     // unsettled events across streams

	subs       int // live subscriptions (one per collector connection)
	everSubbed bool
	heartbeat  time.Time // last heartbeat from the collector
	backlog    uint64    // what it said was waiting to be stored
	nextCheck  time.Time
	backoff    time.Duration // EAGAIN back-off
}

// liveness: a heartbeat older than this says nothing about the collector.
const heartbeatFresh = 3 * time.Second

// nackGuard is the quiet time after a go-back during which further nacks
// for the stream are taken as echoes of what was sent before it.
const nackGuard = 500 * time.Millisecond

func newSender(p *Publisher, sock *zmq.Socket) *sender {
	return &sender{p: p, sock: sock, out: zmqmsg.NewSender(sock), streams: make(map[string]*outStream), backoff: 50 * time.Microsecond}
}

func (s *sender) subscribed() bool { return s.subs > 0 }

// run owns the socket until the publisher closes.
func (p *Publisher) run(zctx *zmq.Context, sock *zmq.Socket, recovered []*held) {
	defer close(p.done)
	s := newSender(p, sock)
	for _, h := range recovered { // a killed predecessor's events go first
		s.adopt(h)
	}
	poller := zmq.NewPoller()
	poller.Add(sock, zmq.POLLIN)
	idle := time.NewTicker(20 * time.Millisecond)
	defer idle.Stop()
	closing := p.closing
	sinceCheck := 0
	for {
		if !s.subscribed() || sinceCheck >= 64 || len(s.fresh) == 0 {
			s.readControl()
			s.checkTimeouts()
			p.watch.Read()
			p.watch.Check()
			sinceCheck = 0
		}
		if p.aborted() {
			s.finish(zctx)
			return
		}
		if s.subscribed() && s.sendNext() {
			sinceCheck++
			continue
		}
		// While no collector listens, events wait in the store, whose
		// bound (QueueSize, or the spool's) is what Publish feels.
		if s.subscribed() && s.takeFromStore() {
			continue
		}
		if closing == nil && s.holding == 0 && p.store.waiting() == 0 {
			s.finish(zctx)
			return
		}
		if !s.subscribed() && s.holding > 0 {
			poller.Poll(20 * time.Millisecond)
			continue
		}
		select { // nothing to send: wait for an event, an ack, or a tick
		case <-p.storeWake():
		case <-closing:
			closing = nil
		case <-p.abort:
		case <-idle.C:
			poller.Poll(time.Millisecond)
		}
	}
}

// sendNext sends one resend or fresh event; false when there is none or
// the socket pushed back.
func (s *sender) sendNext() bool {
	for len(s.resend) > 0 {
		h := s.resend[0]
		if h.done {
			s.resend = s.resend[1:]
			continue
		}
		if !s.send(h) {
			return false
		}
		s.resend, h.queued = s.resend[1:], false
		s.p.resent.Add(1)
		return true
	}
	for len(s.fresh) > 0 {
		h := s.fresh[0]
		if h.done {
			s.fresh = s.fresh[1:]
			continue
		}
		if !s.send(h) {
			return false
		}
		s.fresh, h.sent = s.fresh[1:], true
		if h.resend {
			s.p.resent.Add(1)
		} else {
			s.p.sent.Add(1)
		}
		return true
	}
	return false
}

// takeFromStore adopts what Publish stored, within MaxUnacked for a
// memory store (a spool bounds itself).
func (s *sender) takeFromStore() bool {
	limit := 0
	if !s.p.Spooled() {
		limit = s.p.opts.MaxUnacked - s.holding
		if limit <= 0 {
			return false
		}
	}
	taken := s.p.store.take(limit)
	for _, h := range taken {
		s.adopt(h)
	}
	return len(taken) > 0
}

// adopt keeps an event from the store until it is settled.
func (s *sender) adopt(h *held) {
	st := s.streams[h.topic]
	if st == nil {
		st = &outStream{topic: h.topic}
		s.streams[h.topic] = st
	}
	st.held = append(st.held, h)
	st.last = max(st.last, h.seq)
	s.fresh = append(s.fresh, h)
	s.holding++
	s.p.unacked.Store(int64(s.holding))
}

// send tries once, with the event's prev as of now; false means the socket
// pushed back and the caller retries.
func (s *sender) send(h *held) bool {
	st := s.streams[h.topic]
	schema.SetPrev(h.frames, st.prevOf(h))
	if err := s.out.Send(h.frames); err != nil {
		if zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) { // high-water mark reached
			s.p.metrics.backpressure.Inc()
			// libzmq reports a NODROP XPUB as always writable, so polling
			// for POLLOUT would spin; back off instead.
			time.Sleep(s.backoff)
			s.backoff = min(s.backoff*2, 10*time.Millisecond)
			return false
		}
		// The event stays held; a go-back will carry it.
		s.p.logger.Warn("send failed; will resend", "err", err)
	}
	s.backoff = 50 * time.Microsecond
	if st.held[0] == h { // the oldest unsettled event leaves now
		st.progress = time.Now()
	}
	return true
}

// readControl reads what the collector sends upstream: subscription changes
// and control frames.
func (s *sender) readControl() {
	for {
		msg, err := s.sock.RecvBytes(zmq.DONTWAIT)
		if err != nil {
			return
		}
		switch {
		case len(msg) > 0 && msg[0] == 1:
			s.subs++
			if s.everSubbed {
				// A new connection: what was in flight on the old one may be lost.
				s.goBackAll("reconnected")
			}
			s.everSubbed = true
		case len(msg) > 0 && msg[0] == 0:
			s.subs = max(s.subs-1, 0)
		case schema.IsControl(msg):
			c, err := schema.DecodeControl(msg)
			if err != nil {
				s.p.logger.Warn("malformed control frame ignored", "err", err)
				continue
			}
			s.control(c)
		}
	}
}

func (s *sender) control(c any) {
	switch c := c.(type) {
	case schema.Ack:
		if c.Publisher == s.p.opts.Publisher {
			s.acked(c)
		}
	case schema.Reject:
		if c.Publisher == s.p.opts.Publisher {
			s.rejected(c)
		}
	case schema.Nack:
		if st := s.streams[c.Topic]; st != nil && c.Publisher == s.p.opts.Publisher {
			s.nacked(st, c.HWM)
		}
	case schema.Heartbeat:
		s.heartbeat, s.backlog = time.Now(), c.Backlog
	}
}

// acked settles what the collector stored.
func (s *sender) acked(a schema.Ack) {
	floors := make(map[string]uint64, len(a.HWM))
	for topic, hwm := range a.HWM {
		st := s.streams[topic]
		if st == nil {
			continue
		}
		done := st.settle(hwm)
		for _, h := range done {
			s.settle(h)
		}
		if len(done) > 0 {
			st.progress, st.goBacks = time.Now(), 0
			s.p.acked.Add(uint64(len(done)))
			s.p.metrics.acked.Add(float64(len(done)))
		}
		floors[topic] = st.floor()
	}
	s.p.store.settledBelow(floors)
}

// rejected drops an event the collector will never store; it is counted
// and its reason logged, and the stream moves on.
func (s *sender) rejected(r schema.Reject) {
	st := s.streams[r.Topic]
	if st == nil {
		return
	}
	h := st.drop(r.Seq)
	if h == nil {
		return // a repeat of a rejection already taken
	}
	s.settle(h)
	s.p.refused.Add(1)
	s.p.metrics.refused.Inc()
	s.p.refusals.Note(r.Topic, fmt.Errorf("event seq %d of %s rejected by the collector: %s", r.Seq, r.Topic, r.Reason))
	s.p.store.settledBelow(map[string]uint64{r.Topic: st.floor()})
}

func (s *sender) settle(h *held) {
	h.done = true
	if h.settled != nil {
		h.settled()
	}
	s.holding--
	s.p.unacked.Store(int64(s.holding))
}

// nacked resends a stream from what the collector has, unless a resend of
// it is under way or has just been made (nacks then echo what was sent
// before it).
func (s *sender) nacked(st *outStream, hwm uint64) {
	if time.Since(st.lastGoBack) < nackGuard<<min(st.goBacks, 6) {
		return
	}
	for _, h := range st.held {
		if h.queued {
			return
		}
	}
	s.goBack(st, hwm, "the collector is missing an earlier event")
}

// checkTimeouts resends streams whose ack has not advanced for their wait
// although the collector, by its heartbeats, is alive and has nothing
// waiting to be stored: their events cannot be on their way.
func (s *sender) checkTimeouts() {
	now := time.Now()
	if now.Before(s.nextCheck) {
		return
	}
	s.nextCheck = now.Add(100 * time.Millisecond)
	if s.backlog > 0 || now.Sub(s.heartbeat) > heartbeatFresh {
		return
	}
	for _, st := range s.streams {
		if len(st.held) == 0 || !st.held[0].sent || st.held[0].queued || !s.heartbeat.After(st.progress) {
			continue
		}
		if now.Sub(st.progress) >= st.waitBeforeResend(s.p.opts.AckTimeout) {
			s.goBack(st, 0, "no acknowledgement while the collector is idle")
		}
	}
}

// goBack queues a stream's sent events above from to be sent again, in order.
func (s *sender) goBack(st *outStream, from uint64, why string) {
	n := 0
	for _, h := range st.held {
		if h.sent && !h.queued && h.seq > from {
			h.queued = true
			s.resend = append(s.resend, h)
			n++
		}
	}
	st.goBacks++
	st.lastGoBack, st.progress = time.Now(), time.Now()
	if n > 0 {
		s.p.metrics.goBacks.Inc()
		s.p.logger.Info("resending unacknowledged events", "reason", why, "topic", st.topic, "events", n)
	}
}

// goBackAll queues every sent event again after a reconnect, rebuilding the
// resend queue so each stream's events stay in order.
func (s *sender) goBackAll(why string) {
	for _, h := range s.resend {
		h.queued = false
	}
	s.resend = s.resend[:0]
	n := 0
	for _, st := range s.streams {
		for _, h := range st.held {
			if h.sent {
				h.queued = true
				s.resend = append(s.resend, h)
				n++
			}
		}
		st.lastGoBack, st.progress = time.Now(), time.Now()
	}
	if n > 0 {
		s.p.metrics.goBacks.Inc()
		s.p.logger.Info("resending unacknowledged events", "reason", why, "events", n)
	}
}

// finish counts what was never acknowledged, lets the socket flush, and
// releases ZeroMQ.
func (s *sender) finish(zctx *zmq.Context) {
	p := s.p
	lost := uint64(s.holding + p.store.waiting())
	switch {
	case lost > 0 && p.Spooled():
		// Not lost: the next start with this spool resends them.
		p.closeErr = fmt.Errorf("close: %d events not acknowledged yet; kept in the spool for the next start", lost)
	case lost > 0:
		p.dropped.Add(lost)
		p.metrics.droppedClose.Add(float64(lost))
		p.closeErr = fmt.Errorf("close: %d events not acknowledged by the collector", lost)
	}
	if err := p.store.close(); err != nil && p.closeErr == nil {
		p.closeErr = fmt.Errorf("close spool: %w", err)
	}
	if d, r := p.dropped.Load(), p.refused.Load(); d > 0 || r > 0 {
		p.closeErr = errors.Join(p.closeErr, fmt.Errorf("%w: %d refused or abandoned, %d rejected by the collector", ErrDropped, d, r))
	}
	p.refusals.Flush()
	p.watch.Close()
	linger := time.Duration(p.linger.Load())
	if p.aborted() {
		linger = 0
	}
	s.sock.SetLinger(linger)
	s.sock.Close()
	zctx.Term() // blocks until queued messages are written or linger ends
}
