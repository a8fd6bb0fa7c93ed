// Package zmqconn watches a ZeroMQ client connection and says, in words a
// user can act on, when it does not come up. ZeroMQ reconnects silently for
// ever: a wrong address, a collector that is down, or a CURVE key the
// collector refuses all look like a client that merely waits.
package zmqconn

import (
	"fmt"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Watch follows one client socket's connection through a socket monitor.
// Its owner reads the monitor socket when it is ready (Socket, Read) and
// calls Check from time to time; Watch holds no goroutine.
type Watch struct {
	mon      *zmq.Socket
	endpoint string
	timeout  time.Duration
	report   func(msg string)

	downSince time.Time // when the connection was last not up
	tcp       bool      // a TCP connection is open
	up        bool      // the ZeroMQ handshake succeeded
	warned    bool      // the current outage was reported
	lastFail  string    // the last handshake failure, if any
}

var monitors atomic.Uint64

// New starts monitoring sock, a client socket that connects (or will
// connect) to endpoint. report hears, once per outage, that the connection
// has not come up within timeout and why, and that it came up afterwards.
func New(zctx *zmq.Context, sock *zmq.Socket, endpoint string, timeout time.Duration, report func(msg string)) (*Watch, error) {
	addr := fmt.Sprintf("inproc://zmqconn-%d", monitors.Add(1))
	events := zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED |
		zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
	if err := sock.Monitor(addr, events); err != nil {
		return nil, fmt.Errorf("monitor connection: %w", err)
	}
	newSocket := zmq.NewSocket
	if zctx != nil {
		newSocket = zctx.NewSocket
	}
	mon, err := newSocket(zmq.PAIR)
	if err == nil {
		if err = mon.Connect(addr); err != nil {
			mon.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("monitor connection: %w", err)
	}
	return &Watch{mon: mon, endpoint: endpoint, timeout: timeout, report: report, downSince: time.Now()}, nil
}

// Socket is the monitor socket, to poll for POLLIN beside the client's.
func (w *Watch) Socket() *zmq.Socket { return w.mon }

// Read takes the connection events waiting on the monitor socket.
func (w *Watch) Read() {
	for {
		ev, _, _, err := w.mon.RecvEvent(zmq.DONTWAIT)
		if err != nil {
			return
		}
		switch {
		case ev&zmq.EVENT_CONNECTED != 0:
			w.tcp = true
		case ev&zmq.EVENT_HANDSHAKE_SUCCEEDED != 0:
			if w.warned {
				w.report(fmt.Sprintf("connected to %s", w.endpoint))
			}
			w.up, w.warned, w.lastFail = true, false, ""
		case ev&zmq.EVENT_DISCONNECTED != 0:
			if w.up {
				w.downSince = time.Now()
			}
			w.tcp, w.up = false, false
		case ev&zmq.EVENT_HANDSHAKE_FAILED_AUTH != 0:
			w.lastFail = "the collector refused this client's key (is its .pub in the collector's --authorized-keys?)"
		default: // a handshake failed on the protocol level
			w.lastFail = "the handshake failed: plaintext on one side and CURVE on the other, or a wrong --curve-server-key, or not a zlog collector"
		}
	}
}

// Check reports a connection that has been down longer than the timeout,
// once per outage.
func (w *Watch) Check() {
	if w.up || w.warned || time.Since(w.downSince) < w.timeout {
		return
	}
	w.warned = true
	switch {
	case w.lastFail != "":
		w.report(fmt.Sprintf("no connection to %s for %v: %s; still retrying", w.endpoint, w.timeout, w.lastFail))
	case w.tcp:
		w.report(fmt.Sprintf("connected to %s but no ZeroMQ handshake for %v (refused, or a wrong key?); still retrying", w.endpoint, w.timeout))
	default:
		w.report(fmt.Sprintf("cannot connect to %s for %v (nothing listening there, or unreachable); still retrying", w.endpoint, w.timeout))
	}
}

// Close stops monitoring; call it before closing the client socket's context.
func (w *Watch) Close() error { return w.mon.Close() }
