package proxy

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/schema/keys"
)

// ZAP domains of the two sockets: the domain tells the handler which role
// a connecting key needs.
const (
	domainPublish   = "zlog-publish"
	domainSubscribe = "zlog-subscribe"
)

// zapHandler answers ZeroMQ's authentication requests (ZAP, RFC 27) for
// the proxy's CURVE sockets: a key is let in when the allowlist gives it
// the socket's role. pebbe/zmq4's own handler serves only the default
// context and its key maps are unlocked, so a reload on SIGHUP would race
// it; this one lives in the proxy's context and takes a lock.
type zapHandler struct {
	sock     *zmq.Socket
	logger   *slog.Logger
	rejected *prometheus.CounterVec

	mu    sync.RWMutex
	allow keys.Allowlist

	stop atomic.Bool
	done chan struct{}
}

func newZAPHandler(zctx *zmq.Context, allow keys.Allowlist, logger *slog.Logger, rejected *prometheus.CounterVec) (*zapHandler, error) {
	sock, err := zctx.NewSocket(zmq.REP)
	if err != nil {
		return nil, fmt.Errorf("zap socket: %w", err)
	}
	sock.SetLinger(0)
	// The ZAP endpoint is fixed by RFC 27; libzmq asks it for every
	// handshake on a socket with a ZAP domain.
	if err := sock.Bind("inproc://zeromq.zap.01"); err != nil {
		sock.Close()
		return nil, fmt.Errorf("bind zap handler: %w", err)
	}
	z := &zapHandler{sock: sock, logger: logger, rejected: rejected, allow: allow, done: make(chan struct{})}
	go z.run()
	return z, nil
}

// setAllowlist replaces the allowlist and reports whether a key lost a role
// it had (connections made with it must then be dropped).
func (z *zapHandler) setAllowlist(allow keys.Allowlist) (revoked bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for k, role := range z.allow {
		if allow[k]&role != role {
			revoked = true
		}
	}
	z.allow = allow
	return revoked
}

func (z *zapHandler) allowed(domain, key string) bool {
	need := map[string]keys.Role{domainPublish: keys.Publish, domainSubscribe: keys.Subscribe}[domain]
	z.mu.RLock()
	defer z.mu.RUnlock()
	return need != 0 && z.allow[key]&need != 0
}

func (z *zapHandler) run() {
	defer close(z.done)
	defer z.sock.Close()
	poller := zmq.NewPoller()
	poller.Add(z.sock, zmq.POLLIN)
	for !z.stop.Load() {
		polled, err := poller.Poll(100 * time.Millisecond)
		if err != nil || len(polled) == 0 {
			continue
		}
		req, err := z.sock.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			continue
		}
		z.sock.SendMessage(z.answer(req))
	}
}

// answer builds the reply to one request: version, request id, status,
// status text, user id (the client's key, so logs can name it), metadata.
func (z *zapHandler) answer(req [][]byte) []string {
	if len(req) < 6 || string(req[0]) != "1.0" {
		return []string{"1.0", "", "500", "malformed ZAP request", "", ""}
	}
	id, domain, addr, mechanism := string(req[1]), string(req[2]), string(req[3]), string(req[5])
	role := map[string]string{domainPublish: "publish", domainSubscribe: "subscribe"}[domain]
	if mechanism != "CURVE" || len(req) < 7 || len(req[6]) != 32 {
		z.rejected.WithLabelValues(role).Inc()
		z.logger.Warn("connection refused: not CURVE", "role", role, "address", addr, "mechanism", mechanism)
		return []string{"1.0", id, "400", "CURVE required", "", ""}
	}
	key := zmq.Z85encode(string(req[6]))
	if !z.allowed(domain, key) {
		z.rejected.WithLabelValues(role).Inc()
		z.logger.Warn("connection refused: key not in the authorized keys", "role", role, "address", addr, "key", key)
		return []string{"1.0", id, "400", "key not authorized", "", ""}
	}
	z.logger.Debug("connection authorized", "role", role, "address", addr, "key", key)
	return []string{"1.0", id, "200", "OK", key, ""}
}

func (z *zapHandler) close() {
	z.stop.Store(true)
	<-z.done
}
