package collector

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/zlog/zlog/query/api"
)

// maxSocketPath is the longest path a Unix socket can be bound at
// (sun_path holds 108 bytes with its NUL).
const maxSocketPath = 107

// listenSocket binds the query socket (Options.QuerySocket) in the data
// directory. A socket file left there by a collector that did not stop
// is removed first: the directory is locked, so no live collector owns
// it. A data directory too deep for a socket path is served without
// one, with a warning: logq then reads the index itself.
func (c *Collector) listenSocket() error {
	if !c.opts.QuerySocket || c.index == nil {
		return nil
	}
	path := api.SocketPath(c.opts.DataDir)
	if len(path) > maxSocketPath {
		c.logger.Warn("query socket not served: its path is too long for a Unix socket; logq on this host reads the index itself",
			"path", path, "bytes", len(path), "max", maxSocketPath)
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the old query socket %q: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen on the query socket %q: %w", path, err)
	}
	// As the index files: the owner and its group (connecting needs write).
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return fmt.Errorf("query socket %q: %w", path, err)
	}
	c.socket = l
	c.socketRequests = prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_collector_query_socket_requests_total",
		Help: "Query API requests served on <data>/query.sock (logq on this host)."})
	c.reg.MustRegister(c.socketRequests)
	return nil
}

// startSocket serves the query API (h) on the query socket, in a
// goroutine of g; nil without one. It asks no token: see api.SocketName.
func (c *Collector) startSocket(g *errgroup.Group, h http.Handler) *http.Server {
	if c.socket == nil {
		return nil
	}
	return serve(g, "query socket", c.socket, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.socketRequests.Inc()
		h.ServeHTTP(w, r)
	}))
}
