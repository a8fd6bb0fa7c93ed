// Package sidecar is zlog-agent: it reads log lines from its sources (files
// by glob, stdin, syslog over UDP and TCP), parses them, and publishes them
// to the collector through the publisher library, so they get its sequence
// numbers, acks, resends and spool.
package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zlog/zlog/agent/intake"
	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/positions"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/syslog"
	"github.com/zlog/zlog/schema"
)

// Publisher is the part of the publisher library the agent uses.
type Publisher interface {
	PublishMarked(ctx context.Context, ev schema.Event, m publisher.Mark) error
	PublishBatch(ctx context.Context, items []publisher.Item) []error
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
	// Format of file and stdin lines: parse.Auto detects JSON, logfmt and
	// the text formats per line; docker and cri unwrap container logs.
	Format parse.Format
	// Multiline, when set, joins lines that do not start an event onto the
	// event before them (stack traces).
	Multiline parse.StartFunc
	// Location is the zone of time stamps without one; time.Local if nil.
	Location *time.Location
	Rule     *parse.Rule   // the source's own parse rule; nil for none
	Labels   schema.Labels // added to every event of the source
	// Journal, when set, reads systemd's journal; the entry's unit or
	// identifier names the service (Service when it has none).
	Journal *Journal
	// Intakes are HTTP listeners of the ecosystem's protocols (OTLP,
	// Elasticsearch bulk, jsonline); Service, Host and Labels of each are
	// the source's and the agent's.
	Intakes []intake.Options
}

// newParser makes the parser of the source's lines and messages.
func (s *Source) newParser(maxLineBytes int) *parse.Parser {
	f := s.Format
	if f.IsContainer() {
		f = parse.Auto // the container's lines are the application's, of any format
	}
	return parse.New(parse.Options{MaxLineBytes: maxLineBytes, Format: f, Location: s.Location, Rule: s.Rule})
}

// newJoiner makes the joiner of one of the source's files or its stdin.
func (s *Source) newJoiner(maxLineBytes int) *parse.Joiner {
	o := parse.JoinerOptions{Start: s.Multiline, MaxBytes: maxLineBytes}
	if s.Format.IsContainer() {
		o.Container, _ = parse.NewContainerDecoder(s.Format)
	}
	return parse.NewJoiner(o)
}

// Options configure the agent. Zero values take the defaults shown.
type Options struct {
	Host         string // host of file and stdin lines, and of syslog messages without one
	Sources      []Source
	MaxLineBytes int // longer lines are cut; longer syslog frames skipped; 64 KiB
	// UDPReceiveBuffer is the kernel receive buffer of syslog UDP
	// listeners; syslog.DefaultReceiveBuffer.
	UDPReceiveBuffer int
	// MultilineTimeout sends a joined event whose next line has not come; 1s.
	MultilineTimeout time.Duration

	// Files: Positions is the file of acknowledged read positions, required
	// with file sources. FromBeginning reads files that exist on the first
	// start from their start instead of their end.
	Positions     string
	FromBeginning bool
	PollInterval  time.Duration // check files this often without a file event; 250ms
	// Spooled says the publisher has a spool: HTTP intakes then answer
	// once events are in it, else once the collector acknowledged them.
	Spooled bool
}

// DefaultOptions are the agent's defaults; zlog-agent's flags take theirs
// from here and New fills zero fields from here.
func DefaultOptions() Options {
	return Options{MaxLineBytes: 64 << 10, MultilineTimeout: time.Second, PollInterval: 250 * time.Millisecond}
}

// source is one of the agent's inputs. New builds it (binding listeners,
// loading positions), the agent's group owns its Run, which publishes what
// it reads and returns when ctx ends (stdin also at its end), and Close
// releases what New opened.
type source interface {
	Run(ctx context.Context) error
	Close() error
}

// Agent runs the sources.
type Agent struct {
	opts       Options
	logger     *slog.Logger
	baseLogger *slog.Logger
	pub        Publisher
	sources    []source
	intakes    []*intake.Server
	positions  *positions.Store // nil without file and journal sources
	// positionsExisted is false on a first start (no positions file yet).
	positionsExisted bool

	Lines, Truncated, InvalidUTF8, PublishErrors, Undecodable atomic.Uint64
}

// New validates the options, binds the syslog listeners and loads the file
// positions; on error it closes what it opened.
func New(opts Options, logger *slog.Logger, pub Publisher) (a *Agent, err error) {
	d := DefaultOptions()
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = d.MaxLineBytes
	}
	if opts.MultilineTimeout <= 0 {
		opts.MultilineTimeout = d.MultilineTimeout
	}
	a = &Agent{opts: opts, logger: logger.With("component", "agent"), baseLogger: logger, pub: pub}
	defer func() {
		if err != nil {
			a.closeSources()
		}
	}()
	var files []*fileSource
	var journals []*journalSource
	stdin := false
	for i := range a.opts.Sources {
		src := &a.opts.Sources[i]
		if err := schema.ValidateService(src.Service); err != nil {
			return nil, fmt.Errorf("source %d: service: %w", i+1, err)
		}
		for _, url := range src.Syslog {
			s, err := syslog.Listen(url, syslog.Options{MaxFrameBytes: opts.MaxLineBytes, ReceiveBuffer: opts.UDPReceiveBuffer}, logger,
				a.syslogHandler(src, src.newParser(opts.MaxLineBytes)))
			if err != nil {
				return nil, err
			}
			a.sources = append(a.sources, &syslogSource{server: s})
		}
		if err := a.newIntakes(src); err != nil {
			return nil, err
		}
		if src.Stdin != nil {
			if stdin {
				return nil, errors.New("only one source can read stdin")
			}
			stdin = true
			a.sources = append(a.sources, &stdinSource{a: a, src: src})
		}
		if len(src.Files) > 0 {
			files = append(files, &fileSource{a: a, src: src})
		}
		if src.Journal != nil {
			journals = append(journals, a.newJournal(src))
		}
	}
	if len(a.sources) == 0 && len(files) == 0 && len(journals) == 0 {
		return nil, errors.New("no sources: give --file, --syslog, --journal, --otlp-http, --es-bulk, --jsonline or --stdin")
	}
	if len(files) > 0 || len(journals) > 0 {
		if err := a.openPositions(); err != nil {
			return nil, err
		}
	}
	if len(files) > 0 {
		if err := a.openFiles(files); err != nil {
			return nil, err
		}
	}
	for _, j := range journals {
		a.resumeJournal(j)
		a.sources = append(a.sources, j)
	}
	return a, nil
}

func (a *Agent) closeSources() {
	for _, s := range a.sources {
		s.Close()
	}
}

// Intakes lists the bound HTTP intakes as protocol=address.
func (a *Agent) Intakes() []string {
	var out []string
	for _, s := range a.intakes {
		out = append(out, s.Protocol()+"="+s.Addr())
	}
	return out
}

// Listening lists the bound syslog addresses.
func (a *Agent) Listening() []string {
	var out []string
	for _, s := range a.sources {
		if s, ok := s.(*syslogSource); ok {
			out = append(out, s.server.Addr)
		}
	}
	return out
}

// Run serves the sources until ctx ends. With stdin as the only source it
// returns at end of input, once every line is published.
func (a *Agent) Run(ctx context.Context) error {
	if a.positions != nil {
		a.positions.Start()
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range a.sources {
		g.Go(func() error { return s.Run(gctx) })
	}
	return g.Wait()
}

// Close stops the positions saver, which saves a last time, and releases
// the sources. Call it after the publisher has closed, so the final
// acknowledgements are in.
func (a *Agent) Close() error {
	var errs []error
	if a.positions != nil {
		errs = append(errs, a.positions.Close())
	}
	for _, s := range a.sources {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
