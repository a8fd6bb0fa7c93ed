// Package sidecar is zlog-agent: it reads log lines from its sources (stdin,
// syslog over UDP and TCP), parses them, and publishes them to the collector
// through the publisher library, so they get its sequence numbers, acks,
// resends and spool.
package sidecar

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/syslog"
	"github.com/zlog/zlog/schema"
)

// Publisher is the part of the publisher library the agent uses.
type Publisher interface {
	Publish(ctx context.Context, ev schema.Event) error
}

// Options configure the agent. Zero values take the defaults shown.
type Options struct {
	Service      string    // service of stdin lines, and of syslog messages without a tag; "stdin"
	Host         string    // host of stdin lines and of syslog messages without one
	Stdin        io.Reader // read lines from it when set
	Syslog       []string  // tcp://ADDR and udp://ADDR listeners
	MaxLineBytes int       // longer lines and syslog frames are cut (lines) or skipped (frames); 64 KiB

	// MultilineStart, when set, joins lines that do not start an event onto
	// the event before them (stack traces); MultilineTimeout flushes an event
	// whose next line has not come; 1s.
	MultilineStart   parse.StartFunc
	MultilineTimeout time.Duration
}

// Agent runs the sources.
type Agent struct {
	opts    Options
	logger  *slog.Logger
	pub     Publisher
	parser  *parse.Parser
	servers []*syslog.Server

	Lines, Truncated, InvalidUTF8, PublishErrors atomic.Uint64
}

// New validates the options and binds the syslog listeners.
func New(opts Options, logger *slog.Logger, pub Publisher) (*Agent, error) {
	if opts.Service == "" {
		opts.Service = "stdin"
	}
	if err := schema.ValidateService(opts.Service); err != nil {
		return nil, fmt.Errorf("--service: %w", err)
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 64 << 10
	}
	if opts.MultilineTimeout <= 0 {
		opts.MultilineTimeout = time.Second
	}
	a := &Agent{opts: opts, logger: logger.With("component", "agent"), pub: pub,
		parser: parse.New(parse.Options{MaxLineBytes: opts.MaxLineBytes})}
	for _, url := range opts.Syslog {
		s, err := syslog.Listen(url, syslog.Options{MaxFrameBytes: opts.MaxLineBytes}, logger, a.syslogMessage)
		if err != nil {
			return nil, err
		}
		a.servers = append(a.servers, s)
	}
	if opts.Stdin == nil && len(a.servers) == 0 {
		return nil, errors.New("no sources: give --stdin or --syslog")
	}
	return a, nil
}

// Listening lists the bound syslog addresses.
func (a *Agent) Listening() []string {
	var out []string
	for _, s := range a.servers {
		out = append(out, s.Addr)
	}
	return out
}

// SyslogStats sums the listeners' counters: messages, unparseable, oversized.
func (a *Agent) SyslogStats() (frames, invalid, tooLong uint64) {
	for _, s := range a.servers {
		frames += s.Frames.Load()
		invalid += s.Invalid.Load()
		tooLong += s.TooLong.Load()
	}
	return
}

// Run serves the sources until ctx ends. With stdin as the only source it
// returns at end of input, once every line is published.
func (a *Agent) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range a.servers {
		g.Go(func() error { return s.Run(gctx) })
	}
	if a.opts.Stdin != nil {
		g.Go(func() error {
			err := a.readLines(gctx, a.opts.Stdin)
			if err == nil && len(a.servers) > 0 {
				<-gctx.Done() // keep serving syslog
			}
			return err
		})
	}
	return g.Wait()
}

// readLines publishes each line of r; lines over the limit are cut (the
// event says so) and the rest of the line is skipped. With a multiline
// start pattern, continuation lines are joined first.
func (a *Agent) readLines(ctx context.Context, r io.Reader) error {
	if a.opts.MultilineStart == nil {
		return a.scanLines(ctx, r, func(line []byte, total int) { a.publishLine(ctx, line, total) })
	}
	type line struct {
		b     []byte
		total int
	}
	lines := make(chan line, 1024)
	errc := make(chan error, 1)
	go func() {
		errc <- a.scanLines(ctx, r, func(b []byte, total int) { lines <- line{append([]byte(nil), b...), total} })
		close(lines)
	}()
	var event []byte
	total := 0
	flush := func() {
		if len(event) > 0 || total > 0 {
			a.publishLine(ctx, event, total)
		}
		event, total = event[:0], 0
	}
	timer := time.NewTimer(a.opts.MultilineTimeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				flush()
				return <-errc
			}
			if a.opts.MultilineStart(l.b) || total == 0 {
				flush()
			} else {
				event = append(event, '\n')
				total++
			}
			event = append(event, l.b...)
			total += l.total
			timer.Reset(a.opts.MultilineTimeout)
		case <-timer.C:
			flush() // no continuation came: the event is complete
		}
	}
}

// scanLines calls emit for each line of r (without its newline) with the
// line's full length, keeping at most MaxLineBytes+1 bytes of it.
func (a *Agent) scanLines(ctx context.Context, r io.Reader, emit func(line []byte, total int)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	total := 0 // the line's true length, however much of it is kept
	for {
		chunk, err := br.ReadSlice('\n')
		total += len(chunk)
		if room := a.opts.MaxLineBytes + 1 - len(line); room > 0 {
			// Keep at most one byte past the limit: enough for the parser
			// to see the line is too long and cut it cleanly.
			line = append(line, chunk[:min(len(chunk), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil { // the line ended with a newline, kept or not
			total--
			if len(line) > 0 && line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
		}
		if total > 0 {
			emit(line, total)
		}
		line, total = line[:0], 0
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (a *Agent) publishLine(ctx context.Context, line []byte, total int) {
	a.Lines.Add(1)
	res := a.parser.Line(line)
	if res.Truncated {
		a.Truncated.Add(1)
		res.Fields["truncated"] = strconv.Itoa(total)
	}
	if res.InvalidUTF8 {
		a.InvalidUTF8.Add(1)
	}
	a.publish(ctx, schema.Event{Time: res.Time, Service: a.opts.Service, Level: res.Level, Host: a.opts.Host,
		Message: res.Message, Fields: res.Fields})
}

// syslogMessage maps APP-NAME/tag to the service, HOSTNAME to the host and
// the severity to the level.
func (a *Agent) syslogMessage(m syslog.Message, peer string) {
	svc := a.opts.Service
	if m.AppName != "" {
		svc = schema.SanitizeService(m.AppName)
	}
	host := m.Host
	if host == "" {
		host = a.opts.Host
	}
	fields := map[string]string{"peer": peer}
	if m.ProcID != "" {
		fields["procid"] = m.ProcID
	}
	if m.MsgID != "" {
		fields["msgid"] = m.MsgID
	}
	a.publish(context.Background(), schema.Event{Time: m.Time, Service: svc, Level: m.Level, Host: host, Message: m.Text, Fields: fields})
}

func (a *Agent) publish(ctx context.Context, ev schema.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if err := a.pub.Publish(ctx, ev); err != nil {
		a.PublishErrors.Add(1)
		a.logger.Warn("event not published", "service", ev.Service, "err", err)
	}
}

// Collectors exposes the agent's counters as Prometheus metrics.
func (a *Agent) Collectors() []prometheus.Collector {
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	syslogStat := func(i int) func() float64 {
		return func() float64 {
			f, inv, tl := a.SyslogStats()
			return float64([]uint64{f, inv, tl}[i])
		}
	}
	return []prometheus.Collector{
		counter("zlog_agent_lines_total", "Lines read from stdin.", func() float64 { return float64(a.Lines.Load()) }),
		counter("zlog_agent_truncated_total", "Lines cut at --max-line-bytes (the event carries truncated=<length>).", func() float64 { return float64(a.Truncated.Load()) }),
		counter("zlog_agent_invalid_utf8_total", "Lines whose invalid UTF-8 was replaced with U+FFFD.", func() float64 { return float64(a.InvalidUTF8.Load()) }),
		counter("zlog_agent_publish_errors_total", "Events the publisher refused (see zlog_publisher_dropped_total).", func() float64 { return float64(a.PublishErrors.Load()) }),
		counter("zlog_agent_syslog_messages_total", "Syslog messages received and parsed.", syslogStat(0)),
		counter("zlog_agent_syslog_invalid_total", "Syslog messages skipped as unparseable.", syslogStat(1)),
		counter("zlog_agent_syslog_too_long_total", "Syslog frames skipped as longer than --max-line-bytes.", syslogStat(2)),
	}
}
