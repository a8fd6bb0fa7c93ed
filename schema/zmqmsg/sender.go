package zmqmsg

/*
#cgo !windows pkg-config: libzmq
#include <errno.h>
#include <zmq.h>

// zlog_send sends count frames laid end to end in buf, lengths in lens, as
// one message without blocking. It returns 0, or -1 with errno when a
// frame was refused (EAGAIN for the first: nothing was sent). A frame
// interrupted by a signal (EINTR: Go preempts goroutines with SIGURG) is
// sent again, as zmq4 does: given up, it cost the publisher a go-back
// and a resend of everything after it.
static int zlog_send(void *sock, const char *buf, const size_t *lens, int count) {
	for (int i = 0; i < count; i++) {
		int flags = ZMQ_DONTWAIT | (i < count - 1 ? ZMQ_SNDMORE : 0);
		while (zmq_send(sock, buf, lens[i], flags) < 0) {
			if (errno != EINTR) return -1;
		}
		buf += lens[i];
	}
	return 0;
}
*/
import "C"

import (
	"unsafe"

	zmq "github.com/pebbe/zmq4"
)

// maxFrames is the most frames Send sends in one call; longer messages
// go frame by frame.
const maxFrames = 8

// Sender sends a whole message per cgo call, where zmq4's SendBytes makes
// one per frame (four an event, with a pointer check each). It is not safe
// for concurrent use, like the socket.
type Sender struct {
	sock    *zmq.Socket
	ptr     unsafe.Pointer // nil: zmq4's handle was not reachable
	scratch []byte         // frames copied end to end when they were not
}

// NewSender returns a Sender for sock, which must outlive it. When zmq4's
// handle cannot be reached it still works, frame by frame.
func NewSender(sock *zmq.Socket) *Sender {
	ptr, _ := handle(sock)
	return &Sender{sock: sock, ptr: ptr}
}

// Send sends frames as one message without blocking; the caller decides
// what a full queue (EAGAIN, see zmq.AsErrno) means.
func (s *Sender) Send(frames [][]byte) error {
	if s.ptr == nil || len(frames) == 0 || len(frames) > maxFrames {
		return sendEach(s.sock, frames)
	}
	var lens [maxFrames]C.size_t
	buf := s.contiguous(frames)
	for i, f := range frames {
		lens[i] = C.size_t(len(f))
	}
	if rc, err := C.zlog_send(s.ptr, (*C.char)(unsafe.Pointer(buf)), &lens[0], C.int(len(frames))); rc < 0 {
		return zmq.AsErrno(err) // as zmq4 returns it: callers compare with zmq.AsErrno
	}
	return nil
}

// contiguous returns where the frames lie end to end: where they already
// do (an encoded event is one allocation), else in a copy. Addresses are
// compared as numbers, never made into pointers past an allocation.
func (s *Sender) contiguous(frames [][]byte) *byte {
	base := unsafe.SliceData(frames[0])
	at := uintptr(unsafe.Pointer(base))
	together := base != nil
	for _, f := range frames {
		together = together && (len(f) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(f))) == at)
		at += uintptr(len(f))
	}
	if together {
		return base
	}
	s.scratch = s.scratch[:0]
	for _, f := range frames {
		s.scratch = append(s.scratch, f...)
	}
	if len(s.scratch) == 0 {
		s.scratch = append(s.scratch, 0) // a valid pointer for all-empty frames
	}
	return unsafe.SliceData(s.scratch)
}

// sendEach sends frame by frame through zmq4.
func sendEach(sock *zmq.Socket, frames [][]byte) error {
	for i, f := range frames {
		flag := zmq.DONTWAIT
		if i < len(frames)-1 {
			flag |= zmq.SNDMORE
		}
		if _, err := sock.SendBytes(f, flag); err != nil {
			return err
		}
	}
	return nil
}
