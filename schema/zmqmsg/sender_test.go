package zmqmsg

import (
	"bytes"
	"syscall"
	"testing"

	zmq "github.com/pebbe/zmq4"
)

func TestSenderSendsWholeMessages(t *testing.T) {
	push, pull := pair(t)
	s := NewSender(push)
	if s.ptr == nil {
		t.Fatal("the libzmq handle of a zmq4 socket was not found")
	}
	one := []byte("topic.infoENVELOPEmessage")
	many := make([][]byte, 10)
	for i := range many {
		many[i] = []byte{byte('a' + i)}
	}
	sent := [][][]byte{
		{one[:10], one[10:18], one[18:]},                        // one allocation, as Encode makes
		{[]byte("apart"), []byte("from"), []byte("each other")}, // copied end to end
		{one[:10], {}, one[10:], nil},                           // empty frames in between
		{{}, {}},                                                // nothing but empty frames
		many,                                                    // over maxFrames: frame by frame
	}
	if s.contiguous(sent[0]) != &one[0] || s.contiguous(sent[2]) != &one[0] || s.contiguous(sent[1]) == &sent[1][0][0] {
		t.Fatal("frames of one allocation were copied, or frames apart were not")
	}
	for _, m := range sent {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewReceiver(pull, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, _ := recvAll(t, r, len(sent), 16)
	for i, m := range got {
		if len(m) != len(sent[i]) {
			t.Fatalf("message %d: %d frames, want %d", i, len(m), len(sent[i]))
		}
		for f := range m {
			if f < KeepFrames && !bytes.Equal(m[f], sent[i][f]) {
				t.Errorf("message %d frame %d: %q, want %q", i, f, m[f], sent[i][f])
			}
		}
	}
}

func TestSenderFullQueueIsEAGAIN(t *testing.T) {
	zctx, _ := zmq.NewContext()
	push, _ := zctx.NewSocket(zmq.PUSH) // no peer: nowhere to queue
	defer func() { push.Close(); zctx.Term() }()
	push.SetLinger(0)
	if err := NewSender(push).Send([][]byte{[]byte("a"), []byte("b")}); zmq.AsErrno(err) != zmq.Errno(syscall.EAGAIN) {
		t.Fatalf("send with no peer: %v, want EAGAIN as zmq.AsErrno reads it", err)
	}
}

// Signals arriving while libzmq works (Go preempts goroutines with
// SIGURG) make zmq_send fail with EINTR now and then; Send sends the
// frame again, as zmq4 does, instead of failing a message that could go.
func TestSenderRetriesInterruptedSends(t *testing.T) {
	push, pull := pair(t)
	push.SetSndhwm(0)
	pull.SetRcvhwm(0)
	s := NewSender(push)
	signalStorm(t)
	frames := [][]byte{[]byte("topic.info"), []byte("envelope"), []byte("message")}
	for i := 0; i < 300000; i++ {
		if err := s.Send(frames); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i%1000 == 999 { // keep the queue short: drain what was sent
			for n := 0; n < 1000; n++ {
				if _, err := pull.RecvMessageBytes(0); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// signalStorm sends the process SIGURG (which the Go runtime takes and
// ignores) without pause until the test ends.
func signalStorm(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				syscall.Kill(syscall.Getpid(), syscall.SIGURG)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}
