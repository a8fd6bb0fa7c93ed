// Command zlog-collector receives events from agents over ZeroMQ, proxies
// them to live subscribers and stores them in rotating log files and a
// SQLite full-text index.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	// The zone database inside the binary: queries name their zone (tz=,
	// sent by logq and the web UI), and the image FROM scratch has no
	// /usr/share/zoneinfo (found by TestComposeCluster: "Etc/UTC" refused).
	_ "time/tzdata"

	"github.com/oklog/run"

	"github.com/zlog/zlog/collector"
	"github.com/zlog/zlog/schema/dirlock"
)

func main() { os.Exit(realMain(os.Args[1:])) }

func realMain(args []string) int {
	if len(args) > 0 && args[0] == "keygen" {
		return runKeygen(args[1:])
	}
	o, logger, code, ok := parseFlags(args, os.Stderr)
	if !ok {
		return code
	}
	c, err := collector.New(o, logger)
	if err != nil {
		logger.Error("start failed", "err", err)
		return startFailure(err)
	}

	// One actor per part; when any returns, the others are stopped and
	// awaited, in the order they were added.
	var g run.Group
	var runErr error
	ctx, stop := context.WithCancel(context.Background())
	g.Add(func() error { runErr = c.Run(ctx); return runErr }, func(error) { stop() })
	g.Add(run.SignalHandler(context.Background(), os.Interrupt, syscall.SIGTERM))
	g.Add(reloadOnSIGHUP(c, logger))
	g.Run()
	if runErr != nil {
		logger.Error("collector stopped with error", "err", runErr)
		return 1
	}
	logger.Info("collector stopped cleanly")
	return 0
}

// reloadOnSIGHUP is the actor that reloads the authorized keys on SIGHUP.
func reloadOnSIGHUP(c *collector.Collector, logger *slog.Logger) (func() error, func(error)) {
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(hup, syscall.SIGHUP)
	return func() error {
			for {
				select {
				case <-done:
					return nil
				case <-hup:
					if err := c.ReloadKeys(); err != nil {
						logger.Error("SIGHUP", "err", err)
					}
				}
			}
		}, func(error) {
			signal.Stop(hup)
			close(done)
		}
}

// startFailure is the exit code when the collector cannot start: 2 when its
// data directory is another process's (a usage error), else 1.
func startFailure(err error) int {
	if errors.Is(err, dirlock.ErrLocked) {
		return 2
	}
	return 1
}
