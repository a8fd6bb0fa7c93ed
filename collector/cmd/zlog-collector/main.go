// Command zlog-collector receives events from agents over ZeroMQ, proxies
// them to live subscribers and stores them in rotating log files and a
// SQLite full-text index.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zlog/zlog/schema/keys"

	"github.com/zlog/zlog/schema/dirlock"

	"github.com/zlog/zlog/collector"
	"github.com/zlog/zlog/query"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) > 0 && args[0] == "keygen" {
		return runKeygen(args[1:])
	}
	fs := flag.NewFlagSet("zlog-collector", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zlog-collector [flags]\n       zlog-collector keygen [--force] NAME\n\nReceives zlog events on an XSUB socket, republishes them on an XPUB socket,\nand stores them under --data in logs/<service>.log and index/<day>.db.\nSIGHUP reloads --authorized-keys.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var o collector.Options
	defData := os.Getenv("ZLOG_DATA")
	if defData == "" {
		defData = "./data"
	}
	fs.StringVar(&o.DataDir, "data", defData, "data directory ($ZLOG_DATA sets the default)")
	fs.StringVar(&o.XSubAddr, "xsub", "tcp://*:4444", "ZeroMQ endpoint agents publish to (XSUB, bound)")
	fs.StringVar(&o.XPubAddr, "xpub", "tcp://*:4445", "ZeroMQ endpoint subscribers read from (XPUB, bound)")
	fs.StringVar(&o.HTTPAddr, "http", "127.0.0.1:4446", "address for /metrics and /healthz; \"off\" disables")
	fs.IntVar(&o.MaxEventBytes, "max-event-bytes", 256<<10, "largest event accepted (all frames); larger ones are counted and dropped")
	fs.DurationVar(&o.MaxFuture, "max-future", time.Hour, "events dated further ahead of this collector's clock are stored with the receive time, their own kept in the field original_time (counted); 0 accepts any time")
	fs.DurationVar(&o.CommitInterval, "commit-interval", 100*time.Millisecond, "longest an event waits for its index commit")
	fs.IntVar(&o.LogMaxSizeMB, "log-max-size", 100, "rotate a service log file when it would exceed this many megabytes")
	fs.IntVar(&o.LogMaxBackups, "log-max-backups", 10, "rotated files kept per service (0 keeps all)")
	fs.IntVar(&o.LogMaxAgeDays, "log-max-age", -1, "delete rotated files older than this many days (0 keeps them; default: --retain in whole days)")
	retain := fs.String("retain", "7d", "remove index partitions (whole UTC days) once they end longer ago than this, e.g. 36h, 7d, 4w; 0 keeps everything")
	fs.DurationVar(&o.RetentionEvery, "retention-interval", time.Minute, "how often --retain and --max-index-bytes are checked")
	fs.Int64Var(&o.MaxIndexBytes, "max-index-bytes", 0, "also remove the oldest index partitions while the index is larger than this (the newest day is kept); 0: no limit")
	fs.BoolVar(&o.LogCompress, "log-compress", false, "gzip rotated log files")
	fs.StringVar(&o.CurveSecretKey, "curve-secret-key", "", "the collector's CURVE secret key file (from keygen); with --authorized-keys, encrypts ZeroMQ traffic and admits only listed keys")
	fs.StringVar(&o.AuthorizedKeys, "authorized-keys", "", "file of allowed client public keys (\"KEY [publish|subscribe]\" per line) or a directory of .pub files; SIGHUP reloads it")
	fs.DurationVar(&o.FollowStallTimeout, "follow-stall-timeout", 30*time.Second, "a follow or tail client of the query API that accepts nothing for this long is disconnected (counted in zlog_collector_followers_dropped_total)")
	tokenFile := fs.String("http-token-file", "", "file holding a bearer token that the query API, /metrics and /debug/pprof require (/healthz stays open)")
	logLevel := fs.String("log-level", "info", "collector's own log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "collector's own log format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var err error
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "zlog-collector: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.Retain, err = query.ParseDuration(*retain); err != nil || o.Retain < 0 {
		fmt.Fprintf(os.Stderr, "zlog-collector: flag -retain: %q is not a duration like 36h, 7d or 0\n", *retain)
		return 2
	}
	if o.LogMaxAgeDays < 0 { // not given: rotated files live as long as the index keeps their events
		o.LogMaxAgeDays = int((o.Retain + 24*time.Hour - 1) / (24 * time.Hour))
	}
	if *tokenFile != "" {
		if o.APIToken, err = keys.ReadToken(*tokenFile); err != nil {
			fmt.Fprintf(os.Stderr, "zlog-collector: flag --http-token-file: %v\n", err)
			return 2
		}
	}
	logger, err := newLogger(*logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zlog-collector: %v\n", err)
		return 2
	}

	c, err := collector.New(o, logger)
	if err != nil {
		logger.Error("start failed", "err", err)
		return startFailure(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() { // SIGHUP reloads the keys until shutdown
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := c.ReloadKeys(); err != nil {
					logger.Error("SIGHUP", "err", err)
				}
			}
		}
	}()
	go func() {
		<-c.Ready()
		xsub, xpub, httpAddr := c.Endpoints()
		logger.Info("collector ready", "xsub", xsub, "xpub", xpub, "http", httpAddr, "data", o.DataDir)
	}()
	if err := c.Run(ctx); err != nil {
		logger.Error("collector stopped with error", "err", err)
		return 1
	}
	logger.Info("collector stopped cleanly")
	return 0
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("flag -log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("flag -log-format: %q is not text or json", format)
}

// startFailure is the exit code when the collector cannot start: 2 when its
// data directory is another process's (a usage error), else 1.
func startFailure(err error) int {
	if errors.Is(err, dirlock.ErrLocked) {
		return 2
	}
	return 1
}
