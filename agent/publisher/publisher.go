// Package publisher sends zlog events to a collector over ZeroMQ.
//
// Every event gets a sequence number in its stream (publisher id + topic)
// and stays in memory until the collector acknowledges it as stored; after a
// reconnect, or when acks stop advancing, everything unacknowledged is sent
// again in order (go-back-N) and the collector drops what it already has. So
// while the publisher runs, the collector's index gets every event exactly
// once through collector crashes, restarts and dropped connections.
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
// counted in Stats().Dropped and the zlog_publisher_dropped_total metric.
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
	// AckTimeout: with events unacknowledged and no ack progress for this
	// long, resend them all (go-back-N). 3s.
	AckTimeout time.Duration

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
	Resent   uint64 // sent again after a reconnect or an ack timeout
	Dropped  uint64 // refused (queue full) or abandoned at Close
	Rejected uint64 // invalid events refused by Publish
	Depth    int    // events waiting in the queue now
	Unacked  int    // events sent and not yet acknowledged
}

// Publisher is safe for concurrent use by many goroutines.
type Publisher struct {
	opts   Options
	logger *slog.Logger
	queue  chan queuedEvent

	mu      sync.RWMutex // guards closed against Publish racing Close
	closed  bool
	closing chan struct{} // closed by Close: drain the queue, then stop
	abort   chan struct{} // closed when Close's context ends: stop now
	done    chan struct{} // closed when the sender goroutine has exited
	linger  atomic.Int64  // ns the socket may linger at close; -1 forever

	spool     *spool.Spool
	recovered []spool.Record // unacknowledged events found in the spool at start
	spoolMu   sync.Mutex     // orders spool appends with the handoff to the sender
	handoff   []spooledEvent // spooled events waiting for the sender
	wake      chan struct{}

	queued, sent, acked, resent, dropped, rejected atomic.Uint64
	unacked                                        atomic.Int64
	closeErr                                       error
	metrics                                        *metrics
}

// New connects to the collector and starts the sender goroutine.
func New(opts Options, logger *slog.Logger) (*Publisher, error) {
	explicitID := opts.Publisher
	opts.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var sp *spool.Spool
	var recovered []spool.Record
	if opts.Spool.Dir != "" {
		var err error
		sp, recovered, err = spool.Open(opts.Spool, func() string { return opts.Publisher })
		if err != nil {
			return nil, err
		}
		if explicitID != "" && explicitID != sp.PublisherID() {
			sp.Close()
			return nil, fmt.Errorf("spool %q belongs to publisher %q, not %q", opts.Spool.Dir, sp.PublisherID(), explicitID)
		}
		opts.Publisher = sp.PublisherID()
		if sp.Corrupt > 0 {
			logger.Warn("spool: skipped torn or corrupt records", "dir", opts.Spool.Dir, "records", sp.Corrupt)
		}
		if len(recovered) > 0 {
			logger.Info("spool: resending unacknowledged events from the last run", "events", len(recovered))
		}
	}
	p := &Publisher{
		spool:     sp,
		recovered: recovered,
		wake:      make(chan struct{}, 1),
		opts:      opts,
		logger:    logger.With("component", "publisher", "publisher", opts.Publisher),
		queue:     make(chan queuedEvent, opts.QueueSize),
		closing:   make(chan struct{}),
		abort:     make(chan struct{}),
		done:      make(chan struct{}),
	}
	p.metrics = newMetrics(p, opts.Registerer)
	zctx, sock, err := p.connect()
	if err != nil {
		return nil, err
	}
	go p.run(zctx, sock)
	return p, nil
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
			sock.Close()
			zctx.Term()
			return nil, nil, fmt.Errorf("configure socket: %w", set)
		}
	}
	if err := sock.Connect(p.opts.Endpoint); err != nil {
		sock.Close()
		zctx.Term()
		return nil, nil, fmt.Errorf("connect %q: %w", p.opts.Endpoint, err)
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
	Key    string
	Cursor []byte
	// Acked, when set, is called once the collector has stored the event.
	// It runs on the publisher's goroutine: keep it short.
	Acked func()
}

type queuedEvent struct {
	ev    schema.Event
	acked func()
}

type spooledEvent struct {
	rec   spool.Record
	acked func()
}

// Publish validates ev, fills in Time, Host and Publisher when empty, and
// queues it. It does not wait for delivery.
func (p *Publisher) Publish(ctx context.Context, ev schema.Event) error {
	return p.PublishMarked(ctx, ev, Mark{})
}

// PublishMarked is Publish for an event that carries its producer's
// position (see Mark).
func (p *Publisher) PublishMarked(ctx context.Context, ev schema.Event, m Mark) error {
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
	if size := len(ev.Message) + len(ev.Host) + len(ev.Publisher) + 96; size > p.opts.MaxEvent {
		p.rejected.Add(1)
		return fmt.Errorf("%w: %w: about %d bytes, limit %d", ErrInvalid, schema.ErrTooLarge, size, p.opts.MaxEvent)
	}

	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	if p.spool != nil {
		return p.publishSpooled(ctx, ev, m)
	}
	qe := queuedEvent{ev: ev, acked: m.Acked}
	select {
	case p.queue <- qe:
		p.queued.Add(1)
		return nil
	default:
	}
	if p.opts.WhenFull == Drop {
		p.dropped.Add(1)
		p.metrics.droppedFull.Inc()
		return ErrQueueFull
	}
	select {
	case p.queue <- qe:
		p.queued.Add(1)
		return nil
	case <-ctx.Done():
		p.dropped.Add(1)
		p.metrics.droppedFull.Inc()
		return fmt.Errorf("%w: %w", ErrQueueFull, ctx.Err())
	}
}

// publishSpooled numbers ev, writes it to the spool and hands it to the
// sender, all in one order. A full spool blocks until acks free space or ctx
// ends (WhenFull=Block), or refuses at once (WhenFull=Drop); with
// Spool.DropOldest it never fills, deleting (and counting) its oldest events.
func (p *Publisher) publishSpooled(ctx context.Context, ev schema.Event, m Mark) error {
	topic := ev.Topic()
	for wait := time.Millisecond; ; wait = min(wait*2, 50*time.Millisecond) {
		p.spoolMu.Lock()
		rec, err := p.spool.AppendNext(spool.Record{Topic: topic, Key: m.Key, Cursor: m.Cursor}, func(seq uint64) ([][]byte, error) {
			ev.Seq = seq
			return schema.Encode(nil, &ev)
		})
		if err == nil {
			p.handoff = append(p.handoff, spooledEvent{rec: rec, acked: m.Acked})
			p.spoolMu.Unlock()
			p.queued.Add(1)
			select {
			case p.wake <- struct{}{}:
			default:
			}
			return nil
		}
		p.spoolMu.Unlock()
		if !errors.Is(err, spool.ErrFull) {
			p.dropped.Add(1)
			p.metrics.droppedSpool.Inc()
			return fmt.Errorf("spool: %w", err)
		}
		if p.opts.WhenFull == Drop {
			p.dropped.Add(1)
			p.metrics.droppedFull.Inc()
			return fmt.Errorf("%w: %w", ErrQueueFull, err)
		}
		select {
		case <-ctx.Done():
			p.dropped.Add(1)
			p.metrics.droppedFull.Inc()
			return fmt.Errorf("%w: %w: %w", ErrQueueFull, err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// takeHandoff returns the spooled events waiting for the sender.
func (p *Publisher) takeHandoff() []spooledEvent {
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	out := p.handoff
	p.handoff = nil
	return out
}

// handoffLen counts spooled events still waiting for the sender.
func (p *Publisher) handoffLen() int {
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	return len(p.handoff)
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
		Dropped: p.dropped.Load(), Rejected: p.rejected.Load(), Depth: len(p.queue), Unacked: int(p.unacked.Load()),
	}
}

func sendFrames(sock *zmq.Socket, frames [][]byte) (int, error) {
	total := 0
	for i, f := range frames {
		flag := zmq.DONTWAIT
		if i < len(frames)-1 {
			flag |= zmq.SNDMORE
		}
		n, err := sock.SendBytes(f, flag)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
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
func (p *Publisher) LastSeq(topic string) uint64 {
	if p.spool != nil {
		return p.spool.LastSeq(topic)
	}
	return 0
}
