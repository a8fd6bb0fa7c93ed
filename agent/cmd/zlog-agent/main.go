// Command zlog-agent is the sidecar: it follows files, reads stdin and
// receives syslog, parses each line (JSON, logfmt or plain) and publishes
// it to the collector as <service>.<level>.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zlog/zlog/agent/cmd/internal/pubflags"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/sidecar"
	"github.com/zlog/zlog/schema/buildinfo/buildmetric"
)

func main() { os.Exit(realMain(os.Args[1:])) }

func realMain(args []string) int {
	cfg, code, ok := parseFlags(args)
	if !ok {
		return code
	}
	logger := cfg.logger
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildmetric.Collector())
	var serve func() error
	var shutdown func(error)
	if cfg.httpAddr != "" { // bound first, so a busy port fails before anything else opens
		var err error
		if serve, shutdown, err = metricsServer(cfg.httpAddr, reg, logger); err != nil {
			logger.Error("listen http", "addr", cfg.httpAddr, "err", err)
			return 1
		}
	}
	cfg.pub.Registerer = reg
	pub, err := publisher.New(cfg.pub, logger)
	if err != nil {
		logger.Error("start publisher", "err", err)
		return pubflags.StartFailure(err)
	}
	cfg.agent.Host = cfg.pub.Host
	agent, err := sidecar.New(cfg.agent, logger, pub)
	if err != nil {
		pub.Close(context.Background())
		fmt.Fprintf(os.Stderr, "zlog-agent: %v\n", err)
		return 2
	}
	reg.MustRegister(agent.Collectors()...)

	// One actor per part; when one returns (stdin at its end, a signal)
	// the others are stopped and awaited.
	var g run.Group
	var runErr error
	ctx, stop := context.WithCancel(context.Background())
	g.Add(func() error { runErr = agent.Run(ctx); return runErr }, func(error) { stop() })
	g.Add(run.SignalHandler(context.Background(), os.Interrupt, syscall.SIGTERM))
	if serve != nil {
		g.Add(serve, shutdown)
	}
	logger.Info("agent ready", "syslog", strings.Join(agent.Listening(), ","), "intake", strings.Join(agent.Intakes(), ","), "sources", len(cfg.agent.Sources), "collector", cfg.pub.Endpoint, "publisher", pub.ID())
	g.Run()
	return finish(agent, pub, runErr, cfg.closeTimeout, logger)
}

// finish closes in reverse order: the publisher waits for the last
// acknowledgements, then the agent saves positions with them. Anything
// dropped, known lost, or not acknowledged, makes the exit status 1.
func finish(agent *sidecar.Agent, pub *publisher.Publisher, runErr error, timeout time.Duration, logger *slog.Logger) int {
	code := 0
	if runErr != nil {
		logger.Error("agent stopped with error", "err", runErr)
		code = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		logger.Error("not everything was acknowledged", "err", err, "stats", fmt.Sprintf("%+v", pub.Stats()))
		code = 1
	}
	if err := agent.Losses(); err != nil {
		logger.Error("input was lost before it could be published", "err", err)
		code = 1
	}
	if err := agent.Close(); err != nil {
		logger.Error("close sources", "err", err)
		code = 1
	}
	logger.Info("agent stopped", agent.Summary()...)
	return code
}

// metricsServer is the actor serving /metrics, /healthz and pprof.
func metricsServer(addr string, reg *prometheus.Registry, logger *slog.Logger) (func() error, func(error), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	// Profiles for `go tool pprof`, as on the collector: the agent's CPU
	// per line is a budget worth seeing where it goes.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10}
	logger.Info("metrics", "http", ln.Addr().String())
	return func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}, func(error) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}, nil
}
