package zmqmsg

/*
#cgo !windows pkg-config: libzmq
#include <errno.h>
#include <stdlib.h>
#include <zmq.h>

// zlog_recv_batch receives whole messages from sock without blocking until
// max messages are read, fewer than keep frame slots remain, or no message
// is waiting. Frames past keep in one message are received and released;
// counts[m] still says how many the message had. It returns the number of
// messages read, or -1 with errno when the socket failed before any.
static int zlog_recv_batch(void *sock, zmq_msg_t *msgs, int slots, int keep,
	void **data, size_t *sizes, int *counts, int max, int *used) {
	int n = 0, u = 0;
	while (n < max && slots - u >= keep) {
		zmq_msg_t *m = &msgs[u];
		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) {
			int e = errno;
			zmq_msg_close(m);
			if (n > 0 || e == EAGAIN || e == EINTR) break;
			*used = u;
			errno = e;
			return -1;
		}
		int count = 1, more = zmq_msg_more(m);
		data[u] = zmq_msg_data(m); sizes[u] = zmq_msg_size(m); u++;
		while (more) {
			zmq_msg_t spare, *f = count < keep ? &msgs[u] : &spare;
			zmq_msg_init(f);
			// A signal (Go preempts goroutines with SIGURG) interrupts a
			// frame now and then: it is received again, as zmq4 does, where
			// giving up cut the message in two (measured: an event of the
			// 10M load rejected as "got 2 frames" and its last frame
			// dropped as "got 1").
			int rc;
			while ((rc = zmq_msg_recv(f, sock, 0)) < 0 && errno == EINTR) {}
			if (rc < 0) { zmq_msg_close(f); break; }
			more = zmq_msg_more(f);
			if (f == &spare) { zmq_msg_close(f); } else {
				data[u] = zmq_msg_data(f); sizes[u] = zmq_msg_size(f); u++;
			}
			count++;
		}
		counts[n++] = count;
	}
	*used = u;
	return n;
}

static void zlog_release(zmq_msg_t *msgs, int used) {
	for (int i = 0; i < used; i++) zmq_msg_close(&msgs[i]);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
)

// KeepFrames is how many frames of one message a Receiver keeps; the
// frames after them are counted and dropped (events have at most five).
const KeepFrames = 8

// Receiver receives whole messages a batch per cgo call and lends their
// frames from C memory. zmq4's RecvMessageBytes makes six cgo calls and a
// Go allocation per frame (init, receive, data, copy, close, and a
// getsockopt for "more"): with four frames an event, a fifth of the
// collector's CPU at 170k events/s. A Receiver makes two per batch: one
// receives up to a batch of messages, one releases them.
//
// Receiver holds one batch of received messages in C memory. It is not
// safe for concurrent use; its frames are valid until Release.
type Receiver struct {
	sock   unsafe.Pointer
	slots  int
	msgs   []C.zmq_msg_t // C arrays seen as Go slices
	data   []unsafe.Pointer
	sizes  []C.size_t
	counts []C.int
	used   int // frames held
	n      int // messages held
	msg    int // the next message Next returns
	frame  int // its first frame
}

// NewReceiver returns a Receiver for sock holding up to maxMessages messages per
// batch. sock must outlive it; Close frees it.
func NewReceiver(sock *zmq.Socket, maxMessages int) (*Receiver, error) {
	ptr, err := handle(sock)
	if err != nil {
		return nil, err
	}
	maxMessages = max(maxMessages, 1)
	// Events are 3 to 5 frames; a batch stops early rather than overflow.
	r := &Receiver{sock: ptr, slots: maxMessages*5 + KeepFrames}
	var ok [4]bool
	r.msgs, ok[0] = calloc[C.zmq_msg_t](r.slots)
	r.data, ok[1] = calloc[unsafe.Pointer](r.slots)
	r.sizes, ok[2] = calloc[C.size_t](r.slots)
	r.counts, ok[3] = calloc[C.int](r.slots)
	if ok != [4]bool{true, true, true, true} {
		r.Close()
		return nil, fmt.Errorf("zmqmsg: no memory for a batch of %d messages", maxMessages)
	}
	return r, nil
}

// Recv releases the batch held and receives up to max messages without
// blocking. It returns how many it holds; zero with a nil error means none
// was waiting.
func (r *Receiver) Recv(max int) (int, error) {
	r.Release()
	var used C.int
	n, err := C.zlog_recv_batch(r.sock, &r.msgs[0], C.int(r.slots), C.int(KeepFrames),
		(*unsafe.Pointer)(unsafe.Pointer(&r.data[0])), &r.sizes[0], &r.counts[0], C.int(max), &used)
	r.used = int(used)
	if n < 0 {
		return 0, fmt.Errorf("zmqmsg: receive: %w", err)
	}
	r.n = int(n)
	return r.n, nil
}

// Next appends the frames of the next message held to dst[:0] and returns
// them, or false when all were returned. The slices point into C memory
// that Release frees. A message with more than KeepFrames frames gets nil
// frames for the ones dropped, so its frame count stays true.
func (r *Receiver) Next(dst [][]byte) ([][]byte, bool) {
	dst = dst[:0]
	if r.msg >= r.n {
		return dst, false
	}
	count := int(r.counts[r.msg])
	kept := min(count, KeepFrames)
	for f := r.frame; f < r.frame+kept; f++ {
		dst = append(dst, unsafe.Slice((*byte)(r.data[f]), int(r.sizes[f])))
	}
	r.msg++
	r.frame += kept
	for len(dst) < count {
		dst = append(dst, nil)
	}
	return dst, true
}

// Release frees the messages held; frames from Next are invalid after it.
func (r *Receiver) Release() {
	if r.used > 0 {
		C.zlog_release(&r.msgs[0], C.int(r.used))
	}
	r.used, r.n, r.msg, r.frame = 0, 0, 0, 0
}

// Close releases what is held and frees the Receiver's memory.
func (r *Receiver) Close() {
	if r.msgs != nil {
		r.Release()
	}
	free(r.msgs)
	free(r.data)
	free(r.sizes)
	free(r.counts)
	r.msgs, r.data, r.sizes, r.counts = nil, nil, nil, nil
}

// calloc returns n zeroed Ts in C memory, or false when there is none.
func calloc[T any](n int) ([]T, bool) {
	var t T
	p := C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(t)))
	if p == nil {
		return nil, false
	}
	return unsafe.Slice((*T)(p), n), true
}

// free frees what calloc returned; nil is nothing to free.
func free[T any](s []T) {
	if s != nil {
		C.free(unsafe.Pointer(unsafe.SliceData(s)))
	}
}
