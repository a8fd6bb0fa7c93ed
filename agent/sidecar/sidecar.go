// Package sidecar is zlog-agent: it reads log lines from its sources (files
// by glob, stdin, syslog over UDP and TCP), parses them, and publishes them
// to the collector through the publisher library, so they get its sequence
// numbers, acks, resends and spool.
package sidecar

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/syslog"
	"github.com/zlog/zlog/schema"
)

// Publisher is the part of the publisher library the agent uses.
type Publisher interface {
	PublishMarked(ctx context.Context, ev schema.Event, m publisher.Mark) error
	// Cursors returns the file positions kept in the spool (nil without one).
	Cursors() map[string][]byte
	ForgetCursor(key string)
}

// Source is one thing to read, with the service its events get.
type Source struct {
	Service string
	Files   []string  // globs of files to follow
	Syslog  []string  // tcp://ADDR and udp://ADDR listeners; the tag, when present, names the service
	Stdin   io.Reader // read lines from it until EOF
	Parser  parse.Format
	// Multiline, when set, joins lines that do not start an event onto the
	// event before them (stack traces).
	Multiline parse.StartFunc
}

// Options configure the agent. Zero values take the defaults shown.
type Options struct {
	Host         string // host of file and stdin lines, and of syslog messages without one
	Sources      []Source
	MaxLineBytes int // longer lines are cut; longer syslog frames skipped; 64 KiB
	// MultilineTimeout sends a joined event whose next line has not come; 1s.
	MultilineTimeout time.Duration

	// Files: Positions is the file of acknowledged read positions, required
	// with file sources. FromBeginning reads files that exist on the first
	// start from their start instead of their end.
	Positions     string
	FromBeginning bool
	PollInterval  time.Duration // check files this often without a file event; 250ms
}

// Agent runs the sources.
type Agent struct {
	opts       Options
	logger     *slog.Logger
	baseLogger *slog.Logger
	pub        Publisher
	servers    []*syslog.Server
	files      []*fileSource
	stdin      *Source
	acked      *positions

	Lines, Truncated, InvalidUTF8, PublishErrors atomic.Uint64
}

// New validates the options, binds the syslog listeners and loads the file
// positions.
func New(opts Options, logger *slog.Logger, pub Publisher) (*Agent, error) {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 64 << 10
	}
	if opts.MultilineTimeout <= 0 {
		opts.MultilineTimeout = time.Second
	}
	a := &Agent{opts: opts, logger: logger.With("component", "agent"), baseLogger: logger, pub: pub}
	ok := false
	defer func() {
		if !ok {
			a.closeListeners()
		}
	}()
	for i := range a.opts.Sources {
		src := &a.opts.Sources[i]
		if err := schema.ValidateService(src.Service); err != nil {
			return nil, fmt.Errorf("source %d: service: %w", i+1, err)
		}
		for _, url := range src.Syslog {
			s, err := syslog.Listen(url, syslog.Options{MaxFrameBytes: opts.MaxLineBytes}, logger, a.syslogHandler(src.Service))
			if err != nil {
				return nil, err
			}
			a.servers = append(a.servers, s)
		}
		if src.Stdin != nil {
			if a.stdin != nil {
				return nil, errors.New("only one source can read stdin")
			}
			a.stdin = src
		}
		if len(src.Files) > 0 {
			a.files = append(a.files, &fileSource{src: src})
		}
	}
	if a.stdin == nil && len(a.servers) == 0 && len(a.files) == 0 {
		return nil, errors.New("no sources: give --file, --syslog or --stdin")
	}
	if len(a.files) > 0 {
		if err := a.openFiles(); err != nil {
			return nil, err
		}
	}
	ok = true
	return a, nil
}

func (a *Agent) closeListeners() {
	for _, s := range a.servers {
		s.Close()
	}
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
	for _, fs := range a.files {
		g.Go(func() error { return a.runFiles(gctx, fs) })
	}
	if len(a.files) > 0 {
		g.Go(func() error { return a.acked.run(gctx) })
	}
	if a.stdin != nil {
		g.Go(func() error {
			err := a.readLines(gctx, a.stdin)
			if err == nil && (len(a.servers) > 0 || len(a.files) > 0) {
				<-gctx.Done() // keep serving the other sources
			}
			return err
		})
	}
	return g.Wait()
}

// Close writes the acknowledged file positions a last time; call it after
// the publisher has closed, so the final acks are in.
func (a *Agent) Close() error {
	if a.acked == nil {
		return nil
	}
	return a.acked.save()
}

// readLines publishes each line of src.Stdin; lines over the limit are cut
// (the event says so) and the rest of the line is skipped. With a multiline
// start pattern, continuation lines are joined first.
func (a *Agent) readLines(ctx context.Context, src *Source) error {
	r := src.Stdin
	parser := parse.New(parse.Options{MaxLineBytes: a.opts.MaxLineBytes, Force: src.Parser})
	if src.Multiline == nil {
		return a.scanLines(ctx, r, func(line []byte, total int) { a.publishLine(ctx, src, parser, line, total, publisher.Mark{}) })
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
			a.publishLine(ctx, src, parser, event, total, publisher.Mark{})
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
			if src.Multiline(l.b) || total == 0 {
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

func (a *Agent) publishLine(ctx context.Context, src *Source, parser *parse.Parser, line []byte, total int, m publisher.Mark) error {
	a.Lines.Add(1)
	res := parser.Line(line)
	if res.Truncated {
		a.Truncated.Add(1)
		res.Fields["truncated"] = strconv.Itoa(total)
	}
	if res.InvalidUTF8 {
		a.InvalidUTF8.Add(1)
	}
	return a.publish(ctx, schema.Event{Time: res.Time, Service: src.Service, Level: res.Level, Host: a.opts.Host,
		Message: res.Message, Fields: res.Fields}, m)
}

// syslogHandler maps APP-NAME/tag to the service (the source's when there
// is none), HOSTNAME to the host and the severity to the level.
func (a *Agent) syslogHandler(service string) syslog.Handler {
	return func(m syslog.Message, peer string) { a.syslogMessage(service, m, peer) }
}

func (a *Agent) syslogMessage(service string, m syslog.Message, peer string) {
	svc := service
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
	ev := schema.Event{Time: m.Time, Service: svc, Level: m.Level, Host: host, Message: m.Text, Fields: fields}
	if repairUTF8(&ev) {
		a.InvalidUTF8.Add(1)
	}
	a.publish(context.Background(), ev, publisher.Mark{})
}

// repairUTF8 replaces invalid UTF-8 in an event's text with U+FFFD, as the
// line parser does for files and stdin: a sender's bad bytes must not cost
// the whole message. It reports whether anything was replaced.
func repairUTF8(ev *schema.Event) bool {
	fixed := false
	fix := func(s *string) {
		if !utf8.ValidString(*s) {
			*s, fixed = strings.ToValidUTF8(*s, "\uFFFD"), true
		}
	}
	fix(&ev.Message)
	fix(&ev.Host)
	for k, v := range ev.Fields {
		if fix(&v); fixed {
			ev.Fields[k] = v
		}
	}
	return fixed
}

// publish hands one event to the publisher. An event of a file refused
// because the agent is stopping is not lost: its position did not advance,
// so the next start reads it again.
func (a *Agent) publish(ctx context.Context, ev schema.Event, m publisher.Mark) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	err := a.pub.PublishMarked(ctx, ev, m)
	switch {
	case err == nil:
	case m.Key != "" && ctx.Err() != nil:
		a.logger.Debug("stopping: event left for the next start", "service", ev.Service)
	default:
		a.PublishErrors.Add(1)
		a.logger.Warn("event not published", "service", ev.Service, "err", err)
	}
	return err
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
	tailStat := func(i int) func() float64 {
		return func() float64 { return float64(a.TailStats()[i]) }
	}
	return []prometheus.Collector{
		counter("zlog_agent_lines_total", "Lines read from files and stdin (after multiline joining: events).", func() float64 { return float64(a.Lines.Load()) }),
		counter("zlog_agent_truncated_total", "Lines cut at --max-line-bytes (the event carries truncated=<length>).", func() float64 { return float64(a.Truncated.Load()) }),
		counter("zlog_agent_invalid_utf8_total", "Lines and syslog messages whose invalid UTF-8 was replaced with U+FFFD.", func() float64 { return float64(a.InvalidUTF8.Load()) }),
		counter("zlog_agent_publish_errors_total", "Events the publisher refused (see zlog_publisher_dropped_total).", func() float64 { return float64(a.PublishErrors.Load()) }),
		counter("zlog_agent_syslog_messages_total", "Syslog messages received and parsed.", syslogStat(0)),
		counter("zlog_agent_syslog_invalid_total", "Syslog messages skipped as unparseable.", syslogStat(1)),
		counter("zlog_agent_syslog_too_long_total", "Syslog frames skipped as longer than --max-line-bytes.", syslogStat(2)),
		counter("zlog_agent_files_opened_total", "Files opened for following.", tailStat(0)),
		counter("zlog_agent_file_renames_total", "Rotations by rename seen (the old file is read to its end).", tailStat(1)),
		counter("zlog_agent_file_truncations_total", "Truncations seen (copytruncate or > file).", tailStat(2)),
		counter("zlog_agent_file_copies_found_total", "Copies found after copytruncate, read from where reading stood.", tailStat(3)),
		counter("zlog_agent_file_lost_bytes_total", "Bytes known lost: a truncated file's unread part with no copy found.", tailStat(4)),
		counter("zlog_agent_file_open_errors_total", "Failed attempts to open a matched file (e.g. permission denied); retried every poll.", tailStat(5)),
		counter("zlog_agent_file_read_errors_total", "Failed reads of followed files.", tailStat(6)),
		counter("zlog_agent_file_generations_total", "Rotated files read whole because they were rotated before they were read (several rotations while the agent was stopped, or between two looks).", tailStat(7)),
		counter("zlog_agent_file_lost_files_total", "Files of the last run that could not be found again (their unread end, if any, is lost).", tailStat(8)),
	}
}

// Check validates the options without opening anything.
func (o Options) Check() error {
	if len(o.Sources) == 0 {
		return errors.New("no sources: give --file, --syslog, --stdin or --config")
	}
	for i, s := range o.Sources {
		if err := schema.ValidateService(s.Service); err != nil {
			return fmt.Errorf("source %d: service: %w", i+1, err)
		}
		switch s.Parser {
		case "", parse.JSON, parse.Logfmt, parse.Plain:
		default:
			return fmt.Errorf("source %q: parser %q: want auto, json, logfmt or plain", s.Service, s.Parser)
		}
		for _, g := range s.Files {
			if _, err := filepath.Match(g, ""); err != nil || g == "" {
				return fmt.Errorf("source %q: bad file glob %q", s.Service, g)
			}
		}
		if len(s.Files) > 0 && o.Positions == "" {
			return errors.New("following files needs a place to keep read positions: give --spool DIR (exactly once across restarts) or --positions FILE")
		}
	}
	return nil
}

// Describe lists the sources, one per line, for --check-config.
func (o Options) Describe() string {
	var b strings.Builder
	for _, s := range o.Sources {
		parser := string(s.Parser)
		if parser == "" {
			parser = "auto"
		}
		fmt.Fprintf(&b, "source service=%s", s.Service)
		if len(s.Files) > 0 {
			fmt.Fprintf(&b, " files=%s parser=%s multiline=%t", strings.Join(s.Files, ","), parser, s.Multiline != nil)
		}
		if len(s.Syslog) > 0 {
			fmt.Fprintf(&b, " syslog=%s", strings.Join(s.Syslog, ","))
		}
		if s.Stdin != nil {
			fmt.Fprintf(&b, " stdin parser=%s multiline=%t", parser, s.Multiline != nil)
		}
		b.WriteByte('\n')
	}
	if o.Positions != "" {
		fmt.Fprintf(&b, "positions %s\n", o.Positions)
	}
	b.WriteString("config ok\n")
	return b.String()
}

// Summary is the final tally as slog attributes.
func (a *Agent) Summary() []any {
	frames, invalid, tooLong := a.SyslogStats()
	t := a.TailStats()
	return []any{"lines", a.Lines.Load(), "truncated", a.Truncated.Load(), "invalid_utf8", a.InvalidUTF8.Load(),
		"publish_errors", a.PublishErrors.Load(), "syslog_messages", frames, "syslog_invalid", invalid, "syslog_too_long", tooLong,
		"files", t[0], "rotations", t[1] + t[2], "generations", t[7], "file_open_errors", t[5], "file_read_errors", t[6],
		"file_lost_bytes", t[4], "file_lost_files", t[8]}
}

// TailStats sums the file tailers' counters: files, renamed, truncated,
// copies found, lost bytes, open errors, read errors, generations, lost files.
func (a *Agent) TailStats() [9]uint64 {
	var out [9]uint64
	for _, fs := range a.files {
		s := &fs.tailer.Stats
		for i, c := range []*atomic.Uint64{&s.Files, &s.Renamed, &s.Truncated, &s.CopiesFound, &s.LostBytes, &s.OpenErrors, &s.ReadErrors, &s.Generations, &s.LostFiles} {
			out[i] += c.Load()
		}
	}
	return out
}
