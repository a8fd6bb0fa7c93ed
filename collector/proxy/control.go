package proxy

import (
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/schema"
)

// The proxy talks back to publishers through its XSUB socket, which ZeroMQ
// delivers to every connected publisher (each keeps what names it): acks
// after index commits, rejections, nacks for events out of turn, and a
// heartbeat once a second. All are sent without blocking; one that cannot
// be sent is counted, and the next (cumulative) ack or a resend covers it.

// Ack queues an acknowledgement for the proxy to send upstream. It never
// blocks: when the queue is full the ack is dropped and counted, and the
// next one (cumulative) covers it.
func (p *Proxy) Ack(a schema.Ack) {
	select {
	case p.acks <- a:
	default:
		p.acksDropped.Inc()
	}
}

// sendAcks sends queued acks and records what they made durable, for
// answering resends.
func (p *Proxy) sendAcks() {
	for {
		select {
		case a := <-p.acks:
			hwms := make(map[schema.Stream]uint64, len(a.HWM))
			for topic, hwm := range a.HWM {
				hwms[schema.Stream{Publisher: a.Publisher, Topic: topic}] = hwm
			}
			p.streams.committed(hwms)
			p.sendAck(a)
		default:
			return
		}
	}
}

func (p *Proxy) sendAck(a schema.Ack) {
	if a.Publisher == "" {
		return // nobody to address
	}
	frame, err := schema.EncodeAck(a)
	if err != nil {
		p.logger.Warn("cannot encode ack", "err", err)
		return
	}
	if p.sendControl(frame) {
		p.acksSent.Inc()
	} else {
		p.acksDropped.Inc()
	}
}

// resent notes a resend of an event already taken; answerResends answers
// each such stream once per batch with its durable mark (so a publisher
// whose acks were lost stops resending), or repeats a rejection.
func (p *Proxy) resent(h schema.Header) {
	k := schema.Stream{Publisher: h.Publisher, Topic: h.Topic}
	if reason, ok := p.streams.rejection(k, h.Seq); ok {
		p.sendReject(schema.Reject{Publisher: h.Publisher, Topic: h.Topic, Seq: h.Seq, Reason: reason})
		return
	}
	if p.dups == nil {
		p.dups = make(map[schema.Stream]bool)
	}
	p.dups[k] = true
}

func (p *Proxy) answerResends() {
	for k := range p.dups {
		if hwm, ok := p.streams.durable(k); ok {
			p.sendAck(schema.Ack{Publisher: k.Publisher, HWM: map[string]uint64{k.Topic: hwm}})
		}
	}
	p.dups = nil
}

// nack tells a publisher to send a stream again from what the collector
// has, at most every nackEvery per stream.
func (p *Proxy) nack(h schema.Header) {
	k := schema.Stream{Publisher: h.Publisher, Topic: h.Topic}
	hwm, due := p.streams.nackDue(k)
	if !due || h.Publisher == "" {
		return
	}
	frame, err := schema.EncodeNack(schema.Nack{Publisher: h.Publisher, Topic: h.Topic, HWM: hwm})
	if err == nil && p.sendControl(frame) {
		p.nacksSent.Inc()
	}
}

func (p *Proxy) sendReject(r schema.Reject) {
	frame, err := schema.EncodeReject(r)
	if err != nil {
		p.logger.Warn("cannot encode rejection", "err", err)
		return
	}
	p.sendControl(frame)
}

// heartbeatEvery is how often publishers hear that the collector is alive
// and how far behind it is.
const heartbeatEvery = time.Second

func (p *Proxy) heartbeat() {
	if time.Since(p.lastHeartbeat) < heartbeatEvery {
		return
	}
	p.lastHeartbeat = time.Now()
	var backlog uint64
	if p.opts.Backlog != nil {
		backlog = p.opts.Backlog()
	}
	p.sendControl(schema.EncodeHeartbeat(schema.Heartbeat{Backlog: backlog}))
}

func (p *Proxy) sendControl(frame []byte) bool {
	_, err := p.xsub.SendBytes(frame, zmq.DONTWAIT)
	return err == nil
}
