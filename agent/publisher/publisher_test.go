package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/schema"
)

func freeEndpoint(t *testing.T) string { return freeEndpointB(t) }

func freeEndpointB(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "tcp://" + ln.Addr().String()
}

// fakeCollector binds an XSUB socket like the collector and subscribes to all.
func fakeCollector(t *testing.T, endpoint string) *zmq.Socket {
	t.Helper()
	sock, err := zmq.NewSocket(zmq.XSUB)
	if err != nil {
		t.Fatal(err)
	}
	sock.SetLinger(0)
	// A socket closed a moment ago may still hold the port: libzmq closes
	// listeners asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := sock.Bind(endpoint)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := sock.SendBytes([]byte{1}, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	return sock
}

// ack acknowledges evs the way the collector does.
func ack(t *testing.T, sock *zmq.Socket, evs []schema.Event) {
	t.Helper()
	byPub := map[string]map[string]uint64{}
	for _, ev := range evs {
		if byPub[ev.Publisher] == nil {
			byPub[ev.Publisher] = map[string]uint64{}
		}
		byPub[ev.Publisher][ev.Topic()] = max(byPub[ev.Publisher][ev.Topic()], ev.Seq)
	}
	for pub, hwm := range byPub {
		frame, err := schema.EncodeAck(schema.Ack{Publisher: pub, HWM: hwm})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sock.SendBytes(frame, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func receive(t *testing.T, sock *zmq.Socket, n int) []schema.Event {
	t.Helper()
	sock.SetRcvtimeo(5 * time.Second)
	var out []schema.Event
	for len(out) < n {
		frames, err := sock.RecvMessageBytes(0)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		ev, err := schema.Decode(frames, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// Events published before the collector exists are held, not sent into a
// connection nobody subscribed on, and all arrive once it binds.
func TestPublishBeforeCollectorStarts(t *testing.T) {
	endpoint := freeEndpoint(t)
	p, err := New(Options{Endpoint: endpoint, Publisher: "t1", Host: "h"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := 0; i < n; i++ {
		if err := p.Publish(context.Background(), schema.Event{Service: "early", Level: schema.LevelInfo, Message: fmt.Sprint("event ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if s := p.Stats(); s.Sent != 0 {
		t.Fatalf("sent %d events with no collector", s.Sent)
	}
	col := fakeCollector(t, endpoint)
	got := receive(t, col, n)
	for i, ev := range got {
		if ev.Message != fmt.Sprint("event ", i) || ev.Publisher != "t1" || ev.Host != "h" || ev.Time.IsZero() || ev.Seq != uint64(i+1) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	ack(t, col, got)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Sent != n || s.Acked != n || s.Dropped != 0 || s.Unacked != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// Close delivers what is queued; with no collector it gives up at the
// deadline and says how many events it could not deliver.
func TestCloseDeliversOrReports(t *testing.T) {
	endpoint := freeEndpoint(t)
	col := fakeCollector(t, endpoint)
	p, err := New(Options{Endpoint: endpoint}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		p.Publish(context.Background(), schema.Event{Service: "closing", Level: schema.LevelWarn, Message: "m"})
	}
	// libzmq attaches a new connection (and resends the XSUB's subscription)
	// only while the socket is in use, as the collector's always is.
	got := make(chan int)
	go func() {
		col.SetRcvtimeo(5 * time.Second)
		var evs []schema.Event
		for len(evs) < 2000 {
			frames, err := col.RecvMessageBytes(0)
			if err != nil {
				break
			}
			ev, _ := schema.Decode(frames, 0)
			evs = append(evs, ev)
		}
		ack(t, col, evs)
		got <- len(evs)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != 2000 {
		t.Fatalf("collector received %d of 2000", n)
	}
	if err := p.Publish(context.Background(), schema.Event{Service: "closing", Level: schema.LevelWarn}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}

	lonely, err := New(Options{Endpoint: freeEndpoint(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		lonely.Publish(context.Background(), schema.Event{Service: "nobody", Level: schema.LevelInfo})
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if err := lonely.Close(ctx2); err == nil {
		t.Fatal("Close with no collector reported success")
	}
	// Received but never acknowledged is not delivered either.
	endpoint3 := freeEndpoint(t)
	mute := fakeCollector(t, endpoint3)
	unacked, _ := New(Options{Endpoint: endpoint3}, nil)
	for i := 0; i < 10; i++ {
		unacked.Publish(context.Background(), schema.Event{Service: "mute", Level: schema.LevelInfo})
	}
	receive(t, mute, 10)
	ctx3, cancel3 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel3()
	if err := unacked.Close(ctx3); err == nil || unacked.Stats().Dropped != 10 {
		t.Fatalf("Close without acks: %v, %+v", err, unacked.Stats())
	}
	if s := lonely.Stats(); s.Dropped != 10 {
		t.Fatalf("dropped %d, want 10", s.Dropped)
	}
}

func TestQueueFullIsCounted(t *testing.T) {
	p, err := New(Options{Endpoint: freeEndpoint(t), QueueSize: 5, WhenFull: Drop}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		p.Close(ctx)
	}()
	var full int
	for i := 0; i < 20; i++ {
		if err := p.Publish(context.Background(), schema.Event{Service: "full", Level: schema.LevelInfo}); errors.Is(err, ErrQueueFull) {
			full++
		}
	}
	// 5 fit in the queue and one may be held by the sender goroutine.
	if full < 14 || full > 15 || p.Stats().Dropped != uint64(full) {
		t.Fatalf("refused %d, stats %+v", full, p.Stats())
	}

	blocking, _ := New(Options{Endpoint: freeEndpoint(t), QueueSize: 1}, nil)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		blocking.Close(ctx) // no collector: Close gives up at the deadline
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var err2 error
	for i := 0; i < 5 && err2 == nil; i++ {
		err2 = blocking.Publish(ctx, schema.Event{Service: "full", Level: schema.LevelInfo})
	}
	if !errors.Is(err2, ErrQueueFull) || !errors.Is(err2, context.DeadlineExceeded) {
		t.Fatalf("blocking publish on a full queue: %v", err2)
	}
}

func TestInvalidEventsRejected(t *testing.T) {
	p, err := New(Options{Endpoint: freeEndpoint(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	bad := []schema.Event{
		{Service: "Bad Service", Level: schema.LevelInfo},
		{Service: "ok", Level: 0},
		{Service: "ok", Level: schema.LevelInfo, Message: "\xff"},
		{Service: "ok", Level: schema.LevelInfo, Fields: map[string]string{"bad key": "v"}},
		{Service: "ok", Level: schema.LevelInfo, Message: string(make([]byte, schema.DefaultMaxEvent))},
	}
	for _, ev := range bad {
		if err := p.Publish(context.Background(), ev); !errors.Is(err, ErrInvalid) {
			t.Errorf("Publish(%+v...) = %v, want ErrInvalid", ev.Service, err)
		}
	}
	if p.Stats().Rejected != uint64(len(bad)) {
		t.Fatalf("rejected %d", p.Stats().Rejected)
	}
}

// Without acks the publisher resends everything unacknowledged, in order,
// after AckTimeout; once acked it stops.
func TestResendAfterAckTimeout(t *testing.T) {
	endpoint := freeEndpoint(t)
	col := fakeCollector(t, endpoint)
	p, err := New(Options{Endpoint: endpoint, AckTimeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		p.Publish(context.Background(), schema.Event{Service: "resend", Level: schema.LevelInfo, Message: fmt.Sprint(i)})
	}
	first := receive(t, col, 50)
	again := receive(t, col, 50) // nobody acked: the same 50 again
	for i := range first {
		if again[i].Seq != first[i].Seq || again[i].Message != first[i].Message {
			t.Fatalf("resend %d: %+v vs %+v", i, again[i], first[i])
		}
	}
	ack(t, col, again)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Acked != 50 || s.Resent < 50 || s.Unacked != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A new connection after a lost one triggers a resend of what was unacknowledged.
func TestResendAfterReconnect(t *testing.T) {
	endpoint := freeEndpoint(t)
	col := fakeCollector(t, endpoint)
	p, err := New(Options{Endpoint: endpoint, AckTimeout: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		p.Publish(context.Background(), schema.Event{Service: "reconnect", Level: schema.LevelWarn, Message: fmt.Sprint(i)})
	}
	receive(t, col, 20)
	col.Close() // the collector goes away with nothing acknowledged
	col2 := fakeCollector(t, endpoint)
	got := receive(t, col2, 20)
	if got[0].Seq != 1 || got[19].Seq != 20 {
		t.Fatalf("resent %d..%d, want 1..20", got[0].Seq, got[19].Seq)
	}
	ack(t, col2, got)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
