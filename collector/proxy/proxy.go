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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
	BatchSize     int    // most events handed to the consumer at once; 1024
	// MaxFuture: events dated further ahead than this get the receive
	// time (their own is kept in the field original_time); 0 accepts any.
	MaxFuture time.Duration

	// StreamHWMs are the durable high-water marks the sequencer starts from.
	StreamHWMs map[schema.Stream]uint64

	// ForgetIdleStreams: the sequencer forgets a stream not seen for this
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
}

// Proxy owns both sockets; Run must be called once.
type Proxy struct {
	opts   Options
	logger *slog.Logger
	zctx   *zmq.Context
	xsub   *zmq.Socket
	xpub   *zmq.Socket

	XSubEndpoint, XPubEndpoint string // resolved, e.g. with the port chosen for "*"
	LiveEndpoint               string // in-process endpoint of the XPUB, for the query API

	seq     *sequencer
	acks    chan schema.Ack          // acks waiting to be sent upstream
	durable map[schema.Stream]uint64 // what acks have said is stored; answers resends

	received    prometheus.Counter
	future      prometheus.Counter
	sequencing  *prometheus.CounterVec
	verdicts    map[verdict]prometheus.Counter
	acksSent    prometheus.Counter
	acksDropped prometheus.Counter
	malformed   *prometheus.CounterVec
	forwardErrs prometheus.Counter
	subscribers prometheus.Counter
	rejections  *rejectionLog

	monitors     []monitor // handshake failures of xsub, xpub
	handshakes   *prometheus.CounterVec
	streams      prometheus.Gauge
	handshakeLog *rejectionLog
	zap          *zapHandler        // nil without CURVE
	closeOnce    sync.Once
	rebind       chan chan struct{} // SetAllowlist asks Run to drop all connections; Run closes the inner channel when done
	authRejected *prometheus.CounterVec
}

// New binds both sockets, so address errors surface before Run.
func New(opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Proxy, error) {
	opts.setDefaults()
	p := &Proxy{
		opts:   opts,
		logger: logger.With("component", "proxy"),
		seq:    newSequencer(opts.StreamHWMs),
		acks:   make(chan schema.Ack, 1024),
		rebind: make(chan chan struct{}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zlog_collector_streams", Help: "Streams (publisher + topic) the sequencer tracks in memory.",
		}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zlog_collector_handshake_failed_total", Help: "Connections that failed the ZeroMQ handshake (e.g. a plaintext client of a CURVE collector, or not ZeroMQ at all), by role; refusals by key are in zlog_collector_auth_rejected_total.",
		}, []string{"role"}),
		authRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zlog_collector_auth_rejected_total", Help: "Connections refused by CURVE authentication, by role (publish on the XSUB, subscribe on the XPUB).",
		}, []string{"role"}),
		durable: make(map[schema.Stream]uint64, len(opts.StreamHWMs)),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_collector_received_total", Help: "Valid events received on the XSUB socket.",
		}),
		future: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_collector_future_events_total", Help: "Events dated further ahead than --max-future, stored with the receive time (their own in the field original_time).",
		}),
		sequencing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zlog_collector_sequence_total",
			Help: "Sequenced events by verdict: accepted, duplicate (a resend, dropped), out_of_order (after a gap, dropped until the publisher resends), resync (first event of an unknown stream), unsequenced.",
		}, []string{"verdict"}),
		acksSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_collector_acks_sent_total", Help: "Acknowledgements sent to publishers.",
		}),
		acksDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_collector_acks_dropped_total", Help: "Acknowledgements not sent because the queue was full (a later ack covers them).",
		}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zlog_collector_malformed_total", Help: "Messages dropped as malformed, by reason.",
		}, []string{"reason"}),
		forwardErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_collector_forward_errors_total", Help: "Events that could not be handed to the XPUB socket.",
		}),
		subscribers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_collector_subscriptions_total", Help: "Subscribe messages seen on the XPUB socket.",
		}),
	}
	p.rejections = &rejectionLog{what: "dropped malformed messages", logger: p.logger, every: 10 * time.Second}
	p.handshakeLog = &rejectionLog{what: "refused connections at the handshake", logger: p.logger, every: 10 * time.Second}
	for k, v := range opts.StreamHWMs {
		p.durable[k] = v
	}
	for _, r := range malformedReasons {
		p.malformed.WithLabelValues(r.label)
	}
	p.verdicts = make(map[verdict]prometheus.Counter, len(verdictLabels))
	for v, label := range verdictLabels {
		p.verdicts[v] = p.sequencing.WithLabelValues(label)
	}
	if reg != nil {
		reg.MustRegister(p.streams, p.handshakes, p.authRejected, p.received, p.future, p.malformed, p.forwardErrs, p.subscribers, p.sequencing, p.acksSent, p.acksDropped)
	}

	var err error
	if p.zctx, err = zmq.NewContext(); err != nil {
		return nil, fmt.Errorf("zeromq context: %w", err)
	}
	fail := func(err error) (*Proxy, error) {
		p.close()
		return nil, err
	}
	if p.xsub, err = p.zctx.NewSocket(zmq.XSUB); err != nil {
		return fail(fmt.Errorf("xsub socket: %w", err))
	}
	if p.xpub, err = p.zctx.NewSocket(zmq.XPUB); err != nil {
		return fail(fmt.Errorf("xpub socket: %w", err))
	}
	// A frame this far over the event limit is an attack or a bug; ZeroMQ
	// refuses it by dropping that connection (it cannot be counted per event).
	maxMsg := int64(max(4*opts.MaxEventBytes, 1<<20))
	for _, err := range []error{
		p.xsub.SetRcvhwm(opts.RecvHWM), p.xsub.SetMaxmsgsize(maxMsg), p.xsub.SetLinger(0),
		p.xpub.SetSndhwm(opts.SendHWM), p.xpub.SetLinger(0),
	} {
		if err != nil {
			return fail(fmt.Errorf("configure sockets: %w", err))
		}
	}
	p.streams.Set(float64(len(p.seq.next)))
	for _, m := range []struct {
		sock *zmq.Socket
		role string
	}{{p.xsub, "publish"}, {p.xpub, "subscribe"}} {
		mon, err := p.monitor(m.sock, m.role)
		if err != nil {
			return fail(err)
		}
		p.monitors = append(p.monitors, mon)
	}
	if c := opts.Curve; c != nil {
		p.authRejected.WithLabelValues("publish") // visible as 0 from the start
		p.authRejected.WithLabelValues("subscribe")
		if p.zap, err = newZAPHandler(p.zctx, c.Allow, logger, p.authRejected); err != nil {
			return fail(err)
		}
		if err := p.xsub.ServerAuthCurve(domainPublish, c.Secret); err != nil {
			return fail(fmt.Errorf("xsub CURVE: %w", err))
		}
		if err := p.xpub.ServerAuthCurve(domainSubscribe, c.Secret); err != nil {
			return fail(fmt.Errorf("xpub CURVE: %w", err))
		}
	}
	if err := p.xsub.Bind(opts.XSubAddr); err != nil {
		return fail(fmt.Errorf("bind xsub %q: %w", opts.XSubAddr, err))
	}
	if err := p.xpub.Bind(opts.XPubAddr); err != nil {
		return fail(fmt.Errorf("bind xpub %q: %w", opts.XPubAddr, err))
	}
	p.XSubEndpoint, _ = p.xsub.GetLastEndpoint()
	p.XPubEndpoint, _ = p.xpub.GetLastEndpoint()
	// The query API follows live events in-process, on the same XPUB.
	p.LiveEndpoint = fmt.Sprintf("inproc://zlog-live-%p", p)
	if err := p.xpub.Bind(p.LiveEndpoint); err != nil {
		return fail(fmt.Errorf("bind %q: %w", p.LiveEndpoint, err))
	}
	// Subscribe to every topic: XSUB sends subscriptions upstream, and
	// publishers only send what someone subscribed to.
	if _, err := p.xsub.SendBytes([]byte{1}, 0); err != nil {
		return fail(fmt.Errorf("subscribe xsub: %w", err))
	}
	return p, nil
}

// Close releases the sockets and the ZeroMQ context; Run calls it on its
// way out, and a collector whose start-up failed after New calls it.
func (p *Proxy) Close() { p.closeOnce.Do(p.close) }

func (p *Proxy) close() {
	for _, s := range []*zmq.Socket{p.xsub, p.xpub} {
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

// SetAllowlist replaces the CURVE allowlist (on SIGHUP). New handshakes
// follow it at once; when a key lost a role, the proxy also drops every
// connection (by rebinding its endpoints) so that key's open connections
// end too; it returns once they are dropped, so nothing published after
// it reaches a removed key. Allowed clients reconnect within a second by
// themselves and publishers resend what was not acknowledged, so nothing
// is lost. ctx bounds the wait for the proxy's loop.
func (p *Proxy) SetAllowlist(ctx context.Context, allow keys.Allowlist) error {
	if p.zap == nil {
		return errors.New("CURVE is off: there is no allowlist to reload")
	}
	if !p.zap.setAllowlist(allow) {
		return nil
	}
	done := make(chan struct{})
	select {
	case p.rebind <- done:
	case <-ctx.Done():
		return fmt.Errorf("drop connections: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drop connections: %w", ctx.Err())
	}
}

// rebindAll drops all connections of both sockets by unbinding and binding
// their TCP endpoints again; the in-process endpoint stays.
func (p *Proxy) rebindAll() {
	for _, s := range []struct {
		sock     *zmq.Socket
		endpoint string
	}{{p.xsub, p.XSubEndpoint}, {p.xpub, p.XPubEndpoint}} {
		if err := s.sock.Unbind(s.endpoint); err != nil {
			p.logger.Error("drop connections: unbind", "endpoint", s.endpoint, "err", err)
			continue
		}
		// The listener closes on libzmq's I/O thread after Unbind returns,
		// so the port may still be busy for a moment.
		var err error
		for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
			if err = s.sock.Bind(s.endpoint); err == nil {
				break
			}
		}
		if err != nil {
			p.logger.Error("drop connections: bind again", "endpoint", s.endpoint, "err", err)
		}
	}
	p.logger.Info("authorized keys changed: dropped all connections; authorized clients reconnect")
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
		polled, err := poller.PollAll(20 * time.Millisecond)
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(4) { // EINTR
				continue
			}
			return fmt.Errorf("poll: %w", err)
		}
		if polled[1].Events&zmq.POLLIN != 0 {
			p.readSubscriptions()
		}
		for i, m := range p.monitors {
			if polled[2+i].Events&zmq.POLLIN != 0 {
				p.readMonitor(m)
			}
		}
		if polled[0].Events&zmq.POLLIN != 0 {
			if batch := p.readBatch(); len(batch) > 0 {
				if err := consume(batch); err != nil {
					return err
				}
			}
		}
	}
	// Intake stops here; what libzmq already holds is still ours to store.
	p.xsub.Unbind(p.XSubEndpoint)
	for {
		batch := p.readBatch()
		if len(batch) == 0 {
			break
		}
		if err := consume(batch); err != nil {
			return err
		}
	}
	p.sendAcks()
	p.rejections.flush()
	p.handshakeLog.flush()
	return nil
}

// forgetIdle drops streams idle longer than ForgetIdleStreams from the
// sequencer and from the durable marks that answer resends.
func (p *Proxy) forgetIdle() {
	gone := p.seq.forget(time.Now().Add(-p.opts.ForgetIdleStreams))
	for _, k := range gone {
		delete(p.durable, k)
	}
	p.streams.Set(float64(len(p.seq.next)))
	if len(gone) > 0 {
		p.logger.Info("forgot idle streams", "count", len(gone), "idle_longer_than", p.opts.ForgetIdleStreams, "remaining", len(p.seq.next))
	}
}

// monitor receives a socket's handshake failures, so that clients refused
// before any key is checked (plaintext against CURVE) are counted too.
type monitor struct {
	sock *zmq.Socket
	role string
}

func (p *Proxy) monitor(s *zmq.Socket, role string) (monitor, error) {
	addr := fmt.Sprintf("inproc://zlog-monitor-%s-%p", role, p)
	if err := s.Monitor(addr, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL|zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL); err != nil {
		return monitor{}, fmt.Errorf("monitor %s socket: %w", role, err)
	}
	m, err := p.zctx.NewSocket(zmq.PAIR)
	if err == nil {
		if err = m.Connect(addr); err != nil {
			m.Close()
		}
	}
	if err != nil {
		return monitor{}, fmt.Errorf("monitor %s socket: %w", role, err)
	}
	p.handshakes.WithLabelValues(role) // visible as 0 from the start
	return monitor{sock: m, role: role}, nil
}

func (p *Proxy) readMonitor(m monitor) {
	for {
		ev, addr, value, err := m.sock.RecvEvent(zmq.DONTWAIT)
		if err != nil {
			return
		}
		p.handshakes.WithLabelValues(m.role).Inc()
		p.handshakeLog.note(m.role, fmt.Errorf("%s handshake failed with %s (%v, code %d): a plaintext client of a CURVE collector, a CURVE client of a plaintext one, or not ZeroMQ", m.role, addr, ev, value))
	}
}

var verdictLabels = map[verdict]string{accept: "accepted", duplicate: "duplicate", outOfOrder: "out_of_order", resync: "resync", unsequenced: "unsequenced"}

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

// sendAcks sends queued acks on the XSUB socket, which delivers them to every
// connected publisher, and remembers what they said for answering resends.
func (p *Proxy) sendAcks() {
	for {
		select {
		case a := <-p.acks:
			for topic, hwm := range a.HWM {
				k := schema.Stream{Publisher: a.Publisher, Topic: topic}
				p.durable[k] = max(p.durable[k], hwm)
			}
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
	if _, err := p.xsub.SendBytes(frame, zmq.DONTWAIT); err != nil {
		p.acksDropped.Inc()
		return
	}
	p.acksSent.Inc()
}

// reack answers resends of stored events: a publisher whose acks were lost
// (a collector restart) would otherwise resend them forever.
func (p *Proxy) reack(streams map[schema.Stream]bool) {
	for s := range streams {
		if hwm, ok := p.durable[s]; ok {
			p.sendAck(schema.Ack{Publisher: s.Publisher, HWM: map[string]uint64{s.Topic: hwm}})
		}
	}
}

// ZMQContext is the context of the proxy's sockets, for subscribers on
// LiveEndpoint. Close them before the proxy's Run returns: it terminates
// the context, which waits for them.
func (p *Proxy) ZMQContext() *zmq.Context { return p.zctx }

func (p *Proxy) readSubscriptions() {
	for {
		msg, err := p.xpub.RecvBytes(zmq.DONTWAIT)
		if err != nil {
			return
		}
		if len(msg) > 0 && msg[0] == 1 {
			p.subscribers.Inc()
			p.logger.Debug("subscriber subscribed", "prefix", string(msg[1:]))
		}
	}
}

// readBatch reads up to BatchSize messages without blocking.
func (p *Proxy) readBatch() []schema.Event {
	p.seq.now = time.Now()
	var batch []schema.Event
	var dups map[schema.Stream]bool
	defer func() {
		if dups != nil {
			p.reack(dups)
		}
	}()
	for len(batch) < p.opts.BatchSize {
		frames, err := p.xsub.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			break
		}
		ev, err := schema.Decode(frames, p.opts.MaxEventBytes)
		if err != nil {
			reason := malformedReason(err)
			p.malformed.WithLabelValues(reason).Inc()
			p.rejections.note(reason, err)
			continue
		}
		if p.stamp(&ev, p.seq.now.UTC()) {
			// Subscribers see the same time as storage.
			if frames, err = schema.Encode(frames[:0], &ev); err != nil {
				continue // cannot happen: Decode validated the topic parts
			}
		}
		p.received.Inc()
		v := p.seq.admit(&ev)
		p.verdicts[v].Inc()
		if v == duplicate {
			if dups == nil {
				dups = make(map[schema.Stream]bool)
			}
			dups[schema.Stream{Publisher: ev.Publisher, Topic: ev.Topic()}] = true
			continue
		}
		if v == outOfOrder {
			continue
		}
		if err := p.forward(frames); err != nil {
			p.forwardErrs.Inc()
		}
		batch = append(batch, ev)
	}
	return batch
}

func (p *Proxy) forward(frames [][]byte) error {
	for i, f := range frames {
		flag := zmq.DONTWAIT
		if i < len(frames)-1 {
			flag |= zmq.SNDMORE
		}
		if _, err := p.xpub.SendBytes(f, flag); err != nil {
			return err
		}
	}
	return nil
}

var malformedReasons = []struct {
	err   error
	label string
}{
	{schema.ErrFrameCount, "frame_count"},
	{schema.ErrBadVersion, "version"},
	{schema.ErrBadEnvelope, "envelope"},
	{schema.ErrBadTopic, "topic"},
	{schema.ErrBadUTF8, "utf8"},
	{schema.ErrBadField, "field"},
	{schema.ErrTooLarge, "too_large"},
}

func malformedReason(err error) string {
	for _, r := range malformedReasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}

// rejectionLog logs the first rejection at once and then at most one summary
// per interval, so a flood of bad input cannot flood the collector's log.
type rejectionLog struct {
	what    string // the log message, e.g. "dropped malformed messages"
	logger  *slog.Logger
	every   time.Duration
	mu      sync.Mutex
	last    time.Time
	pending int
	lastErr error
}

func (r *rejectionLog) note(reason string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending++
	r.lastErr = err
	if time.Since(r.last) >= r.every {
		r.logger.Warn(r.what, "count", r.pending, "last_reason", reason, "last_error", err.Error())
		r.pending, r.last = 0, time.Now()
	}
}

func (r *rejectionLog) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending > 0 {
		r.logger.Warn(r.what, "count", r.pending, "last_error", r.lastErr.Error())
		r.pending = 0
	}
}
