package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/zlog/zlog/collector"
	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/schema/buildinfo"
	"github.com/zlog/zlog/schema/keys"
)

const usage = `Usage: zlog-collector [flags]
       zlog-collector keygen [--force] NAME

Receives zlog events on an XSUB socket, republishes them on an XPUB socket,
and stores them under --data in logs/<service>.log and index/<day>.db.
SIGHUP reloads --authorized-keys.

Flags:
`

// parseFlags turns the command line into the collector's options, its own
// logger and its heap's soft limit (MiB, 0: Go's defaults); code is the
// exit status when it should not run (help, errors).
func parseFlags(args []string, stderr io.Writer) (o collector.Options, logger *slog.Logger, memLimitMB int, code int, ok bool) {
	o = collector.DefaultOptions()
	fs := flag.NewFlagSet("zlog-collector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.StringVar(&o.DataDir, "data", o.DataDir, "data directory ($ZLOG_DATA sets the default)")
	fs.StringVar(&o.XSubAddr, "xsub", o.XSubAddr, "ZeroMQ endpoint agents publish to (XSUB, bound)")
	fs.StringVar(&o.XPubAddr, "xpub", o.XPubAddr, "ZeroMQ endpoint subscribers read from (XPUB, bound)")
	fs.StringVar(&o.HTTPAddr, "http", o.HTTPAddr, "address for the web UI (/), the query API, /metrics, /healthz and pprof; \"off\" disables")
	fs.BoolVar(&o.QuerySocket, "query-socket", o.QuerySocket, "also serve the query API on <data>/query.sock (no token: the directory's permissions guard it), which logq on this host asks instead of opening the index")
	fs.IntVar(&o.MaxEventBytes, "max-event-bytes", o.MaxEventBytes, "largest event accepted (all frames); a larger one is rejected, its publisher told, and counted")
	fs.DurationVar(&o.MaxFuture, "max-future", o.MaxFuture, "events dated further ahead of this collector's clock are stored with the receive time, their own kept in the field original_time (counted); 0 accepts any time")
	fs.DurationVar(&o.CommitInterval, "commit-interval", o.CommitInterval, "longest an event waits for its index commit")
	fs.IntVar(&o.LogMaxSizeMB, "log-max-size", o.LogMaxSizeMB, "rotate a service log file when it would exceed this many megabytes")
	fs.IntVar(&o.LogMaxBackups, "log-max-backups", o.LogMaxBackups, "rotated files kept per service (0 keeps all)")
	maxAge := fs.Int("log-max-age", -1, "delete rotated files older than this many days (0 keeps them; default: --retain in whole days)")
	retain := fs.String("retain", "7d", "remove index partitions (whole UTC days) once they end longer ago than this, e.g. 36h, 7d, 4w; 0 keeps everything")
	fs.DurationVar(&o.RetentionEvery, "retention-interval", o.RetentionEvery, "how often --retain and --max-index-bytes are checked")
	fs.Int64Var(&o.MaxIndexBytes, "max-index-bytes", o.MaxIndexBytes, "also remove the oldest index partitions, days before today only, while the index is larger than this; 0: no limit")
	fs.BoolVar(&o.LogCompress, "log-compress", o.LogCompress, "gzip rotated log files (--log-compress=false keeps them plain)")
	fs.StringVar(&o.Store, "store", o.Store, "where events are indexed: sqlite (<data>/index) or victorialogs (--vl-insert, --vl-select; the query API, the web UI and logq --store victorialogs read it there)")
	fs.StringVar(&o.VLInsertURL, "vl-insert", "", "with --store victorialogs: base URL of vlinsert (or a single node), e.g. http://127.0.0.1:9481")
	fs.StringVar(&o.VLSelectURL, "vl-select", "", "with --store victorialogs: base URL of vlselect (or a single node), e.g. http://127.0.0.1:9471")
	fs.DurationVar(&o.VLFlushInterval, "vl-flush-interval", o.VLFlushInterval, "with --store victorialogs: the storage nodes' -inmemoryDataFlushInterval; events are acknowledged once a count finds them and another, 3s + 3 × this later (when VictoriaLogs has them on disk), still does")
	fs.StringVar(&o.CurveSecretKey, "curve-secret-key", "", "the collector's CURVE secret key file (from keygen); with --authorized-keys, encrypts ZeroMQ traffic and admits only listed keys")
	fs.StringVar(&o.AuthorizedKeys, "authorized-keys", "", "file of allowed client public keys (\"KEY [publish|subscribe]\" per line) or a directory of .pub files; SIGHUP reloads it")
	fs.DurationVar(&o.FollowStallTimeout, "follow-stall-timeout", o.FollowStallTimeout, "a follow or tail client of the query API that accepts nothing for this long is disconnected (counted in zlog_collector_followers_dropped_total)")
	tokenFile := fs.String("http-token-file", "", "file (mode 0600) holding a bearer token that the query API, /metrics and /debug/pprof require (/healthz stays open)")
	fs.IntVar(&memLimitMB, "memory-limit-mb", 128, "soft limit on the collector's Go heap in MiB: below it garbage is collected less often (at 400 % growth), near it more often; 0 keeps Go's defaults, as GOGC or GOMEMLIMIT in the environment do")
	logLevel := fs.String("log-level", "info", "collector's own log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "collector's own log format: text or json")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, nil, 0, 0, false
		}
		fmt.Fprintf(fs.Output(), "zlog-collector: %v (see --help)\n", err)
		return o, nil, 0, 2, false
	}
	if *showVersion {
		fmt.Fprintln(os.Stdout, buildinfo.String("zlog-collector"))
		return o, nil, 0, 0, false
	}
	fail := func(format string, a ...any) (collector.Options, *slog.Logger, int, int, bool) {
		fmt.Fprintf(stderr, "zlog-collector: "+format+"\n", a...)
		return o, nil, 0, 2, false
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if memLimitMB < 0 {
		return fail("flag --memory-limit-mb: %d is negative", memLimitMB)
	}
	var err error
	o.Retain = 0
	if *retain != "0" { // "0", keep everything, is no length to ParseDuration
		if o.Retain, err = query.ParseDuration(*retain); err != nil || o.Retain < 0 {
			return fail("flag --retain: %q is not a duration like 36h, 7d or 0", *retain)
		}
	}
	o.LogMaxAgeDays = *maxAge
	if o.LogMaxAgeDays < 0 { // not given: rotated files live as long as the index keeps their events
		o.LogMaxAgeDays = int((o.Retain + 24*time.Hour - 1) / (24 * time.Hour))
	}
	if *tokenFile != "" {
		if o.APIToken, err = keys.ReadToken(*tokenFile); err != nil {
			return fail("flag --http-token-file: %v", err)
		}
	}
	if logger, err = newLogger(*logLevel, *logFormat); err != nil {
		return fail("%v", err)
	}
	return o, logger, memLimitMB, 0, true
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("flag --log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("flag --log-format: %q is not text or json", format)
}
