package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/zlog/zlog/collector/vlstore"
	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/api"
	"github.com/zlog/zlog/query/live"
	"github.com/zlog/zlog/query/vlsearch"
	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/keys"
)

// backend answers logq's commands: from the index and XPUB on this host
// (the default), or from a collector's query API with --collector.
type backend interface {
	Search(ctx context.Context, q query.Query) (query.Iterator, error)
	Count(ctx context.Context, q query.Query) (int64, error)
	Run(ctx context.Context, q query.Query) (*query.Table, error)
	Context(ctx context.Context, id string, before, after int) (*query.Context, error)
	Stats(ctx context.Context, q query.Query, by query.GroupBy, every time.Duration) (*query.Stats, error)
	RetainedFrom(ctx context.Context) (time.Time, bool, error)
	Follow(ctx context.Context, q query.Query, emit func(*schema.Event) error, notice func(string)) error
	Tail(ctx context.Context, f live.Filter, emit func(*schema.Event) error, notice func(string)) error
}

// sourceFlags choose the backend.
type sourceFlags struct {
	data, xpub, collector, tokenFile, serverKey, secretKey, store, vlSelect *string
	partial, direct                                                         *bool
}

func addSourceFlags(fs *flag.FlagSet) *sourceFlags {
	return &sourceFlags{
		data:      fs.String("data", defaultData(), "data directory of a collector on this host ($ZLOG_DATA sets the default)"),
		xpub:      fs.String("xpub", "tcp://127.0.0.1:4445", "collector XPUB endpoint, for live events on this host"),
		collector: fs.String("collector", os.Getenv("ZLOG_COLLECTOR"), "ask a collector's query API instead, e.g. http://host:4446 ($ZLOG_COLLECTOR)"),
		tokenFile: fs.String("token-file", os.Getenv("ZLOG_TOKEN_FILE"), "file holding the query API's bearer token ($ZLOG_TOKEN_FILE)"),
		serverKey: fs.String("curve-server-key", os.Getenv("ZLOG_CURVE_SERVER_KEY"), "the collector's CURVE public key file, for live events from a CURVE collector ($ZLOG_CURVE_SERVER_KEY)"),
		store:     fs.String("store", envOr("ZLOG_STORE", "sqlite"), "where the events are: sqlite (the collector's SQLite index under --data) or victorialogs (--vl-select) ($ZLOG_STORE)"),
		vlSelect:  fs.String("vl-select", os.Getenv("ZLOG_VL_SELECT"), "VictoriaLogs' vlselect (or single node) URL, with --store victorialogs, e.g. http://host:9471 ($ZLOG_VL_SELECT)"),
		partial:   fs.Bool("partial", false, "with --store victorialogs: when a storage node does not answer, list the events of those that do, with a warning (never for --count, stats or pipes)"),
		direct:    fs.Bool("direct", false, "read the index files under --data even when the collector there answers on its query socket (<data>/query.sock)"),
		secretKey: fs.String("curve-secret-key", os.Getenv("ZLOG_CURVE_SECRET_KEY"), "logq's CURVE secret key file; its .pub must be in the collector's --authorized-keys ($ZLOG_CURVE_SECRET_KEY)"),
	}
}

func (s *sourceFlags) backend() (backend, error) {
	if *s.collector == "" {
		curve, err := keys.LoadClient(*s.serverKey, *s.secretKey)
		if err != nil {
			return nil, fmt.Errorf("flag --curve-secret-key: %w", err)
		}
		open, err := s.reader()
		if err != nil {
			return nil, err
		}
		local := &localBackend{open: open, live: live.Options{Endpoint: *s.xpub, Curve: curve,
			Notice: func(msg string) { fmt.Fprintln(os.Stderr, "logq:", msg) }}}
		if *s.store == "sqlite" && !*s.direct {
			if c, err := api.NewSocketClient(api.SocketPath(*s.data)); err == nil {
				c.Warn = warn
				return &socketBackend{Client: c, local: local}, nil
			}
		}
		return local, nil
	}
	var token string
	if *s.tokenFile != "" {
		var err error
		if token, err = keys.ReadToken(*s.tokenFile); err != nil {
			return nil, fmt.Errorf("flag --token-file: %w", err)
		}
	}
	c, err := api.NewClient(*s.collector, token)
	if err != nil {
		return nil, fmt.Errorf("flag --collector: %w", err)
	}
	return c, nil
}

// reader opens the store --store names.
func (s *sourceFlags) reader() (func() (query.Reader, error), error) {
	if *s.partial && *s.store != "victorialogs" {
		return nil, fmt.Errorf("flag --partial: only with --store victorialogs")
	}
	switch *s.store {
	case "sqlite":
		dir := filepath.Join(*s.data, "index")
		return func() (query.Reader, error) {
			s, err := query.NewSearcher(dir)
			if err != nil {
				return nil, err
			}
			s.Warn = warn
			return s, nil
		}, nil
	case "victorialogs":
		store, err := vlstore.New(vlstore.Options{SelectURL: *s.vlSelect}, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, fmt.Errorf("flag --vl-select: %w", err)
		}
		r := vlsearch.New(store)
		if *s.partial {
			r.AllowPartial(func(msg string) { fmt.Fprintln(os.Stderr, "logq: warning:", msg) })
		}
		return func() (query.Reader, error) { return r, nil }, nil
	}
	return nil, fmt.Errorf("flag --store %q: want sqlite or victorialogs", *s.store)
}

func warn(msg string) { fmt.Fprintln(os.Stderr, "logq: warning:", msg) }

// socketBackend asks the collector running on --data, through its query
// socket, what the index answers: its process is warm, where a fresh
// logq faulted in thousands of pages to read the index (a rare word over
// 10M events: 61 ms read here, 39 ms asked, measured on a 2-core VM).
// Live events still come from XPUB, as without it.
type socketBackend struct {
	*api.Client
	local *localBackend
}

func (s *socketBackend) Follow(ctx context.Context, q query.Query, emit func(*schema.Event) error, notice func(string)) error {
	return s.local.Follow(ctx, q, emit, notice)
}

func (s *socketBackend) Tail(ctx context.Context, f live.Filter, emit func(*schema.Event) error, notice func(string)) error {
	return s.local.Tail(ctx, f, emit, notice)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// localBackend reads the store on this host (--data or --vl-select) and
// the XPUB at --xpub.
type localBackend struct {
	open func() (query.Reader, error)
	live live.Options
}

func (l *localBackend) searcher() (query.Reader, error) { return l.open() }

func (l *localBackend) Search(ctx context.Context, q query.Query) (query.Iterator, error) {
	s, err := l.searcher()
	if err != nil {
		return nil, err
	}
	return s.Search(ctx, q)
}

func (l *localBackend) Count(ctx context.Context, q query.Query) (int64, error) {
	s, err := l.searcher()
	if err != nil {
		return 0, err
	}
	return s.Count(ctx, q)
}

func (l *localBackend) Context(ctx context.Context, id string, before, after int) (*query.Context, error) {
	s, err := l.searcher()
	if err != nil {
		return nil, err
	}
	ev, err := s.EventByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.ContextOf(ctx, ev, before, after)
}

func (l *localBackend) Run(ctx context.Context, q query.Query) (*query.Table, error) {
	s, err := l.searcher()
	if err != nil {
		return nil, err
	}
	return s.Run(ctx, q)
}

func (l *localBackend) Stats(ctx context.Context, q query.Query, by query.GroupBy, every time.Duration) (*query.Stats, error) {
	s, err := l.searcher()
	if err != nil {
		return nil, err
	}
	return s.Stats(ctx, q, by, every)
}

func (l *localBackend) RetainedFrom(context.Context) (time.Time, bool, error) {
	s, err := l.searcher()
	if err != nil {
		return time.Time{}, false, nil // the command itself reports the missing index
	}
	t, ok := s.RetainedFrom()
	return t, ok, nil
}

func (l *localBackend) Follow(ctx context.Context, q query.Query, emit func(*schema.Event) error, notice func(string)) error {
	s, err := l.searcher()
	if err != nil {
		return err
	}
	return live.Follow(ctx, s, q, l.live, emit, notice)
}

func (l *localBackend) Tail(ctx context.Context, f live.Filter, emit func(*schema.Event) error, notice func(string)) error {
	return live.Tail(ctx, l.live, f, emit, notice)
}
