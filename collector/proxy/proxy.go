// Package proxy runs the collector's ZeroMQ front: an XSUB socket that
// agents publish into and an XPUB socket that live subscribers read from.
//
// Unlike zmq_proxy, the loop decodes every message before forwarding it, so
// malformed input is counted and dropped instead of reaching subscribers or
// storage, and each valid event is handed to storage in batches.
//
// The XSUB subscribes to everything itself (the collector stores every
// event); subscribers' own subscriptions are applied by the XPUB, which
// filters by topic prefix before anything crosses the network. A subscriber
// that does not read loses messages beyond the XPUB high-water mark
// (ZeroMQ's per-subscriber drop) rather than slowing ingestion.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/zlog/zlog/schema/zmqmsg"

	"github.com/zlog/zlog/schema/ratelog"

	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/keys"
)

// Options configure the proxy. Zero values take the defaults shown.
type Options struct {
	XSubAddr      string // agents connect here; "tcp://*:4444"
	XPubAddr      string // subscribers connect here; "tcp://*:4445"
	MaxEventBytes int    // larger events are counted and dropped; schema.DefaultMaxEvent
	RecvHWM       int    // messages buffered per publisher connection; 10000
	SendHWM       int    // messages buffered per subscriber before ZeroMQ drops; 10000
	LiveHWM       int    // the same for the query API's in-process subscribers; 500
	BatchSize     int    // most events handed to the consumer at once; 1024
	// MaxFuture: events dated further ahead than this get the receive
	// time (their own is kept in the field original_time); 0 accepts any.
	MaxFuture time.Duration

	// StreamHWMs are the durable high-water marks the stream table starts from.
	StreamHWMs map[schema.Stream]uint64
	// Backlog, when set, reports the events received and not yet stored;
	// publishers hear it in the heartbeat and hold their resends while it
	// is not empty.
	Backlog func() uint64

	// ForgetIdleStreams: the stream table forgets a stream not seen for this
	// long (checked every minute); 0 keeps every stream until restart.
	ForgetIdleStreams time.Duration

	// Curve, when set, makes both sockets CURVE servers: traffic is
	// encrypted and only keys the allowlist gives the socket's role may
	// connect. Nil means plaintext, open to anyone who reaches the ports.
	Curve *Curve
}

// Curve is the collector's CURVE identity and its allowlist.
type Curve struct {
	Secret string // the collector's secret key, Z85
	Allow  keys.Allowlist
}

func (o *Options) setDefaults() {
	if o.XSubAddr == "" {
		o.XSubAddr = "tcp://*:4444"
	}
	if o.XPubAddr == "" {
		o.XPubAddr = "tcp://*:4445"
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = schema.DefaultMaxEvent
	}
	if o.RecvHWM <= 0 {
		o.RecvHWM = 10000
	}
	if o.SendHWM <= 0 {
		o.SendHWM = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1024
	}
	if o.LiveHWM <= 0 {
		o.LiveHWM = 500
	}
}

// Proxy owns both sockets; Run must be called once.
type Proxy struct {
	opts   Options
	logger *slog.Logger
	// lastBatch is how many events readBatch returned last time.
	lastBatch int
	zctx      *zmq.Context
	xsub      *zmq.Socket
	// recv receives xsub's messages a batch per cgo call; nil when zmq4's
	// socket could not be reached, and then RecvMessageBytes does it.
	recv   *zmqmsg.Receiver
	frames [][]byte // recv's frames of the message being taken
	xpub   *zmq.Socket
	// live is a second XPUB, in-process only, for the query API's follow
	// and tail: its small high-water mark bounds what a client that stops
	// reading can hold (it then loses live events, which follow fills from
	// the index), apart from the TCP subscribers' larger one.
	live *zmq.Socket
	// toXPub and toLive send on xpub and live a message per cgo call.
	toXPub, toLive *zmqmsg.Sender
	// The topic prefixes someone subscribed to on xpub and on live: an
	// event no one subscribed to is not handed to ZeroMQ at all (with
	// zmq4's two cgo calls per frame that was a tenth of the collector's
	// CPU with no one following; zmqmsg sends in one). ZeroMQ reports a prefix once, when its first subscriber
	// comes, and again when its last one leaves.
	xpubSubs, liveSubs map[string]bool

	XSubEndpoint, XPubEndpoint string // resolved, e.g. with the port chosen for "*"
	LiveEndpoint               string // in-process endpoint of the live XPUB, for the query API

	streams       *streamTable
	acks          chan schema.Ack        // acks waiting to be sent upstream
	dups          map[schema.Stream]bool // streams resent in this batch, answered once at its end
	lastHeartbeat time.Time
	monitors      []monitor // handshake failures of xsub, xpub
	zap           *zapHandler
	rebind        chan chan struct{} // SetAllowlist asks Run to drop all connections; Run closes the inner channel when done
	closeOnce     sync.Once

	metrics
	rejections   *ratelog.Log
	refusals     *ratelog.Log
	skips        *ratelog.Log
	handshakeLog *ratelog.Log
}

// New binds both sockets, so address errors surface before Run.
func New(opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Proxy, error) {
	opts.setDefaults()
	p := &Proxy{
		opts:     opts,
		logger:   logger.With("component", "proxy"),
		streams:  newStreamTable(opts.StreamHWMs),
		acks:     make(chan schema.Ack, 1024),
		rebind:   make(chan chan struct{}),
		xpubSubs: make(map[string]bool), liveSubs: make(map[string]bool),
		metrics: newMetrics(reg, opts.Curve != nil),
	}
	p.rejections = ratelog.New(p.logger, slog.LevelWarn, "dropped malformed messages", 10*time.Second)
	p.refusals = ratelog.New(p.logger, slog.LevelWarn, "rejected events; their publishers are told", 10*time.Second)
	p.skips = ratelog.New(p.logger, slog.LevelWarn, "streams resumed past events their publishers no longer hold", 10*time.Second)
	p.handshakeLog = ratelog.New(p.logger, slog.LevelWarn, "refused connections at the handshake", 10*time.Second)
	p.streamsGauge.Set(float64(p.streams.len()))
	if err := p.open(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// open makes, configures and binds the sockets.
func (p *Proxy) open() error {
	var err error
	if p.zctx, err = zmq.NewContext(); err != nil {
		return fmt.Errorf("zeromq context: %w", err)
	}
	if p.xsub, err = p.zctx.NewSocket(zmq.XSUB); err != nil {
		return fmt.Errorf("xsub socket: %w", err)
	}
	if p.xpub, err = p.zctx.NewSocket(zmq.XPUB); err != nil {
		return fmt.Errorf("xpub socket: %w", err)
	}
	if p.live, err = p.zctx.NewSocket(zmq.XPUB); err != nil {
		return fmt.Errorf("live xpub socket: %w", err)
	}
	// A frame this far over the event limit is an attack or a bug; ZeroMQ
	// refuses it by dropping that connection (it cannot be counted per event).
	maxMsg := int64(max(4*p.opts.MaxEventBytes, 1<<20))
	for _, err := range []error{
		p.xsub.SetRcvhwm(p.opts.RecvHWM), p.xsub.SetMaxmsgsize(maxMsg), p.xsub.SetLinger(0),
		p.xpub.SetSndhwm(p.opts.SendHWM), p.xpub.SetLinger(0),
		p.live.SetSndhwm(p.opts.LiveHWM), p.live.SetLinger(0),
	} {
		if err != nil {
			return fmt.Errorf("configure sockets: %w", err)
		}
	}
	for _, m := range []struct {
		sock *zmq.Socket
		role string
	}{{p.xsub, "publish"}, {p.xpub, "subscribe"}} {
		mon, err := p.monitor(m.sock, m.role)
		if err != nil {
			return err
		}
		p.monitors = append(p.monitors, mon)
	}
	if err := p.curve(); err != nil {
		return err
	}
	p.toXPub, p.toLive = zmqmsg.NewSender(p.xpub), zmqmsg.NewSender(p.live)
	if p.recv, err = zmqmsg.NewReceiver(p.xsub, p.opts.BatchSize); err != nil {
		p.logger.Warn("receiving a message at a time", "err", err)
	}
	return p.bind()
}

func (p *Proxy) curve() error {
	c := p.opts.Curve
	if c == nil {
		return nil
	}
	var err error
	if p.zap, err = newZAPHandler(p.zctx, c.Allow, p.logger, p.authRejected); err != nil {
		return err
	}
	if err := p.xsub.ServerAuthCurve(domainPublish, c.Secret); err != nil {
		return fmt.Errorf("xsub CURVE: %w", err)
	}
	if err := p.xpub.ServerAuthCurve(domainSubscribe, c.Secret); err != nil {
		return fmt.Errorf("xpub CURVE: %w", err)
	}
	return nil
}

func (p *Proxy) bind() error {
	if err := p.xsub.Bind(p.opts.XSubAddr); err != nil {
		return fmt.Errorf("bind xsub %q: %w", p.opts.XSubAddr, err)
	}
	if err := p.xpub.Bind(p.opts.XPubAddr); err != nil {
		return fmt.Errorf("bind xpub %q: %w", p.opts.XPubAddr, err)
	}
	var err error
	if p.XSubEndpoint, err = p.xsub.GetLastEndpoint(); err != nil {
		return fmt.Errorf("xsub endpoint: %w", err)
	}
	if p.XPubEndpoint, err = p.xpub.GetLastEndpoint(); err != nil {
		return fmt.Errorf("xpub endpoint: %w", err)
	}
	// The query API follows live events in-process.
	p.LiveEndpoint = fmt.Sprintf("inproc://zlog-live-%p", p)
	if err := p.live.Bind(p.LiveEndpoint); err != nil {
		return fmt.Errorf("bind %q: %w", p.LiveEndpoint, err)
	}
	// Subscribe to every topic: XSUB sends subscriptions upstream, and
	// publishers only send what someone subscribed to.
	if _, err := p.xsub.SendBytes([]byte{1}, 0); err != nil {
		return fmt.Errorf("subscribe xsub: %w", err)
	}
	return nil
}

// Close releases the sockets and the ZeroMQ context; Run calls it on its
// way out, and a collector whose start-up failed after New calls it.
func (p *Proxy) Close() { p.closeOnce.Do(p.close) }

func (p *Proxy) close() {
	if p.recv != nil {
		p.recv.Close()
	}
	for _, s := range []*zmq.Socket{p.xsub, p.xpub, p.live} {
		if s != nil {
			s.Close()
		}
	}
	for _, m := range p.monitors {
		m.sock.Close()
	}
	if p.zap != nil {
		p.zap.close()
	}
	if p.zctx != nil {
		p.zctx.Term()
	}
}

// Consumer receives each batch of valid events. It may block; while it does,
// the proxy stops reading and publishers feel backpressure. The batch slice
// belongs to the consumer afterwards.
type Consumer func([]schema.Event) error

// Run proxies until ctx ends, then drains what ZeroMQ already received,
// hands it to consume, and closes the sockets.
func (p *Proxy) Run(ctx context.Context, consume Consumer) error {
	defer p.Close()
	poller := zmq.NewPoller()
	poller.Add(p.xsub, zmq.POLLIN)
	poller.Add(p.xpub, zmq.POLLIN)
	poller.Add(p.live, zmq.POLLIN)
	for _, m := range p.monitors {
		poller.Add(m.sock, zmq.POLLIN)
	}
	nextForget := time.Now().Add(time.Minute)
	for ctx.Err() == nil {
		select {
		case done := <-p.rebind:
			p.rebindAll()
			close(done)
		default:
		}
		if p.opts.ForgetIdleStreams > 0 && time.Now().After(nextForget) {
			nextForget = time.Now().Add(time.Minute)
			p.forgetIdle()
		}
		p.sendAcks()
		p.heartbeat()
		polled, err := poller.PollAll(20 * time.Millisecond)
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(syscall.EINTR) {
				continue
			}
			return fmt.Errorf("poll: %w", err)
		}
		if err := p.serve(polled, consume); err != nil {
			return err
		}
	}
	return p.drain(consume)
}

// serve handles what one poll found ready.
func (p *Proxy) serve(polled []zmq.Polled, consume Consumer) error {
	if polled[1].Events&zmq.POLLIN != 0 {
		p.readSubscriptions(p.xpub, p.xpubSubs)
	}
	if polled[2].Events&zmq.POLLIN != 0 {
		p.readSubscriptions(p.live, p.liveSubs)
	}
	for i, m := range p.monitors {
		if polled[3+i].Events&zmq.POLLIN != 0 {
			p.readMonitor(m)
		}
	}
	if polled[0].Events&zmq.POLLIN != 0 {
		if batch, _ := p.readBatch(); len(batch) > 0 {
			return consume(batch)
		}
	}
	return nil
}

// drain stops intake and stores what libzmq already holds, which is still
// ours to store.
func (p *Proxy) drain(consume Consumer) error {
	if err := p.xsub.Unbind(p.XSubEndpoint); err != nil {
		p.logger.Warn("stop intake: unbind", "endpoint", p.XSubEndpoint, "err", err)
	}
	for {
		batch, read := p.readBatch()
		if read == 0 {
			break
		}
		if len(batch) == 0 {
			continue
		}
		if err := consume(batch); err != nil {
			return err
		}
	}
	p.sendAcks()
	p.rejections.Flush()
	p.refusals.Flush()
	p.skips.Flush()
	p.handshakeLog.Flush()
	return nil
}

// forgetIdle drops streams idle longer than ForgetIdleStreams.
func (p *Proxy) forgetIdle() {
	gone := p.streams.forget(time.Now().Add(-p.opts.ForgetIdleStreams))
	p.streamsGauge.Set(float64(p.streams.len()))
	if len(gone) > 0 {
		p.logger.Info("forgot idle streams", "count", len(gone), "idle_longer_than", p.opts.ForgetIdleStreams, "remaining", p.streams.len())
	}
}

// ZMQContext is the context of the proxy's sockets, for subscribers on
// LiveEndpoint. Close them before the proxy's Run returns: it terminates
// the context, which waits for them.
func (p *Proxy) ZMQContext() *zmq.Context { return p.zctx }

func (p *Proxy) readSubscriptions(sock *zmq.Socket, subs map[string]bool) {
	for {
		msg, err := sock.RecvBytes(zmq.DONTWAIT)
		if err != nil || len(msg) == 0 {
			return
		}
		switch msg[0] {
		case 1:
			subs[string(msg[1:])] = true
			p.subscribers.Inc()
			p.logger.Debug("subscriber subscribed", "prefix", string(msg[1:]))
		case 0:
			delete(subs, string(msg[1:]))
		}
	}
}

// subscribed reports whether a prefix in subs starts topic.
func subscribed(subs map[string]bool, topic []byte) bool {
	for prefix := range subs {
		if bytes.HasPrefix(topic, []byte(prefix)) {
			return true
		}
	}
	return false
}

// readBatch reads up to BatchSize messages without blocking and returns
// the events to store and how many messages it read.
func (p *Proxy) readBatch() (batch []schema.Event, read int) {
	p.streams.now = time.Now()
	// As large as the last: a batch grown from nothing was copied over
	// and over (measured, with the gather stage's, 4 % of the CPU).
	batch = make([]schema.Event, 0, p.lastBatch)
	defer func() { p.lastBatch = len(batch) }()
	next := p.receive()
	for ; read < p.opts.BatchSize; read++ {
		frames, ok := next()
		if !ok {
			break
		}
		if ev, ok := p.take(frames); ok {
			batch = append(batch, ev)
		}
	}
	p.answerResends()
	p.streamsGauge.Set(float64(p.streams.len()))
	return batch, read
}

// receive returns the next message waiting on xsub, without blocking. Its
// frames are valid until the next call.
func (p *Proxy) receive() func() ([][]byte, bool) {
	if p.recv == nil {
		return func() ([][]byte, bool) {
			frames, err := p.xsub.RecvMessageBytes(zmq.DONTWAIT)
			return frames, err == nil
		}
	}
	left := p.opts.BatchSize
	return func() ([][]byte, bool) {
		var ok bool
		if p.frames, ok = p.recv.Next(p.frames); ok {
			return p.frames, true
		}
		n, err := p.recv.Recv(left)
		if err != nil || n == 0 {
			return nil, false
		}
		left -= n
		p.frames, ok = p.recv.Next(p.frames)
		return p.frames, ok
	}
}

// take decides about one message: an event to store and forward, a resend
// to answer, an event out of turn to nack, or input to refuse.
func (p *Proxy) take(frames [][]byte) (schema.Event, bool) {
	ev, err := schema.Decode(frames, p.opts.MaxEventBytes)
	if err != nil {
		p.refuse(frames, err)
		return ev, false
	}
	p.received.Inc()
	h := schema.Header{Topic: ev.Topic(), Publisher: ev.Publisher, Seq: ev.Seq, Prev: ev.Prev}
	v, skipped := p.streams.admit(h)
	p.verdicts[v].Inc()
	switch v {
	case duplicate:
		p.resent(h)
		return ev, false
	case outOfOrder:
		p.nack(h)
		return ev, false
	}
	if skipped > 0 {
		p.skipped.Add(float64(skipped))
		p.skips.Note("skipped", fmt.Errorf("publisher %s topic %s: %d sequence numbers before %d are no longer held by the publisher (dropped and counted there, or acknowledged by a collector that lost them)", h.Publisher, h.Topic, skipped, h.Seq))
	}
	if p.stamp(&ev, p.streams.now.UTC()) {
		// Subscribers see the same time as storage.
		if frames, err = schema.Encode(frames[:0], &ev); err != nil {
			return ev, false // cannot happen: Decode validated the topic parts
		}
	}
	if err := p.forward(frames); err != nil {
		p.forwardErrs.Inc()
	}
	return ev, true
}

// refuse handles a message that is not a valid event. When its stream and
// sequence number can be read and it is its turn, the stream moves past it
// and the publisher is told why, so it stops resending it; otherwise it is
// counted as malformed.
func (p *Proxy) refuse(frames [][]byte, err error) {
	reason := malformedReason(err)
	h, ok := schema.DecodeHeader(frames)
	if !ok || h.Seq == 0 {
		p.malformed.WithLabelValues(reason).Inc()
		p.rejections.Note(reason, err)
		return
	}
	k := schema.Stream{Publisher: h.Publisher, Topic: h.Topic}
	switch v, _ := p.streams.admit(h); v {
	case accept, resync:
		p.streams.rejected(k, h.Seq, err.Error())
		p.rejectedTotal.WithLabelValues(reason).Inc()
		p.refusals.Note(reason, fmt.Errorf("publisher %s topic %s seq %d: %w", h.Publisher, h.Topic, h.Seq, err))
		p.sendReject(schema.Reject{Publisher: h.Publisher, Topic: h.Topic, Seq: h.Seq, Reason: err.Error()})
	case duplicate:
		p.resent(h)
	case outOfOrder:
		p.nack(h)
	}
}

// forward republishes an event to live subscribers: TCP ones and the
// query API's. ZeroMQ drops for a subscriber whose queue is full.
func (p *Proxy) forward(frames [][]byte) error {
	var errs []error
	if subscribed(p.xpubSubs, frames[0]) {
		errs = append(errs, p.toXPub.Send(frames))
	}
	if subscribed(p.liveSubs, frames[0]) {
		errs = append(errs, p.toLive.Send(frames))
	}
	return errors.Join(errs...)
}
