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
	// 5 fit in the queue; with no collector the sender takes none of them.
	if full != 15 || p.Stats().Dropped != uint64(full) {
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
		{Service: "ok", Level: schema.LevelInfo, Fields: schema.Fields{"bad key": "v"}},
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

// control sends a control frame the way the collector does.
func control(t *testing.T, sock *zmq.Socket, frame []byte) {
	t.Helper()
	if _, err := sock.SendBytes(frame, 0); err != nil {
		t.Fatal(err)
	}
}

// nothingFor asserts the collector receives nothing within d.
func nothingFor(t *testing.T, sock *zmq.Socket, d time.Duration) {
	t.Helper()
	sock.SetRcvtimeo(d)
	if frames, err := sock.RecvMessageBytes(0); err == nil {
		ev, _ := schema.Decode(frames, 0)
		t.Fatalf("received %+v, want nothing", ev)
	}
}

// Fault 11: without acks the publisher resends only when the collector says
// it is alive and has nothing waiting to be stored; a silent collector
// (stopped) or a busy one (a backlog) gets no resends.
func TestResendOnlyIntoAnIdleCollector(t *testing.T) {
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
	nothingFor(t, col, 600*time.Millisecond) // silent collector: no resend
	control(t, col, schema.EncodeHeartbeat(schema.Heartbeat{Backlog: 5000}))
	nothingFor(t, col, 600*time.Millisecond) // busy collector: no resend
	control(t, col, schema.EncodeHeartbeat(schema.Heartbeat{Backlog: 0}))
	again := receive(t, col, 50) // idle and nothing acked: the same 50 again
	for i := range first {
		if again[i].Seq != first[i].Seq || again[i].Message != first[i].Message {
			t.Fatalf("resend %d: %+v vs %+v", i, again[i], first[i])
		}
	}
	if again[0].Prev != 0 || again[1].Prev != 1 {
		t.Fatalf("resent prevs %d, %d: want 0 (nothing held before) and 1", again[0].Prev, again[1].Prev)
	}
	ack(t, col, again)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Acked != 50 || s.Resent != 50 || s.Unacked != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A nack resends the stream from what the collector has, with prev saying
// which earlier events the publisher still holds; a rejected event is
// dropped, counted and reported, and the stream moves on.
func TestNackAndReject(t *testing.T) {
	endpoint := freeEndpoint(t)
	col := fakeCollector(t, endpoint)
	p, err := New(Options{Endpoint: endpoint, Publisher: "pn", AckTimeout: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		p.Publish(context.Background(), schema.Event{Service: "svc", Level: schema.LevelInfo, Message: fmt.Sprint(i)})
	}
	got := receive(t, col, 10)
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.Prev != uint64(i) {
			t.Fatalf("event %d: seq %d prev %d", i, ev.Seq, ev.Prev)
		}
	}
	ack(t, col, got[:3]) // 1..3 stored
	frame, _ := schema.EncodeReject(schema.Reject{Publisher: "pn", Topic: "svc.info", Seq: 5, Reason: "event too large"})
	control(t, col, frame)
	frame, _ = schema.EncodeNack(schema.Nack{Publisher: "pn", Topic: "svc.info", HWM: 3})
	control(t, col, frame)
	again := receive(t, col, 6) // 4, 6..10: 5 was rejected
	want := []struct{ seq, prev uint64 }{{4, 0}, {6, 4}, {7, 6}, {8, 7}, {9, 8}, {10, 9}}
	for i, ev := range again {
		if ev.Seq != want[i].seq || ev.Prev != want[i].prev {
			t.Fatalf("resent %d: seq %d prev %d, want %+v", i, ev.Seq, ev.Prev, want[i])
		}
	}
	ack(t, col, again)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = p.Close(ctx)
	if !errors.Is(err, ErrDropped) {
		t.Fatalf("Close after a rejection: %v, want ErrDropped", err)
	}
	if s := p.Stats(); s.Refused != 1 || s.Acked != 9 || s.Unacked != 0 {
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
