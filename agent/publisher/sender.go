package publisher

import (
	"fmt"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/schema"
)

// sent is one event kept until acknowledged.
type sentEvent struct {
	seq    uint64
	frames [][]byte
	acked  func()
}

// stream is one topic's sequence and its unacknowledged events, oldest first.
type stream struct {
	last    uint64
	unacked []sentEvent
}

// sender is the state of the goroutine that owns the socket.
type sender struct {
	p          *Publisher
	sock       *zmq.Socket
	streams    map[string]*stream
	unacked    int
	resend     [][][]byte // frames to send again, in order, before anything new
	subscribed bool
	subs       int // live subscriptions (one per collector connection)
	everSubbed bool
	progress   time.Time // last ack progress, or first send into an empty buffer
	backoff    time.Duration
}

// run owns the socket: it sends only while the collector is subscribed,
// keeps every event until acknowledged, and resends on reconnect or timeout.
func (p *Publisher) run(zctx *zmq.Context, sock *zmq.Socket) {
	defer close(p.done)
	s := &sender{p: p, sock: sock, streams: make(map[string]*stream), backoff: 50 * time.Microsecond}
	// Events a killed predecessor left unacknowledged go out first, in order.
	for _, r := range p.recovered {
		s.resend = append(s.resend, s.adopt(spooledEvent{rec: r}))
	}
	p.recovered = nil
	var spooled []spooledEvent // taken from the handoff, not yet sent
	poller := zmq.NewPoller()
	poller.Add(sock, zmq.POLLIN)
	idle := time.NewTicker(20 * time.Millisecond)
	defer idle.Stop()
	closing := p.closing
	var next [][]byte // the new event being sent, if any
	sinceCheck := 0

	for {
		if !s.subscribed || sinceCheck >= 64 || len(s.resend) > 0 || next == nil {
			s.readControl()
			sinceCheck = 0
		}
		if s.unacked > 0 && time.Since(s.progress) > p.opts.AckTimeout {
			s.goBack("ack timeout")
		}
		if p.aborted() {
			s.finish(zctx, next)
			return
		}
		// Resends first: the collector accepts a stream only in order.
		if len(s.resend) > 0 && s.subscribed {
			if s.send(s.resend[0]) {
				s.resend = s.resend[1:]
				p.resent.Add(1)
			}
			continue
		}
		if next == nil && p.spool != nil {
			// With a spool, the spool bounds what is held, not MaxUnacked.
			if len(spooled) == 0 {
				spooled = p.takeHandoff()
			}
			if len(spooled) > 0 {
				next = s.adopt(spooled[0])
				spooled = spooled[1:]
			}
		} else if next == nil && s.unacked < p.opts.MaxUnacked {
			select {
			case qe := <-p.queue:
				next = s.assign(&qe)
			default:
			}
		}
		if next == nil {
			if closing == nil && len(p.queue) == 0 && s.unacked == 0 && len(spooled) == 0 && p.handoffLen() == 0 {
				s.finish(zctx, nil)
				return
			}
			// Nothing to send now: wait for an event, an ack, or a tick.
			var queue <-chan queuedEvent
			if s.unacked < p.opts.MaxUnacked {
				queue = p.queue
			}
			select {
			case qe := <-queue:
				next = s.assign(&qe)
			case <-closing:
				closing = nil
			case <-p.wake:
			case <-p.abort:
			case <-idle.C:
				poller.Poll(time.Millisecond)
			}
			continue
		}
		if !s.subscribed {
			poller.Poll(20 * time.Millisecond)
			continue
		}
		sinceCheck++
		if s.send(next) {
			p.sent.Add(1)
			next = nil
		}
	}
}

// assign numbers ev in its stream, encodes it and keeps it for resending.
func (s *sender) assign(qe *queuedEvent) [][]byte {
	ev := &qe.ev
	topic := ev.Topic()
	st := s.streams[topic]
	if st == nil {
		st = &stream{}
		s.streams[topic] = st
	}
	st.last++
	ev.Seq = st.last
	frames, err := schema.Encode(nil, ev)
	if err != nil { // Publish validated; only a bug gets here
		s.p.logger.Error("encode failed; event dropped", "err", err)
		s.p.dropped.Add(1)
		s.p.metrics.droppedSend.Inc()
		st.last--
		return nil
	}
	if s.unacked == 0 {
		s.progress = time.Now()
	}
	st.unacked = append(st.unacked, sentEvent{seq: ev.Seq, frames: frames, acked: qe.acked})
	s.unacked++
	s.p.unacked.Store(int64(s.unacked))
	return frames
}

// adopt takes an event the spool already numbered and keeps it for resending.
func (s *sender) adopt(se spooledEvent) [][]byte {
	r := se.rec
	st := s.streams[r.Topic]
	if st == nil {
		st = &stream{}
		s.streams[r.Topic] = st
	}
	st.last = max(st.last, r.Seq)
	if s.unacked == 0 {
		s.progress = time.Now()
	}
	st.unacked = append(st.unacked, sentEvent{seq: r.Seq, frames: r.Frames, acked: se.acked})
	s.unacked++
	s.p.unacked.Store(int64(s.unacked))
	return r.Frames
}

// send tries once; false means the socket pushed back and the caller retries.
func (s *sender) send(frames [][]byte) bool {
	if _, err := sendFrames(s.sock, frames); err != nil {
		if zmq.AsErrno(err) == zmq.Errno(11) { // EAGAIN: high-water mark reached
			s.p.metrics.backpressure.Inc()
			// libzmq reports a NODROP XPUB as always writable, so polling
			// for POLLOUT would spin; back off instead.
			time.Sleep(s.backoff)
			s.backoff = min(s.backoff*2, 10*time.Millisecond)
			return false
		}
		// The event stays unacknowledged; a resend will carry it.
		s.p.logger.Warn("send failed; will resend", "err", err)
		return true
	}
	s.backoff = 50 * time.Microsecond
	return true
}

// readControl reads what the collector sends upstream: subscription changes
// and acks.
func (s *sender) readControl() {
	defer func() { s.subscribed = s.subs > 0 }()
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
				s.goBack("reconnected")
			}
			s.everSubbed = true
		case len(msg) > 0 && msg[0] == 0:
			s.subs = max(s.subs-1, 0)
		case schema.IsAck(msg):
			a, err := schema.DecodeAck(msg)
			if err != nil {
				s.p.logger.Warn("malformed ack ignored", "err", err)
				continue
			}
			if a.Publisher == s.p.opts.Publisher {
				s.trim(a)
			}
		}
	}
}

// trim drops acknowledged events.
func (s *sender) trim(a schema.Ack) {
	n := 0
	for topic, hwm := range a.HWM {
		st := s.streams[topic]
		if st == nil {
			continue
		}
		i := 0
		for i < len(st.unacked) && st.unacked[i].seq <= hwm {
			if f := st.unacked[i].acked; f != nil {
				f()
			}
			i++
		}
		if i > 0 {
			st.unacked = append(st.unacked[:0:0], st.unacked[i:]...)
			n += i
		}
	}
	if s.p.spool != nil {
		s.p.spool.Ack(a.HWM)
	}
	if n > 0 {
		s.unacked -= n
		s.p.unacked.Store(int64(s.unacked))
		s.p.acked.Add(uint64(n))
		s.p.metrics.acked.Add(float64(n))
		s.progress = time.Now()
	}
}

// goBack schedules every unacknowledged event to be sent again, in order.
func (s *sender) goBack(why string) {
	s.resend = s.resend[:0]
	for _, st := range s.streams {
		for _, e := range st.unacked {
			s.resend = append(s.resend, e.frames)
		}
	}
	s.progress = time.Now()
	if len(s.resend) > 0 {
		s.p.metrics.goBacks.Inc()
		s.p.logger.Info("resending unacknowledged events", "reason", why, "events", len(s.resend))
	}
}

// finish counts what was never acknowledged, lets the socket flush, and
// releases ZeroMQ.
func (s *sender) finish(zctx *zmq.Context, next [][]byte) {
	p := s.p
	lost := uint64(len(p.queue) + s.unacked)
	for len(p.queue) > 0 {
		<-p.queue
	}
	if next != nil && s.unacked == 0 {
		lost++
	}
	switch {
	case lost > 0 && p.spool != nil:
		// Not lost: the next start with this spool resends them.
		kept := int(lost) + len(p.takeHandoff())
		p.closeErr = fmt.Errorf("close: %d events not acknowledged yet; kept in the spool for the next start", kept)
	case lost > 0:
		p.dropped.Add(lost)
		p.metrics.droppedClose.Add(float64(lost))
		p.closeErr = fmt.Errorf("close: %d events not acknowledged by the collector", lost)
	}
	if p.spool != nil {
		if err := p.spool.Close(); err != nil && p.closeErr == nil {
			p.closeErr = fmt.Errorf("close spool: %w", err)
		}
	}
	linger := time.Duration(p.linger.Load())
	if p.aborted() {
		linger = 0
	}
	s.sock.SetLinger(linger)
	s.sock.Close()
	zctx.Term() // blocks until queued messages are written or linger ends
}

func (p *Publisher) aborted() bool {
	select {
	case <-p.abort:
		return true
	default:
		return false
	}
}
