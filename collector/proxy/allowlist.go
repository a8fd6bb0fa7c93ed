package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/schema/keys"
)

// SetAllowlist replaces the CURVE allowlist (on SIGHUP). New handshakes
// follow it at once; when a key lost a role, the proxy also drops every
// connection (by rebinding its endpoints) so that key's open connections
// end too; it returns once they are dropped, so nothing published after
// it reaches a removed key. Allowed clients reconnect within a second by
// themselves and publishers resend what was not acknowledged, so nothing
// is lost. ctx bounds the wait for the proxy's loop.
func (p *Proxy) SetAllowlist(ctx context.Context, allow keys.Allowlist) error {
	if p.zap == nil {
		return errors.New("CURVE is off: there is no allowlist to reload")
	}
	if !p.zap.setAllowlist(allow) {
		return nil
	}
	done := make(chan struct{})
	select {
	case p.rebind <- done:
	case <-ctx.Done():
		return fmt.Errorf("drop connections: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drop connections: %w", ctx.Err())
	}
}

// rebindAll drops all connections of both sockets by unbinding and binding
// their TCP endpoints again; the in-process endpoint stays.
func (p *Proxy) rebindAll() {
	for _, s := range []struct {
		sock     *zmq.Socket
		endpoint string
	}{{p.xsub, p.XSubEndpoint}, {p.xpub, p.XPubEndpoint}} {
		if err := s.sock.Unbind(s.endpoint); err != nil {
			p.logger.Error("drop connections: unbind", "endpoint", s.endpoint, "err", err)
			continue
		}
		// The listener closes on libzmq's I/O thread after Unbind returns,
		// so the port may still be busy for a moment.
		var err error
		for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
			if err = s.sock.Bind(s.endpoint); err == nil {
				break
			}
		}
		if err != nil {
			p.logger.Error("drop connections: bind again", "endpoint", s.endpoint, "err", err)
		}
	}
	p.logger.Info("authorized keys changed: dropped all connections; authorized clients reconnect")
}
