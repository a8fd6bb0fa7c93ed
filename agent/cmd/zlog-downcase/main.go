// Command zlog-downcase is the article's service in Go: GET
// /downcase/?param=X answers "lower case of X is x" and publishes each answer
// to the zlog collector.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/agent/cmd/internal/pubflags"
	"github.com/zlog/zlog/agent/downcase"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/schema/buildinfo"
	"github.com/zlog/zlog/schema/buildinfo/buildmetric"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("zlog-downcase", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zlog-downcase [flags]\n\nServes GET /downcase/?param=X and publishes each answer to the collector\non topic downcase.info (access events on downcase-access.<level>).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var o downcase.Options
	var po publisher.Options
	fs.StringVar(&o.Addr, "listen", ":5000", "HTTP listen address (also serves /metrics and /healthz)")
	fs.IntVar(&o.MaxParamBytes, "max-param-bytes", 4096, "longest param accepted; longer gets 414")
	accessLog := fs.String("access-log", "", "also append each access event as a JSON line to this file (for a zlog-agent sidecar to tail)")
	closeTimeout := fs.Duration("close-timeout", 30*time.Second, "at the end, how long to wait for the collector to acknowledge everything (a collector on VictoriaLogs acknowledges some seconds after the write)")
	checkPub := pubflags.Register(fs, &po)
	fs.DurationVar(&o.PublishTimeout, "publish-timeout", time.Second, "longest a request waits for room in a full queue before its event is dropped (counted)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(fs.Output(), "zlog-downcase: %v (see --help)\n", err)
		return 2
	}
	if *showVersion {
		fmt.Println(buildinfo.String("zlog-downcase"))
		return 0
	}
	logger, err := checkPub()
	if err != nil {
		fmt.Fprintf(os.Stderr, "zlog-downcase: %v\n", err)
		return 2
	}

	if *accessLog != "" {
		f, err := os.OpenFile(*accessLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			logger.Error("open access log", "err", err)
			return 1
		}
		defer f.Close()
		o.AccessLog = f
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildmetric.Collector())
	po.Registerer = reg
	pub, err := publisher.New(po, logger)
	if err != nil {
		logger.Error("start publisher", "err", err)
		return pubflags.StartFailure(err)
	}
	srv, err := downcase.New(o, logger, pub, reg)
	if err != nil {
		pub.Close(context.Background())
		logger.Error("start server", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("downcase ready", "addr", srv.Addr(), "collector", po.Endpoint, "publisher", pub.ID())
	code := 0
	if err := srv.Run(ctx); err != nil {
		logger.Error("server stopped with error", "err", err)
		code = 1
	}
	// Requests are done; deliver what they queued before exiting.
	closeCtx, cancel := context.WithTimeout(context.Background(), *closeTimeout)
	defer cancel()
	if err := pub.Close(closeCtx); err != nil {
		logger.Error("publisher close", "err", err, "stats", fmt.Sprintf("%+v", pub.Stats()))
		code = 1
	}
	logger.Info("downcase stopped", "stats", fmt.Sprintf("%+v", pub.Stats()))
	return code
}
