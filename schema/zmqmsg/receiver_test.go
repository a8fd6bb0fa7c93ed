package zmqmsg

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

func pair(t *testing.T) (push, pull *zmq.Socket) {
	t.Helper()
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	push, _ = zctx.NewSocket(zmq.PUSH)
	pull, _ = zctx.NewSocket(zmq.PULL)
	t.Cleanup(func() {
		push.Close()
		pull.Close()
		zctx.Term()
	})
	addr := fmt.Sprintf("inproc://zmqmsg-%s", t.Name())
	if err := pull.Bind(addr); err != nil {
		t.Fatal(err)
	}
	if err := push.Connect(addr); err != nil {
		t.Fatal(err)
	}
	return push, pull
}

func send(t *testing.T, sock *zmq.Socket, frames [][]byte) {
	t.Helper()
	parts := make([]any, len(frames))
	for i, f := range frames {
		parts[i] = f
	}
	if _, err := sock.SendMessage(parts...); err != nil {
		t.Fatal(err)
	}
}

// recvAll receives until want messages arrived, in batches of at most max.
func recvAll(t *testing.T, r *Receiver, want, max int) (got [][][]byte, batches int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		n, err := r.Recv(max)
		if err != nil {
			t.Fatal(err)
		}
		if n > max {
			t.Fatalf("Recv(%d) held %d messages", max, n)
		}
		if n > 0 {
			batches++
		}
		var frames [][]byte
		for ok := true; ; {
			if frames, ok = r.Next(frames); !ok {
				break
			}
			copied := make([][]byte, len(frames))
			for i, f := range frames {
				if f != nil {
					copied[i] = bytes.Clone(f)
				}
			}
			got = append(got, copied)
		}
	}
	return got, batches
}

func TestReceiverKeepsMessagesWhole(t *testing.T) {
	push, pull := pair(t)
	r, err := NewReceiver(pull, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	big := bytes.Repeat([]byte("x"), 1<<20)
	many := make([][]byte, 12)
	for i := range many {
		many[i] = []byte{byte(i)}
	}
	sent := [][][]byte{
		{[]byte("svc.info"), []byte("env"), []byte("message")},
		{[]byte("svc.warn"), {}, {}, []byte("fields")},
		{[]byte("a.error"), []byte("e"), big, []byte("f"), []byte("l")},
		many,
		{[]byte("one frame")},
	}
	for i := 0; i < 3; i++ { // more than one batch of 4
		for _, m := range sent {
			send(t, push, m)
		}
	}
	got, batches := recvAll(t, r, 3*len(sent), 4)
	if batches < 4 {
		t.Errorf("%d messages came in %d batches of at most 4", len(got), batches)
	}
	for i, m := range got {
		want := sent[i%len(sent)]
		if len(m) != len(want) {
			t.Fatalf("message %d: %d frames, want %d", i, len(m), len(want))
		}
		for f := range m {
			dropped := f >= KeepFrames
			if dropped && m[f] != nil || !dropped && !bytes.Equal(m[f], want[f]) {
				t.Errorf("message %d frame %d: got %d bytes %.20q, want %d bytes (dropped %v)", i, f, len(m[f]), m[f], len(want[f]), dropped)
			}
		}
	}
}

func TestReceiverEmptyAndRefused(t *testing.T) {
	push, pull := pair(t)
	r, err := NewReceiver(pull, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := r.Recv(16); n != 0 || err != nil {
		t.Fatalf("nothing waiting: Recv = %d, %v; want 0, nil", n, err)
	}
	if _, ok := r.Next(nil); ok {
		t.Fatal("Next returned a message from an empty batch")
	}
	wrong, err := NewReceiver(push, 1) // a PUSH socket cannot receive
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if n, err := wrong.Recv(1); n != 0 || !errors.Is(err, syscall.ENOTSUP) {
		t.Fatalf("receiving on PUSH: Recv = %d, %v; want 0, ENOTSUP", n, err)
	}
}

func TestHandleRefusesNil(t *testing.T) {
	if _, err := NewReceiver(nil, 1); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("NewReceiver(nil) = %v, want ErrNoSocket", err)
	}
}

// A signal that interrupts the receipt of a message's later frame must
// not cut the message in two: every message of three frames sent through
// a storm of signals comes out whole.
func TestReceiverRetriesInterruptedFrames(t *testing.T) {
	push, pull := pair(t)
	push.SetSndhwm(1000)
	const total = 200000
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			if _, err := push.SendMessage("topic.info", "envelope", "message"); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	r, err := NewReceiver(pull, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	signalStorm(t)
	var frames [][]byte
	deadline := time.Now().Add(30 * time.Second)
	for got := 0; got < total; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages received in 30 s", got, total)
		}
		if _, err := r.Recv(64); err != nil {
			t.Fatal(err)
		}
		for ok := true; ; got++ {
			if frames, ok = r.Next(frames); !ok {
				break
			}
			if len(frames) != 3 || string(frames[2]) != "message" {
				t.Fatalf("message %d came as %q", got, frames)
			}
		}
		r.Release()
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}
