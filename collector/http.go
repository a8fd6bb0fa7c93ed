package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/zlog/zlog/query/api"
	"github.com/zlog/zlog/query/live"
	"github.com/zlog/zlog/query/web"
)

// startHTTP serves /healthz, /metrics, pprof, the query API (apiH) and the
// web UI on the listener New opened, in a goroutine of g; nil without one.
func (c *Collector) startHTTP(g *errgroup.Group, apiH http.Handler) *http.Server {
	if c.listener == nil {
		return nil
	}
	// Everything but the health check needs the token when one is set:
	// the API reads every event, and metrics and profiles say much.
	private := http.NewServeMux()
	private.Handle("GET /metrics", promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{}))
	private.Handle("/api/", apiH)
	// Profiles for `go tool pprof`; the listener is loopback-only by default.
	private.HandleFunc("/debug/pprof/", pprof.Index)
	private.HandleFunc("/debug/pprof/profile", pprof.Profile)
	// Execution traces (`go tool trace`) show what delays a goroutine.
	private.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", &c.health)
	// The web UI's page and assets hold no data: the page asks for the
	// token when the API wants one.
	ui := web.Handler()
	mux.Handle("GET /{$}", ui)
	mux.Handle("GET /ui/", ui)
	mux.Handle("/", api.RequireToken(c.opts.APIToken, private))
	return serve(g, "http", c.listener, mux)
}

// apiHandler is the query API over the collector's store, served on the
// HTTP listener and the query socket alike.
func (c *Collector) apiHandler() *api.Handler {
	return api.NewHandler(api.Options{
		IndexDir: filepath.Join(c.opts.DataDir, "index"), Reader: c.reader, Live: live.Options{Endpoint: c.proxy.LiveEndpoint, Context: c.proxy.ZMQContext()},
		StallTimeout: c.opts.FollowStallTimeout, Metrics: newAPIMetrics(c.reg), Pool: c.conns,
	}, c.logger)
}

// serve serves h on l in a goroutine of g. Follow and tail stream until
// their client leaves; shutdown ends them by cancelling the context every
// request derives from.
func serve(g *errgroup.Group, what string, l net.Listener, h http.Handler) *http.Server {
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10, BaseContext: func(net.Listener) context.Context { return base }}
	srv.RegisterOnShutdown(cancel)
	g.Go(func() error {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
	return srv
}

// shutdown stops srv (nil: never started), waiting up to 2 s for its
// requests.
func shutdown(srv *http.Server) error {
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}
