// Package live subscribes to the collector's XPUB socket: the events it
// forwards as it receives them, filtered by topic prefix at the collector.
package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zlog/zlog/schema/zmqconn"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/keys"
)

// Options for a subscription.
type Options struct {
	Endpoint string   // the collector's XPUB, e.g. tcp://127.0.0.1:4445
	Prefixes []string // topic prefixes; none or "" means every topic
	// Context is the ZeroMQ context to use; nil means the default one. An
	// inproc endpoint needs the context of the socket bound to it.
	Context *zmq.Context
	// Curve, when set, encrypts the subscription and authenticates it to
	// the collector; nil is plaintext.
	Curve *keys.Client
	// QueueEvents is how many events ZeroMQ holds for a slow reader before
	// it drops (the collector's side holds as many again); 100000.
	QueueEvents int
	// Notice, when set, hears when the connection does not come up within
	// ConnectTimeout (5s), with the likely reason, and when it does later.
	Notice         func(string)
	ConnectTimeout time.Duration
}

// Subscriber receives live events. It reconnects by itself when the
// collector restarts. Not safe for concurrent use.
type Subscriber struct {
	sock   *zmq.Socket
	poller *zmq.Poller
	watch  *zmqconn.Watch // nil without Notice
}

// Subscribe connects a SUB socket with the prefixes.
func Subscribe(o Options) (*Subscriber, error) {
	if o.QueueEvents <= 0 {
		o.QueueEvents = 100000
	}
	if len(o.Prefixes) == 0 {
		o.Prefixes = []string{""}
	}
	newSocket := zmq.NewSocket
	if o.Context != nil {
		newSocket = o.Context.NewSocket
	}
	sock, err := newSocket(zmq.SUB)
	if err != nil {
		return nil, fmt.Errorf("zeromq socket: %w", err)
	}
	for _, set := range []error{
		sock.SetRcvhwm(o.QueueEvents),
		sock.SetReconnectIvl(100 * time.Millisecond),
		sock.SetReconnectIvlMax(2 * time.Second),
		// Heartbeats notice a collector that vanished without closing the
		// connection, so the socket reconnects instead of waiting forever.
		sock.SetHeartbeatIvl(2 * time.Second),
		sock.SetHeartbeatTimeout(6 * time.Second),
		sock.SetLinger(0),
		o.Curve.Apply(sock),
	} {
		if set != nil {
			sock.Close()
			return nil, fmt.Errorf("configure socket: %w", set)
		}
	}
	for _, p := range o.Prefixes {
		if err := sock.SetSubscribe(p); err != nil {
			sock.Close()
			return nil, fmt.Errorf("subscribe %q: %w", p, err)
		}
	}
	sub := &Subscriber{sock: sock, poller: zmq.NewPoller()}
	sub.poller.Add(sock, zmq.POLLIN)
	if o.Notice != nil {
		if o.ConnectTimeout <= 0 {
			o.ConnectTimeout = 5 * time.Second
		}
		if sub.watch, err = zmqconn.New(o.Context, sock, o.Endpoint, o.ConnectTimeout, o.Notice); err != nil {
			sock.Close()
			return nil, err
		}
		sub.poller.Add(sub.watch.Socket(), zmq.POLLIN)
	}
	if err := sock.Connect(o.Endpoint); err != nil {
		sub.Close()
		return nil, fmt.Errorf("connect %q: %w", o.Endpoint, err)
	}
	return sub, nil
}

// Recv waits up to wait for an event; ok is false when none came. Anything
// that does not decode is skipped: the collector forwards only valid events.
func (s *Subscriber) Recv(wait time.Duration) (schema.Event, bool, error) {
	if s.watch != nil {
		s.watch.Read()
		s.watch.Check()
	}
	polled, err := s.poller.PollAll(wait)
	if err != nil {
		if zmq.AsErrno(err) == zmq.Errno(syscall.EINTR) { // a signal arrived
			return schema.Event{}, false, nil
		}
		return schema.Event{}, false, fmt.Errorf("poll: %w", err)
	}
	if polled[0].Events&zmq.POLLIN == 0 {
		return schema.Event{}, false, nil
	}
	frames, err := s.sock.RecvMessageBytes(zmq.DONTWAIT)
	if err != nil {
		return schema.Event{}, false, nil
	}
	ev, err := schema.Decode(frames, schema.DefaultMaxEvent)
	if err != nil {
		return schema.Event{}, false, nil
	}
	return ev, true, nil
}

// Close closes the socket and its watch.
func (s *Subscriber) Close() error {
	if s.watch != nil {
		s.watch.Close()
	}
	return s.sock.Close()
}

// Prefixes are the topic prefixes to subscribe to for a filter: per service,
// with a level its exact topics; else the topic prefix; else everything.
func Prefixes(services []string, topic string, minLevel schema.Level) []string {
	if len(services) == 0 {
		return []string{topic}
	}
	var subs []string
	for _, s := range services {
		if minLevel <= schema.LevelTrace {
			subs = append(subs, s+".")
			continue
		}
		for _, l := range schema.Levels() {
			if l >= minLevel {
				subs = append(subs, s+"."+l.String())
			}
		}
	}
	return subs
}

// Filter selects live events. Services, Topic and MinLevel become topic
// subscriptions, so the collector filters; Host, Labels and Words are
// checked here.
type Filter struct {
	Services []string
	Topic    string // topic prefix
	Host     string
	Labels   schema.Labels // source labels the event must all have
	MinLevel schema.Level
	Words    []string // each must appear in the message or a field value, ignoring case
}

// Prefixes are the filter's topic subscriptions.
func (f Filter) Prefixes() []string { return Prefixes(f.Services, f.Topic, f.MinLevel) }

// Match reports whether ev passes the filter.
func (f Filter) Match(ev *schema.Event) bool {
	if ev.Level < f.MinLevel || (f.Host != "" && ev.Host != f.Host) || !strings.HasPrefix(ev.Topic(), f.Topic) || !ev.Labels.Contains(f.Labels) {
		return false
	}
	if len(f.Services) > 0 && !slices.Contains(f.Services, ev.Service) {
		return false
	}
	if len(f.Words) == 0 {
		return true
	}
	text := strings.ToLower(ev.Message)
	for _, v := range ev.Fields {
		text += "\n" + strings.ToLower(schema.FormatValue(v))
	}
	for _, w := range f.Words {
		if !strings.Contains(text, strings.ToLower(strings.Trim(w, `"`))) {
			return false
		}
	}
	return true
}

// ErrStop, returned by an emit function, ends Tail or Follow without error.
var ErrStop = errors.New("stop")

// Tail emits the live events that pass f until ctx ends or emit stops it.
// Live delivery is at most once: events are lost while disconnected, or
// when this reader falls more than the queues behind. Such losses show as
// holes in a stream's sequence numbers (checked before the local filters,
// on every event of the subscribed topics), and notice is told about each.
func Tail(ctx context.Context, o Options, f Filter, emit func(*schema.Event) error, notice func(string)) error {
	o.Prefixes = f.Prefixes()
	sub, err := Subscribe(o)
	if err != nil {
		return err
	}
	defer sub.Close()
	last := make(map[schema.Stream]uint64)
	for ctx.Err() == nil {
		ev, ok, err := sub.Recv(200 * time.Millisecond)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if ev.Seq != 0 {
			st := schema.Stream{Publisher: ev.Publisher, Topic: ev.Topic()}
			if prev, seen := last[st]; seen && ev.Seq > prev+1 && notice != nil {
				notice(fmt.Sprintf("missed %d live events of publisher %s topic %s (seq %d..%d): disconnected or reading too slowly; logq search finds them", ev.Seq-prev-1, st.Publisher, st.Topic, prev+1, ev.Seq-1))
			}
			last[st] = max(last[st], ev.Seq)
		}
		if !f.Match(&ev) {
			continue
		}
		if err := emit(&ev); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Follow subscribes live, then hands over to query.Follow: the store's
// index's matches, then live ones, with no gap or repeat at the seam. notice
// is told about sequence numbers neither live nor in the index.
func Follow(ctx context.Context, s query.Followable, q query.Query, o Options, emit func(*schema.Event) error, notice func(string)) error {
	o.Prefixes = Prefixes(q.Services, q.TopicPrefix, q.MinLevel)
	sub, err := Subscribe(o)
	if err != nil {
		return err
	}
	defer sub.Close()
	err = query.Follow(ctx, s, q, sub, emit, query.FollowOptions{Gap: func(st schema.Stream, from, to uint64) {
		if notice != nil {
			notice(fmt.Sprintf("events %d..%d of publisher %s topic %s were neither received live nor found in the index", from, to, st.Publisher, st.Topic))
		}
	}})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}
