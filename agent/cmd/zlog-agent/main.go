// Command zlog-agent is the sidecar: it reads stdin and receives syslog,
// parses each line (JSON, logfmt or plain) and publishes it to the collector.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zlog/zlog/agent/cmd/internal/pubflags"
	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/sidecar"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("zlog-agent", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zlog-agent [flags]\n\n  app | zlog-agent --service web\n  zlog-agent --syslog tcp://0.0.0.0:5514 --syslog udp://0.0.0.0:5514\n\nReads stdin (when no other source is given, or with --stdin) and syslog,\nand publishes each line to the collector as <service>.<level>.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var o sidecar.Options
	var po publisher.Options
	var syslogs listFlag
	fs.StringVar(&o.Service, "service", "stdin", "service of stdin lines, and of syslog messages without a tag")
	readStdin := fs.Bool("stdin", false, "read stdin even when --syslog is given")
	fs.Var(&syslogs, "syslog", "receive syslog (RFC 5424/3164) on tcp://ADDR or udp://ADDR (repeatable)")
	checkPub := pubflags.Register(fs, &po)
	fs.IntVar(&o.MaxLineBytes, "max-line-bytes", 64<<10, "longer lines are cut (marked truncated=<length>); longer syslog frames are skipped")
	multiline := fs.String("multiline", "", "join continuation lines into one event: \"java\" (stack traces, Go panics, Python tracebacks' indented lines) or a regexp matching the first line of each event, e.g. '^\\d{4}-\\d{2}-\\d{2}'")
	fs.DurationVar(&o.MultilineTimeout, "multiline-timeout", time.Second, "with --multiline, send an event once no continuation line has come for this long")
	httpAddr := fs.String("http", "", "address for /metrics and /healthz, e.g. 127.0.0.1:4447 (default: off)")
	closeTimeout := fs.Duration("close-timeout", 30*time.Second, "at the end, how long to wait for the collector to acknowledge everything")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	logger, err := checkPub()
	if err != nil {
		fmt.Fprintf(os.Stderr, "zlog-agent: %v\n", err)
		return 2
	}
	if o.MultilineStart, err = parse.MultilineStart(*multiline); err != nil {
		fmt.Fprintf(os.Stderr, "zlog-agent: flag -multiline: %v\n", err)
		return 2
	}
	o.Syslog = syslogs
	if len(syslogs) == 0 || *readStdin {
		o.Stdin = os.Stdin
	}
	reg := prometheus.NewRegistry()
	po.Registerer = reg
	pub, err := publisher.New(po, logger)
	if err != nil {
		logger.Error("start publisher", "err", err)
		return 1
	}
	o.Host = po.Host
	agent, err := sidecar.New(o, logger, pub)
	if err != nil {
		pub.Close(context.Background())
		fmt.Fprintf(os.Stderr, "zlog-agent: %v\n", err)
		return 2
	}
	reg.MustRegister(agent.Collectors()...)
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			logger.Error("listen http", "addr", *httpAddr, "err", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
		go http.Serve(ln, mux)
		logger.Info("metrics", "http", ln.Addr().String())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("agent ready", "syslog", strings.Join(agent.Listening(), ","), "stdin", o.Stdin != nil, "collector", po.Endpoint, "publisher", pub.ID())
	code := 0
	if err := agent.Run(ctx); err != nil {
		logger.Error("agent stopped with error", "err", err)
		code = 1
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), *closeTimeout)
	defer cancel()
	if err := pub.Close(closeCtx); err != nil {
		logger.Error("not everything was acknowledged", "err", err, "stats", fmt.Sprintf("%+v", pub.Stats()))
		code = 1
	}
	frames, invalid, tooLong := agent.SyslogStats()
	logger.Info("agent stopped", "lines", agent.Lines.Load(), "truncated", agent.Truncated.Load(), "invalid_utf8", agent.InvalidUTF8.Load(),
		"syslog_messages", frames, "syslog_invalid", invalid, "syslog_too_long", tooLong, "stats", fmt.Sprintf("%+v", pub.Stats()))
	return code
}
