// Command zlog-agent is the sidecar: it follows files, reads stdin and
// receives syslog, parses each line (JSON, logfmt or plain) and publishes
// it to the collector as <service>.<level>.
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
	"path/filepath"
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
		fmt.Fprintf(fs.Output(), "Usage: zlog-agent [flags]\n\n  app | zlog-agent --service web\n  zlog-agent --service web --file '/var/log/web/*.log' --spool /var/lib/zlog-agent\n  zlog-agent --syslog tcp://0.0.0.0:5514 --syslog udp://0.0.0.0:5514\n  zlog-agent --config agent.yaml\n\nFollows files, receives syslog and reads stdin (when no other source is\ngiven, or with --stdin), and publishes each line to the collector as\n<service>.<level>.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var o sidecar.Options
	var po publisher.Options
	var files, syslogs listFlag
	configPath := fs.String("config", "", "YAML file with several sources (see README); flags given here win over its settings")
	checkConfig := fs.Bool("check-config", false, "check the flags and --config file, print the sources, and exit")
	service := fs.String("service", "", "service of --file and stdin lines (stdin: \"stdin\"), and of syslog messages without a tag (\"syslog\")")
	fs.Var(&files, "file", "follow files matching this glob (repeatable); needs --service")
	readStdin := fs.Bool("stdin", false, "read stdin even when --file or --syslog is given")
	fs.Var(&syslogs, "syslog", "receive syslog (RFC 5424/3164) on tcp://ADDR or udp://ADDR (repeatable)")
	parser := fs.String("parser", "auto", "how to read --file and stdin lines: auto, json, logfmt, plain")
	fs.BoolVar(&o.FromBeginning, "from-beginning", false, "on the first start, read files that already exist from their start (default: from their end)")
	fs.StringVar(&o.Positions, "positions", "", "file of acknowledged read positions (default: positions.json in --spool)")
	fs.DurationVar(&o.PollInterval, "poll-interval", 250*time.Millisecond, "check followed files this often even without a file event")
	checkPub := pubflags.Register(fs, &po)
	fs.IntVar(&o.MaxLineBytes, "max-line-bytes", 64<<10, "longer lines are cut (marked truncated=<length>); longer syslog frames are skipped")
	multiline := fs.String("multiline", "", "join continuation lines of --file and stdin into one event: \"java\" (stack traces, Go panics, Python tracebacks' indented lines) or a regexp matching the first line of each event, e.g. '^\\d{4}-\\d{2}-\\d{2}'")
	fs.DurationVar(&o.MultilineTimeout, "multiline-timeout", time.Second, "with --multiline, send an event once no continuation line has come for this long")
	httpAddr := fs.String("http", "", "address for /metrics and /healthz, e.g. 127.0.0.1:4447 (default: off)")
	closeTimeout := fs.Duration("close-timeout", 30*time.Second, "at the end, how long to wait for the collector to acknowledge everything")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(os.Stderr, "zlog-agent: %v\n", err); return 2 }
	logger, err := checkPub()
	if err != nil {
		return fail(err)
	}
	start, err := parse.MultilineStart(*multiline)
	if err != nil {
		return fail(fmt.Errorf("flag -multiline: %w", err))
	}
	if *configPath != "" {
		if err := applyConfig(fs, *configPath, &o, &po); err != nil {
			return fail(err)
		}
	}
	if err := flagSources(&o, *service, files, syslogs, *readStdin || (len(files) == 0 && len(syslogs) == 0 && *configPath == ""), sidecar.ParserFormat(*parser), start); err != nil {
		return fail(err)
	}
	if o.Positions == "" && po.Spool.Dir != "" {
		o.Positions = filepath.Join(po.Spool.Dir, "positions.json")
	}
	if err := o.Check(); err != nil {
		return fail(err)
	}
	if *checkConfig {
		fmt.Print(o.Describe())
		return 0
	}
	reg := prometheus.NewRegistry()
	po.Registerer = reg
	pub, err := publisher.New(po, logger)
	if err != nil {
		logger.Error("start publisher", "err", err)
		return pubflags.StartFailure(err)
	}
	o.Host = po.Host
	agent, err := sidecar.New(o, logger, pub)
	if err != nil {
		pub.Close(context.Background())
		return fail(err)
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
	logger.Info("agent ready", "syslog", strings.Join(agent.Listening(), ","), "sources", len(o.Sources), "collector", po.Endpoint, "publisher", pub.ID())
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
	if err := agent.Close(); err != nil {
		logger.Error("save positions", "err", err)
		code = 1
	}
	logger.Info("agent stopped", agent.Summary()...)
	return code
}
