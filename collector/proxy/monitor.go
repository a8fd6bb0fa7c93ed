package proxy

import (
	"fmt"

	zmq "github.com/pebbe/zmq4"
)

// monitor receives a socket's handshake failures, so that clients refused
// before any key is checked (plaintext against CURVE) are counted too.
type monitor struct {
	sock *zmq.Socket
	role string
}

func (p *Proxy) monitor(s *zmq.Socket, role string) (monitor, error) {
	addr := fmt.Sprintf("inproc://zlog-monitor-%s-%p", role, p)
	if err := s.Monitor(addr, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL|zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL); err != nil {
		return monitor{}, fmt.Errorf("monitor %s socket: %w", role, err)
	}
	m, err := p.zctx.NewSocket(zmq.PAIR)
	if err == nil {
		if err = m.Connect(addr); err != nil {
			m.Close()
		}
	}
	if err != nil {
		return monitor{}, fmt.Errorf("monitor %s socket: %w", role, err)
	}
	return monitor{sock: m, role: role}, nil
}

func (p *Proxy) readMonitor(m monitor) {
	for {
		ev, addr, value, err := m.sock.RecvEvent(zmq.DONTWAIT)
		if err != nil {
			return
		}
		p.handshakes.WithLabelValues(m.role).Inc()
		p.handshakeLog.Note(m.role, fmt.Errorf("%s handshake failed with %s (%v, code %d): a plaintext client of a CURVE collector, a CURVE client of a plaintext one, or not ZeroMQ", m.role, addr, ev, value))
	}
}
