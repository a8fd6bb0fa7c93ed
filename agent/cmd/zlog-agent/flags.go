package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/zlog/zlog/agent/cmd/internal/pubflags"
	"github.com/zlog/zlog/agent/intake"
	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/sidecar"
	"github.com/zlog/zlog/agent/syslog"
	"github.com/zlog/zlog/schema/buildinfo"
)

const usage = `Usage: zlog-agent [flags]

  app | zlog-agent --service web
  zlog-agent --service web --file '/var/log/web/*.log' --spool /var/lib/zlog-agent
  zlog-agent --syslog tcp://0.0.0.0:5514 --syslog udp://0.0.0.0:5514
  zlog-agent --journal --spool /var/lib/zlog-agent
  zlog-agent --otlp-http 127.0.0.1:4318 --es-bulk 127.0.0.1:9200 --spool /var/lib/zlog-agent
  zlog-agent --config agent.yaml

Follows files and the systemd journal, receives syslog, OTLP/HTTP,
Elasticsearch bulk and jsonline requests, and reads stdin (when no other
source is given, or with --stdin), and publishes each event to the
collector as <service>.<level>. An HTTP request is answered 2xx once its
events are in the spool (without --spool: acknowledged by the collector).

Flags:
`

// journalFlags are --journal, --journal-directory and --journal-match.
type journalFlags struct {
	system    bool
	directory string
	matches   listFlag
}

// source is the journal to read, or nil.
func (f journalFlags) source() *sidecar.Journal {
	if !f.system && f.directory == "" && len(f.matches) == 0 {
		return nil
	}
	return &sidecar.Journal{Directory: f.directory, Matches: f.matches}
}

// intakeFlags are the HTTP intake listeners and their guards.
type intakeFlags struct {
	otlp, esBulk, jsonline string
	sec                    sidecar.IntakeSecurity
	maxBody                int64
	wait                   time.Duration
}

func (f intakeFlags) options() ([]intake.Options, error) {
	out, err := sidecar.IntakeOptions(map[intake.Protocol]string{intake.OTLP: f.otlp, intake.ESBulk: f.esBulk, intake.JSONLine: f.jsonline}, f.sec)
	if err != nil {
		return nil, fmt.Errorf("HTTP intake: %w", err)
	}
	for i := range out {
		out[i].MaxBodyBytes, out[i].Wait = f.maxBody, f.wait
	}
	return out, nil
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
func (l *listFlag) Type() string       { return "strings" }

// config is what the command line asks for.
type config struct {
	agent        sidecar.Options
	pub          publisher.Options
	logger       *slog.Logger
	httpAddr     string
	closeTimeout time.Duration
}

// parseFlags reads the flags and --config; ok is false when the agent
// should not run (help, --check-config, a usage error), with code the exit
// status then.
func parseFlags(args []string) (c config, code int, ok bool) {
	c.agent = sidecar.DefaultOptions()
	fs := flag.NewFlagSet("zlog-agent", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	var files, syslogs listFlag
	configPath := fs.String("config", "", "YAML file with several sources (see README); flags given here win over its settings")
	checkConfig := fs.Bool("check-config", false, "check the flags and --config file, print the sources, and exit")
	service := fs.String("service", "", "service of --file and stdin lines (stdin: \"stdin\"), and of syslog messages without a tag (\"syslog\")")
	fs.Var(&files, "file", "follow files matching this glob (repeatable); needs --service")
	readStdin := fs.Bool("stdin", false, "read stdin even when --file, --syslog or --journal is given")
	var journal journalFlags
	fs.BoolVar(&journal.system, "journal", false, "follow the systemd journal (through journalctl), from its cursor; each entry's unit names its service")
	fs.StringVar(&journal.directory, "journal-directory", "", "follow the journal files in this directory instead of the system journal (implies --journal)")
	fs.Var(&journal.matches, "journal-match", "only journal entries matching FIELD=VALUE, e.g. _SYSTEMD_UNIT=nginx.service (repeatable, as journalctl's matches)")
	fs.Var(&syslogs, "syslog", "receive syslog (RFC 5424/3164) on tcp://ADDR or udp://ADDR (repeatable)")
	var in intakeFlags
	fs.StringVar(&in.otlp, "otlp-http", "", "serve OTLP/HTTP logs (POST /v1/logs, protobuf or JSON) on HOST:PORT, e.g. 127.0.0.1:4318")
	fs.StringVar(&in.esBulk, "es-bulk", "", "serve the Elasticsearch bulk API (POST /_bulk) on HOST:PORT, e.g. 127.0.0.1:9200")
	fs.StringVar(&in.jsonline, "jsonline", "", "serve VictoriaLogs' POST /insert/jsonline on HOST:PORT, e.g. 127.0.0.1:9428")
	fs.StringVar(&in.sec.TokenFile, "intake-token-file", "", "HTTP intakes require this bearer token (file mode 600); basic auth with it as password is accepted too")
	fs.StringVar(&in.sec.TLSCert, "intake-tls-cert", "", "HTTP intakes serve HTTPS with this certificate (PEM), with --intake-tls-key")
	fs.StringVar(&in.sec.TLSKey, "intake-tls-key", "", "private key (PEM) of --intake-tls-cert")
	fs.Int64Var(&in.maxBody, "intake-max-body-bytes", 64<<20, "HTTP intakes answer 413 to a body larger than this, decompressed")
	fs.DurationVar(&in.wait, "intake-wait", 10*time.Second, "how long an HTTP intake request waits for room (spool or queue full, collector away) before 503 with Retry-After")
	format := fs.String("format", "auto", "how to read --file and stdin lines: "+parse.FormatNames+" (docker and cri unwrap container logs)")
	fs.StringVar(format, "parser", "auto", "the older name of --format")
	var labels listFlag
	fs.Var(&labels, "label", "add the label KEY=VALUE to every event of these sources, e.g. env=prod (repeatable)")
	timezone := fs.String("timezone", "", "zone of time stamps without one in --file and stdin lines, e.g. Europe/Berlin (default: the machine's)")
	fs.IntVar(&c.agent.UDPReceiveBuffer, "udp-receive-buffer", syslog.DefaultReceiveBuffer, "kernel receive buffer of --syslog udp:// listeners in bytes (the size granted is logged)")
	fs.BoolVar(&c.agent.FromBeginning, "from-beginning", false, "on the first start, read files that already exist from their start (default: from their end)")
	fs.StringVar(&c.agent.Positions, "positions", "", "file of acknowledged read positions (default: positions.json in --spool)")
	fs.DurationVar(&c.agent.PollInterval, "poll-interval", c.agent.PollInterval, "check followed files this often even without a file event")
	checkPub := pubflags.Register(fs, &c.pub)
	fs.IntVar(&c.agent.MaxLineBytes, "max-line-bytes", c.agent.MaxLineBytes, "longer lines are cut (marked truncated=<length>); longer syslog frames are skipped")
	multiline := fs.String("multiline", "", "join continuation lines of --file and stdin into one event: java, python or go (each joins the stack traces of all three: Java exceptions, Python tracebacks, Go panics) or a regexp matching the first line of each event, e.g. '^\\d{4}-\\d{2}-\\d{2}'")
	fs.DurationVar(&c.agent.MultilineTimeout, "multiline-timeout", c.agent.MultilineTimeout, "with --multiline, send an event once no continuation line has come for this long")
	fs.StringVar(&c.httpAddr, "http", "", "address for /metrics, /healthz and /debug/pprof, e.g. 127.0.0.1:4447 (default: off)")
	fs.DurationVar(&c.closeTimeout, "close-timeout", 30*time.Second, "at the end, how long to wait for the collector to acknowledge everything")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, 0, false
		}
		fmt.Fprintf(fs.Output(), "zlog-agent: %v (see --help)\n", err)
		return c, 2, false
	}
	if *showVersion {
		fmt.Println(buildinfo.String("zlog-agent"))
		return c, 0, false
	}
	fail := func(err error) (config, int, bool) {
		fmt.Fprintf(os.Stderr, "zlog-agent: %v\n", err)
		return c, 2, false
	}
	var err error
	if c.logger, err = checkPub(); err != nil {
		return fail(err)
	}
	start, err := parse.MultilineStart(*multiline)
	if err != nil {
		return fail(fmt.Errorf("flag --multiline: %w", err))
	}
	if *configPath != "" {
		if err := applyConfig(fs, *configPath, &c.agent, &c.pub); err != nil {
			return fail(err)
		}
	}
	reading, err := lineOptions(*format, start, *timezone, labels)
	if err != nil {
		return fail(err)
	}
	reading.Journal = journal.source()
	intakes, err := in.options()
	if err != nil {
		return fail(err)
	}
	stdin := *readStdin || (len(files) == 0 && len(syslogs) == 0 && reading.Journal == nil && len(intakes) == 0 && *configPath == "")
	if err := flagSources(&c.agent, *service, files, syslogs, stdin, reading); err != nil {
		return fail(err)
	}
	for _, o := range intakes { // events that name no service get --service, or the protocol's name
		svc := *service
		if svc == "" {
			svc = string(o.Protocol)
		}
		c.agent.Sources = append(c.agent.Sources, sidecar.Source{Service: svc, Intakes: []intake.Options{o}, Labels: reading.Labels})
	}
	c.agent.Spooled = c.pub.Spool.Dir != ""
	if c.agent.Positions == "" && c.pub.Spool.Dir != "" {
		c.agent.Positions = filepath.Join(c.pub.Spool.Dir, "positions.json")
	}
	if err := c.agent.Check(); err != nil {
		return fail(err)
	}
	if *checkConfig {
		fmt.Print(c.agent.Describe())
		return c, 0, false
	}
	return c, 0, true
}
