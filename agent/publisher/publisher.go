// Package publisher sends zlog events to a collector over ZeroMQ.
//
// Every event gets a sequence number in its stream (publisher id + topic)
// and stays in a store (memory, or the on-disk spool) until the collector
// settles it: acknowledges it as stored, or rejects it with a reason (then
// it is counted and logged, and the stream moves on). Each event also tells
// the collector the previous event of its stream the publisher still holds,
// so the collector knows where a stream it does not know starts. After a
// reconnect, or when the collector says it is missing an earlier event,
// what is unacknowledged is sent again in order (go-back-N) and the
// collector drops what it already has. So while the publisher runs, the
// collector's index gets every event exactly once through collector
// crashes, restarts and dropped connections.
//
// A Publisher owns one XPUB socket connected to the collector's XSUB
// endpoint, and one goroutine that moves events from a bounded in-memory
// queue onto that socket. Using XPUB rather than PUB lets the publisher see
// the collector's subscription arrive: nothing is sent before the collector
// has subscribed (a fresh PUB connection silently drops its first messages),
// and ZMQ_XPUB_NODROP turns a full send buffer into backpressure instead of
// silent loss.
//
// Queue full: Publish waits for room until its context ends (WhenFull=Block,
// the default) or fails at once (WhenFull=Drop); either way a refused event is
// counted in Stats().Dropped and the zlog_publisher_dropped_total metric. A
// spool that is full, or whose disk is full, makes Publish wait the same way;
// it never drops.
package publisher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zlog/zlog/schema/ratelog"

	"github.com/zlog/zlog/schema/zmqconn"

	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/agent/spool"
	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/keys"
)

// FullPolicy says what Publish does when the queue is full.
type FullPolicy int

const (
	Block FullPolicy = iota // wait for room until the context ends
	Drop                    // refuse the event at once
)

// Options configure a Publisher. Zero values take the defaults shown.
type Options struct {
	Endpoint  string     // collector XSUB endpoint; "tcp://127.0.0.1:4444"
	Publisher string     // publisher id; "<host>-<random>"
	Host      string     // default host for events without one; os.Hostname()
	QueueSize int        // events held in memory before WhenFull applies; 10000
	WhenFull  FullPolicy // Block
	SendHWM   int        // ZeroMQ send high-water mark, in messages; 10000
	MaxEvent  int        // largest encoded event accepted, bytes; schema.DefaultMaxEvent

	// MaxUnacked bounds the events sent but not yet acknowledged by the
	// collector, kept for resending; when reached, sending pauses and the
	// queue fills. 100000.
	MaxUnacked int
	// AckTimeout: a stream with events unacknowledged for this long while
	// the collector's heartbeats say it is idle is sent again (the wait
	// doubles with each such resend). 3s.
	AckTimeout time.Duration
	// ConnectTimeout: the connection not up for this long is logged with
	// the likely reason (nothing listening, or a refused key). 5s.
	ConnectTimeout time.Duration

	// Spool, when set, keeps every event on disk from Publish until the
	// collector acknowledges it, so a killed publisher resends them when it
	// starts again with the same spool. The spool also keeps the publisher
	// id. Spool.Dir empty means no spool.
	Spool spool.Options

	// Curve, when set, encrypts the connection and authenticates this
	// publisher to the collector with its key; nil is plaintext.
	Curve *keys.Client

	// Registerer, when set, receives the publisher's metrics.
	Registerer prometheus.Registerer
}

func (o *Options) setDefaults() {
	if o.Endpoint == "" {
		o.Endpoint = "tcp://127.0.0.1:4444"
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.Publisher == "" {
		var b [4]byte
		rand.Read(b[:])
		o.Publisher = schema.SanitizeService(o.Host) + "-" + hex.EncodeToString(b[:])
		if len(o.Publisher) > schema.MaxPublisherLen {
			o.Publisher = o.Publisher[len(o.Publisher)-schema.MaxPublisherLen:]
		}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.SendHWM <= 0 {
		o.SendHWM = 10000
	}
	if o.MaxEvent <= 0 {
		o.MaxEvent = schema.DefaultMaxEvent
	}
	if o.MaxUnacked <= 0 {
		o.MaxUnacked = 100000
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 3 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
}

// Errors returned by Publish and Close.
var (
	ErrQueueFull = errors.New("publisher queue full")
	ErrClosed    = errors.New("publisher closed")
	ErrInvalid   = errors.New("invalid event")
)

// Stats are cumulative counts since New.
type Stats struct {
	Queued   uint64 // accepted by Publish
	Sent     uint64 // handed to the ZeroMQ socket (first sends)
	Acked    uint64 // acknowledged by the collector as stored
	Resent   uint64 // sent again after a reconnect, a nack or an ack timeout
	Dropped  uint64 // refused (queue full), abandoned at Close, or lost in damaged spool records
	Rejected uint64 // invalid events refused by Publish
	Refused  uint64 // events the collector rejected (too large for it, say)
	Depth    int    // events stored and not yet taken by the sender
	Unacked  int    // events taken by the sender and not yet settled
}

// ErrDropped is reported by Close when the publisher lost events during its
// life: refused by a full queue, abandoned at Close, or rejected by the
// collector. A process that dropped anything should not exit 0.
var ErrDropped = errors.New("events were dropped")

// Publisher is safe for concurrent use by many goroutines.
type Publisher struct {
	opts   Options
	logger *slog.Logger
	store  store
	spool  *spool.Spool // nil without one

	mu      sync.RWMutex // guards closed against Publish racing Close
	closed  bool
	closing chan struct{} // closed by Close: drain the queue, then stop
	abort   chan struct{} // closed when Close's context ends: stop now
	done    chan struct{} // closed when the sender goroutine has exited
	linger  atomic.Int64  // ns the socket may linger at close; -1 forever

	queued, sent, acked, resent, dropped, rejected, refused atomic.Uint64
	unacked                                                 atomic.Int64
	closeErr                                                error
	watch                                                   *zmqconn.Watch
	metrics                                                 *metrics
	refusals                                                *ratelog.Log
}

// New connects to the collector and starts the sender goroutine.
func New(opts Options, logger *slog.Logger) (*Publisher, error) {
	explicitID := opts.Publisher
	opts.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{
		opts:    opts,
		closing: make(chan struct{}),
		abort:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	var recovered []*held
	if opts.Spool.Dir != "" {
		var err error
		if recovered, err = p.openSpool(explicitID, logger); err != nil {
			return nil, err
		}
	} else {
		p.store = newMemStore(opts.QueueSize)
	}
	p.logger = logger.With("component", "publisher", "publisher", p.opts.Publisher)
	p.refusals = ratelog.New(p.logger, slog.LevelError, "events rejected by the collector; dropped", 10*time.Second)
	p.metrics = newMetrics(p, opts.Registerer)
	if p.spool != nil {
		// Lost before this run began, but this run is the one that knows.
		p.dropped.Add(uint64(p.spool.CorruptEvents))
	}
	zctx, sock, err := p.connect()
	if err != nil {
		p.store.close()
		return nil, err
	}
	go p.run(zctx, sock, recovered)
	return p, nil
}

// openSpool opens the spool, takes the publisher id it keeps, and returns
// the events a previous run left unacknowledged.
func (p *Publisher) openSpool(explicitID string, logger *slog.Logger) ([]*held, error) {
	sp, recs, err := spool.Open(p.opts.Spool, func() string { return p.opts.Publisher })
	if err != nil {
		return nil, err
	}
	if explicitID != "" && explicitID != sp.PublisherID() {
		sp.Close()
		return nil, fmt.Errorf("spool %q belongs to publisher %q, not %q", p.opts.Spool.Dir, sp.PublisherID(), explicitID)
	}
	p.opts.Publisher = sp.PublisherID()
	st := &spoolStore{handoff: newHandoff(), sp: sp}
	st.waitingFor = func(err error) {
		p.logger.Warn("spool has no room; sources wait until acknowledgements or disk space free some", "dir", p.opts.Spool.Dir, "err", err)
	}
	p.store, p.spool = st, sp
	if sp.CorruptEvents > 0 {
		logger.Error("spool: damaged records skipped; those events are lost", "dir", p.opts.Spool.Dir, "events", sp.CorruptEvents)
	}
	if sp.TornWrites > 0 {
		logger.Warn("spool: the record being written when the last run stopped was cut short and is dropped; it was never acknowledged to its source", "dir", p.opts.Spool.Dir, "records", sp.TornWrites)
	}
	if len(recs) > 0 {
		logger.Info("spool: resending unacknowledged events from the last run", "events", len(recs))
	}
	out := make([]*held, len(recs))
	for i, r := range recs {
		out[i] = &held{topic: r.Topic, seq: r.Seq, frames: r.Frames, resend: true}
	}
	return out, nil
}

// ID is the publisher id stamped on every event.
func (p *Publisher) ID() string { return p.opts.Publisher }

func (p *Publisher) connect() (*zmq.Context, *zmq.Socket, error) {
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, nil, fmt.Errorf("zeromq context: %w", err)
	}
	sock, err := zctx.NewSocket(zmq.XPUB)
	if err != nil {
		zctx.Term()
		return nil, nil, fmt.Errorf("zeromq socket: %w", err)
	}
	fail := func(err error) (*zmq.Context, *zmq.Socket, error) {
		if p.watch != nil {
			p.watch.Close()
		}
		sock.Close()
		zctx.Term()
		return nil, nil, err
	}
	for _, set := range []error{
		sock.SetXpubNodrop(true),
		// Every subscribe and unsubscribe, so a replacement connection is
		// seen even when it arrives before the old one is reaped.
		sock.SetXpubVerboser(1),
		sock.SetSndhwm(p.opts.SendHWM),
		sock.SetReconnectIvl(100 * time.Millisecond),
		sock.SetReconnectIvlMax(2 * time.Second),
		sock.SetLinger(0),
		p.opts.Curve.Apply(sock),
	} {
		if set != nil {
			return fail(fmt.Errorf("configure socket: %w", set))
		}
	}
	// Say so when the collector cannot be reached or refuses us: ZeroMQ
	// would otherwise retry in silence while events pile up.
	if p.watch, err = zmqconn.New(zctx, sock, p.opts.Endpoint, p.opts.ConnectTimeout, func(msg string) { p.logger.Warn(msg) }); err != nil {
		return fail(err)
	}
	if err := sock.Connect(p.opts.Endpoint); err != nil {
		return fail(fmt.Errorf("connect %q: %w", p.opts.Endpoint, err))
	}
	return zctx, sock, nil
}

// Mark ties an event to where its producer stands in a source, for
// producers that must resume exactly once after a crash (the agent's file
// tailer).
type Mark struct {
	// Key names the source (a file's identity) and Cursor is the position
	// after this event. With a spool they are written in the same record as
	// the event, and Cursors returns the last of each key at the next start.
	// An event with a Key that Publish refuses because ctx ended is not
	// counted as dropped: its producer reads it again from its cursor.
	Key    string
	Cursor []byte
	// Acked, when set, is called once the collector has stored the event.
	// It runs on the publisher's goroutine: keep it short.
	Acked func()
	// Told marks an event whose producer tells its own client when it is
	// refused (an HTTP intake answering 503): a refusal is then not
	// counted as dropped, since the client sends it again.
	Told bool
}

// Publish validates ev, fills in Time, Host and Publisher when empty, and
// queues it. It does not wait for delivery.
func (p *Publisher) Publish(ctx context.Context, ev schema.Event) error {
	return p.PublishMarked(ctx, ev, Mark{})
}

// PublishMarked is Publish for an event that carries its producer's
// position (see Mark).
func (p *Publisher) PublishMarked(ctx context.Context, ev schema.Event, m Mark) error {
	if err := p.prepare(&ev); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	if err := p.store.put(ctx, &ev, m, p.opts.WhenFull == Drop); err != nil {
		return p.putFailed(ctx, err, m)
	}
	p.queued.Add(1)
	return nil
}

// Item is one event for PublishBatch, with its producer's position.
type Item struct {
	Event schema.Event
	Mark  Mark
}

// PublishBatch publishes items in order, each as PublishMarked would; with
// a spool they are written with one system call, which is most of what a
// spooled event costs. It returns nil when all were queued, otherwise
// each item's error (nil for those queued).
func (p *Publisher) PublishBatch(ctx context.Context, items []Item) []error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(items))
		}
		errs[i] = err
	}
	evs, marks, idx := make([]*schema.Event, 0, len(items)), make([]Mark, 0, len(items)), make([]int, 0, len(items))
	for i := range items {
		if err := p.prepare(&items[i].Event); err != nil {
			fail(i, err)
			continue
		}
		evs, marks, idx = append(evs, &items[i].Event), append(marks, items[i].Mark), append(idx, i)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		for _, i := range idx {
			fail(i, ErrClosed)
		}
		return errs
	}
	n, err := p.store.putBatch(ctx, evs, marks, p.opts.WhenFull == Drop)
	p.queued.Add(uint64(n))
	if err != nil {
		for j := n; j < len(idx); j++ { // the rest was not even tried: it fails alike
			fail(idx[j], p.putFailed(ctx, err, marks[j]))
		}
	}
	return errs
}

// prepare fills in Time, Host and Publisher when empty and checks ev as
// the collector will.
func (p *Publisher) prepare(ev *schema.Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Host == "" {
		ev.Host = p.opts.Host
	}
	ev.Publisher = p.opts.Publisher
	if err := ev.Validate(); err != nil {
		p.rejected.Add(1)
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// The size the collector checks, computed the same way.
	if size := schema.EncodedSize(ev); size > p.opts.MaxEvent {
		p.rejected.Add(1)
		return fmt.Errorf("%w: %w: %d bytes, limit %d", ErrInvalid, schema.ErrTooLarge, size, p.opts.MaxEvent)
	}
	return nil
}

// putFailed counts and explains an event the store did not take.
func (p *Publisher) putFailed(ctx context.Context, err error, m Mark) error {
	full := errors.Is(err, errFull)
	switch {
	case m.Told, full && m.Key != "" && ctx.Err() != nil:
		// Not dropped: a producer with a cursor reads the event again, a
		// told client sends it again.
	case full:
		p.dropped.Add(1)
		p.metrics.droppedFull.Inc()
	default:
		p.dropped.Add(1)
		p.metrics.droppedSpool.Inc()
	}
	if full {
		return fmt.Errorf("%w: %w", ErrQueueFull, err)
	}
	return fmt.Errorf("spool: %w", err)
}

// Close stops accepting events and waits, as long as ctx allows, until the
// collector has acknowledged everything queued and sent. Events still
// unacknowledged when ctx ends are counted as dropped and reported in the
// returned error.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return p.closeErr
	}
	p.closed = true
	p.mu.Unlock()

	if dl, ok := ctx.Deadline(); ok {
		p.linger.Store(int64(max(time.Until(dl), 0)))
	} else {
		p.linger.Store(-1)
	}
	close(p.closing)
	select {
	case <-p.done:
	case <-ctx.Done():
		close(p.abort)
		<-p.done
	}
	return p.closeErr
}

// Stats returns the counters so far.
func (p *Publisher) Stats() Stats {
	return Stats{
		Queued: p.queued.Load(), Sent: p.sent.Load(), Acked: p.acked.Load(), Resent: p.resent.Load(),
		Dropped: p.dropped.Load(), Rejected: p.rejected.Load(), Refused: p.refused.Load(),
		Depth: p.store.waiting(), Unacked: int(p.unacked.Load()),
	}
}

// Cursors returns, with a spool, the last cursor of every Mark key that the
// spool holds, including those written by a previous run; nil without one.
func (p *Publisher) Cursors() map[string][]byte {
	if p.spool == nil {
		return nil
	}
	return p.spool.Cursors()
}

// ForgetCursor tells the spool that a Mark key's source is finished.
func (p *Publisher) ForgetCursor(key string) {
	if p.spool != nil {
		p.spool.ForgetCursor(key)
	}
}

// Spooled reports whether events are kept on disk until acknowledged.
func (p *Publisher) Spooled() bool { return p.spool != nil }

// LastSeq is the last sequence number given to topic's events; with a spool
// it survives restarts, so a producer can tell where it left off.
func (p *Publisher) LastSeq(topic string) uint64 { return p.store.lastSeq(topic) }

func (p *Publisher) storeWake() <-chan struct{} { return p.store.wakeup() }

func (p *Publisher) aborted() bool {
	select {
	case <-p.abort:
		return true
	default:
		return false
	}
}
