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
