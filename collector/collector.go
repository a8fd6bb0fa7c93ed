// Package collector is the zlog-collector daemon: the ZeroMQ proxy in front,
// and two sinks behind it (rotating log files and the SQLite index).
//
// Queues: the proxy hands each batch to the files sink, which hands it to
// the index, through channels bounded together by events (QueueEvents
// received and not yet taken by the index stage), not by batches: at a
// steady rate batches are small, and 16 of them filled during one index
// commit, stopping the proxy, whose live subscribers then waited for the
// commit (p99 74 ms at 20k events/s, 6 ms bounded by events; measured).
// When a sink falls behind, the bound is reached and the proxy stops
// reading; ZeroMQ then buffers up to its high-water marks and publishers
// feel backpressure. A sink that fails (disk full, I/O error)
// retries the same batch with backoff, so nothing is dropped while the
// collector runs; only at shutdown, after ShutdownTimeout, is what a failing
// sink still holds abandoned, and then it is counted and logged.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/zlog/zlog/collector/index"
	"github.com/zlog/zlog/collector/logfile"
	"github.com/zlog/zlog/collector/proxy"
	"github.com/zlog/zlog/collector/vlsink"
	"github.com/zlog/zlog/collector/vlstore"
	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/vlsearch"
	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/buildinfo/buildmetric"
	"github.com/zlog/zlog/schema/dirlock"
	"github.com/zlog/zlog/schema/keys"
)

// Options configure the collector. Zero values take the defaults shown.
type Options struct {
	DataDir  string // <data>/logs and <data>/index; "./data"
	XSubAddr string // "tcp://*:4444"
	XPubAddr string // "tcp://*:4445"
	HTTPAddr string // /metrics, /healthz and the query API; "127.0.0.1:4446"; "" or "off" disables
	APIToken string // bearer token the query API and /metrics require; "" requires none
	// QuerySocket serves the query API on <data>/query.sock too, with the
	// sqlite store: logq on this host asks it rather than opening the
	// index itself, and is answered from a process whose memory is
	// already warm (a cold logq faulted in thousands of pages). true.
	QuerySocket bool
	// FollowStallTimeout: a follow or tail client of the API that accepts
	// nothing for this long is disconnected; 30s.
	FollowStallTimeout time.Duration

	// CURVE: with CurveSecretKey (a .key file) and AuthorizedKeys (a file
	// or a directory of .pub files) set, ZeroMQ traffic is encrypted and
	// only listed keys may publish or subscribe. Both empty: plaintext.
	CurveSecretKey string
	AuthorizedKeys string
	MaxEventBytes  int           // schema.DefaultMaxEvent
	MaxFuture      time.Duration // events dated further ahead get the receive time; 0 accepts any
	CommitInterval time.Duration // longest an event waits before its index commit; 100ms
	// CommitEvents: commit early once this many events wait; 50000. Only a
	// collector behind its publishers fills it: then a commit gives each of
	// the bench's 20 services about a full block (index.FullBlock), sealed
	// at once. At 20000, three in five events of a 1M burst went into a
	// small block first and were encoded again when it filled: 12 % more
	// collector CPU over five runs each, for 3 MiB less peak RSS.
	CommitEvents    int
	QueueEvents     int           // events received and not yet taken by the index stage; 32768
	ShutdownTimeout time.Duration // how long a failing sink may keep retrying at shutdown; 10s

	// Retention: index partitions (UTC days) that ended more than Retain ago
	// are removed (0 keeps everything), then the oldest while the index is
	// over MaxIndexBytes (0: no limit); checked every RetentionEvery (1m).
	Retain         time.Duration
	MaxIndexBytes  int64
	RetentionEvery time.Duration

	LogMaxSizeMB  int  // 100
	LogMaxBackups int  // 10
	LogMaxAgeDays int  // 0 = keep by count only
	LogCompress   bool // gzip rotated files: they are the second copy of every line

	// Store is where events are indexed: "sqlite" (the default, under
	// <data>/index) or "victorialogs" (a cluster's vlinsert and vlselect,
	// or a single node, at VLInsertURL and VLSelectURL; events are
	// acknowledged once a count confirms them, vlsink.ConfirmDelay of
	// VLFlushInterval after they were written).
	Store           string
	VLInsertURL     string
	VLSelectURL     string
	VLFlushInterval time.Duration // the storage nodes' -inmemoryDataFlushInterval; 5s
}

// Stores name the collector's index stores.
const (
	StoreSQLite       = "sqlite"
	StoreVictoriaLogs = "victorialogs"
)

// DefaultOptions are the defaults of every option; zlog-collector's flags
// take theirs from here, and New fills zero fields from here.
func DefaultOptions() Options {
	data := os.Getenv("ZLOG_DATA")
	if data == "" {
		data = "./data"
	}
	return Options{
		DataDir: data, XSubAddr: "tcp://*:4444", XPubAddr: "tcp://*:4445", HTTPAddr: "127.0.0.1:4446", QuerySocket: true,
		FollowStallTimeout: 30 * time.Second,
		MaxEventBytes:      schema.DefaultMaxEvent, MaxFuture: time.Hour,
		CommitInterval: 100 * time.Millisecond, CommitEvents: 50000, QueueEvents: 32768, ShutdownTimeout: 10 * time.Second,
		Retain: 7 * 24 * time.Hour, RetentionEvery: time.Minute,
		LogMaxSizeMB: 100, LogMaxBackups: 10, LogMaxAgeDays: 7, LogCompress: true,
		Store: StoreSQLite, VLFlushInterval: 5 * time.Second,
	}
}

// setDefaults fills the fields a library user left zero.
func (o *Options) setDefaults() {
	d := DefaultOptions()
	if o.DataDir == "" {
		o.DataDir = d.DataDir
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = d.MaxEventBytes
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = d.CommitInterval
	}
	if o.CommitEvents <= 0 {
		o.CommitEvents = d.CommitEvents
	}
	if o.QueueEvents <= 0 {
		o.QueueEvents = d.QueueEvents
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = d.ShutdownTimeout
	}
	if o.LogMaxSizeMB <= 0 {
		o.LogMaxSizeMB = d.LogMaxSizeMB
	}
	if o.FollowStallTimeout <= 0 {
		o.FollowStallTimeout = d.FollowStallTimeout
	}
	if o.Store == "" {
		o.Store = d.Store
	}
	if o.VLFlushInterval <= 0 {
		o.VLFlushInterval = d.VLFlushInterval
	}
}

// Collector is created by New and started once by Run.
type Collector struct {
	opts           Options
	logger         *slog.Logger
	reg            *prometheus.Registry
	proxy          *proxy.Proxy
	files          *logfile.Sink
	index          *index.Writer // with the sqlite store
	vl             *vlsink.Sink  // with the victorialogs store
	reader         query.Reader  // answers the API with the victorialogs store; nil: the index
	lock           *dirlock.Lock
	listener       net.Listener
	socket         net.Listener // the query socket; nil when not served
	socketRequests prometheus.Counter
	conns          *query.ConnPool // the API's partition connections, with the sqlite store

	stages stageMetrics

	ready     chan struct{}
	readyOnce sync.Once
	// backlog counts events handed to the sinks and not yet committed to
	// the index; publishers hear it in heartbeats.
	backlog     atomic.Int64
	health      health
	dataDirLost prometheus.Counter
}

// New opens storage and binds every socket, so configuration and address
// errors are reported before Run.
func New(opts Options, logger *slog.Logger) (*Collector, error) {
	opts.setDefaults()
	if opts.MaxEventBytes*2 > opts.LogMaxSizeMB<<20 {
		return nil, fmt.Errorf("max event bytes %d must be under half of the log file size (%d MB)", opts.MaxEventBytes, opts.LogMaxSizeMB)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildmetric.Collector())
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c := &Collector{
		opts: opts, logger: logger, reg: reg, ready: make(chan struct{}),
		dataDirLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_collector_data_dir_lost_total", Help: "Times the data directory was found deleted or replaced while running (and created again).",
		}),
		stages: newStageMetrics(reg, "files", "index"),
	}
	reg.MustRegister(c.dataDirLost)

	// Two collectors on one data directory would both take the stream
	// marks as theirs and interleave partitions and log files.
	var err error
	if c.lock, err = dirlock.Acquire(opts.DataDir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.closeStorage()
		}
	}()
	// What the index holds durably is where every stream's sequence resumes.
	hwms, err := c.openStore()
	if err != nil {
		return nil, err
	}
	if c.files, err = logfile.New(logfile.Options{
		Dir: filepath.Join(opts.DataDir, "logs"), MaxSizeMB: opts.LogMaxSizeMB,
		MaxBackups: opts.LogMaxBackups, MaxAgeDays: opts.LogMaxAgeDays, Compress: opts.LogCompress,
	}, logger, reg); err != nil {
		return nil, err
	}
	curve, err := loadCurve(opts)
	if err != nil {
		return nil, err
	}
	if curve == nil {
		logger.Warn("CURVE is off: anyone who reaches the ZeroMQ ports can publish events and read them all; see --curve-secret-key and --authorized-keys")
	} else {
		logger.Info("CURVE is on", "publishers", len(curve.Allow.Keys(keys.Publish)), "subscribers", len(curve.Allow.Keys(keys.Subscribe)), "authorized_keys", opts.AuthorizedKeys)
	}
	if c.proxy, err = proxy.New(proxy.Options{
		XSubAddr: opts.XSubAddr, XPubAddr: opts.XPubAddr, MaxEventBytes: opts.MaxEventBytes, MaxFuture: opts.MaxFuture, StreamHWMs: hwms, Curve: curve,
		ForgetIdleStreams: forgetAfter(opts.Retain), Backlog: c.pendingEvents,
	}, logger, reg); err != nil {
		return nil, err
	}
	if opts.HTTPAddr != "" && opts.HTTPAddr != "off" {
		if c.listener, err = net.Listen("tcp", opts.HTTPAddr); err != nil {
			c.proxy.Close()
			return nil, fmt.Errorf("listen http %q: %w", opts.HTTPAddr, err)
		}
	}
	if err := c.listenSocket(); err != nil {
		if c.listener != nil {
			c.listener.Close()
		}
		c.proxy.Close()
		return nil, err
	}
	ok = true
	return c, nil
}

// openStore opens the index store and reads every stream's durable mark.
func (c *Collector) openStore() (map[schema.Stream]uint64, error) {
	opts := c.opts
	if opts.Store == StoreVictoriaLogs {
		if opts.VLInsertURL == "" {
			return nil, errors.New("--store victorialogs needs --vl-insert")
		}
		store, err := vlstore.New(vlstore.Options{InsertURL: opts.VLInsertURL, SelectURL: opts.VLSelectURL}, c.logger)
		if err != nil {
			return nil, err
		}
		c.reader = vlsearch.New(store)
		c.vl = vlsink.New(store, vlsink.Options{FlushDelay: vlsink.ConfirmDelay(opts.VLFlushInterval), Committed: c.acknowledge}, c.logger.With("component", "vlsink"))
		c.reg.MustRegister(c.vl.Collectors()...)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		hwms, err := c.vl.LoadMarks(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the stream marks from VictoriaLogs: %w", err)
		}
		return hwms, nil
	}
	if opts.Store != "" && opts.Store != StoreSQLite {
		return nil, fmt.Errorf("store %q: want %s or %s", opts.Store, StoreSQLite, StoreVictoriaLogs)
	}
	c.conns = query.NewConnPool()
	var err error
	c.index, err = index.New(index.Options{Dir: filepath.Join(opts.DataDir, "index"), Committed: c.acknowledge, Retain: opts.Retain,
		MaxBytes: opts.MaxIndexBytes, RetentionEvery: opts.RetentionEvery}, c.logger, newIndexMetrics(c.reg))
	if err != nil {
		return nil, err
	}
	return c.index.LoadHWMs(context.Background())
}

// indexStage is the stage of the index store.
func (c *Collector) indexStage(in <-chan []schema.Event) stage {
	st := stage{name: "index", in: in, gather: c.opts.CommitInterval, gatherEvents: c.opts.CommitEvents,
		tick: c.tick, stored: func(n int) { c.backlog.Add(-int64(n)) }}
	if c.vl != nil {
		st.sink = c.vl
	} else {
		st.sink, st.idle = c.index, c.index.Maintain
	}
	return st
}

// closeStorage closes the sinks and unlocks the data directory, in reverse
// order of opening; a nil part was never opened.
func (c *Collector) closeStorage() error {
	var errs []error
	if c.files != nil {
		errs = append(errs, c.files.Close())
	}
	if c.index != nil {
		errs = append(errs, c.index.Close())
	}
	if c.vl != nil {
		errs = append(errs, c.vl.Close())
	}
	errs = append(errs, c.lock.Release())
	return errors.Join(errs...)
}

// forgetAfter is how long a stream may be idle before the sequencer forgets
// it: once retention has removed every partition that could hold its
// events (whole days, so a day more than --retain). Keeping everything
// (retain 0) keeps every stream.
func forgetAfter(retain time.Duration) time.Duration {
	if retain <= 0 {
		return 0
	}
	return retain + 24*time.Hour
}

func loadCurve(opts Options) (*proxy.Curve, error) {
	if opts.CurveSecretKey == "" && opts.AuthorizedKeys == "" {
		return nil, nil
	}
	if opts.CurveSecretKey == "" || opts.AuthorizedKeys == "" {
		return nil, errors.New("CURVE needs both --curve-secret-key and --authorized-keys")
	}
	pair, err := keys.ReadSecret(opts.CurveSecretKey)
	if err != nil {
		return nil, err
	}
	allow, err := keys.LoadAllowlist(opts.AuthorizedKeys)
	if err != nil {
		return nil, err
	}
	return &proxy.Curve{Secret: pair.Secret, Allow: allow}, nil
}

// ReloadKeys reads the authorized keys again (on SIGHUP). A key that was
// removed stops working at once, open connections included. On error the
// previous list stays in force.
func (c *Collector) ReloadKeys() error {
	if c.opts.AuthorizedKeys == "" {
		return errors.New("CURVE is off: there are no authorized keys to reload")
	}
	allow, err := keys.LoadAllowlist(c.opts.AuthorizedKeys)
	if err != nil {
		return fmt.Errorf("reload (the previous keys stay in force): %w", err)
	}
	// The proxy's loop drops connections between two polls (20 ms); a
	// collector that is shutting down may not get to it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.proxy.SetAllowlist(ctx, allow); err != nil {
		return err
	}
	c.logger.Info("authorized keys reloaded", "publishers", len(allow.Keys(keys.Publish)), "subscribers", len(allow.Keys(keys.Subscribe)))
	return nil
}

// Endpoints reports the resolved addresses (useful when ports were "*" or 0).
func (c *Collector) Endpoints() (xsub, xpub, http string) {
	if c.listener != nil {
		http = c.listener.Addr().String()
	}
	return c.proxy.XSubEndpoint, c.proxy.XPubEndpoint, http
}

// Run serves until ctx ends, then stops intake, flushes both sinks and
// returns. Shutdown runs in reverse order of start-up: the HTTP server,
// the proxy (which drains what ZeroMQ holds), the files stage, the index
// stage, then storage is closed.
func (c *Collector) Run(ctx context.Context) error {
	// A batch holds at least one event: channels this deep never block
	// before queued does.
	filesIn := make(chan []schema.Event, c.opts.QueueEvents)
	indexIn := make(chan []schema.Event, c.opts.QueueEvents)
	queued := newEventBound(c.opts.QueueEvents, c.stages.queuedEvents)

	// giveUp ends sink retries once shutdown has waited ShutdownTimeout.
	giveUp, stopGiveUp := context.WithCancel(context.Background())
	defer stopGiveUp()
	var group errgroup.Group // owns every goroutine of the collector
	group.Go(func() error {
		select {
		case <-ctx.Done():
		case <-giveUp.Done():
			return nil
		}
		select {
		case <-time.After(c.opts.ShutdownTimeout):
			stopGiveUp()
		case <-giveUp.Done():
		}
		return nil
	})

	// Files first, then the index: an event is acknowledged after its index
	// commit, and by then its line is in the file too.
	var sinks errgroup.Group
	sinks.Go(func() error {
		return c.runStage(giveUp, stage{name: "files", sink: c.files, in: filesIn, next: indexIn})
	})
	sinks.Go(func() error {
		st := c.indexStage(indexIn)
		st.taken = queued.release
		return c.runStage(giveUp, st)
	})
	// VictoriaLogs: the confirmations that acknowledge, until the index
	// stage has written its last batch.
	confirmCtx, stopConfirm := context.WithCancel(context.Background())
	defer stopConfirm()
	if c.vl != nil {
		group.Go(func() error { return c.vl.Run(confirmCtx) })
	}

	var front errgroup.Group
	apiH := c.apiHandler()
	httpSrv := c.startHTTP(&front, apiH)
	socketSrv := c.startSocket(&front, apiH)
	front.Go(func() error {
		defer close(filesIn)
		return c.proxy.Run(ctx, func(batch []schema.Event) error {
			queued.acquire(len(batch))
			c.backlog.Add(int64(len(batch)))
			filesIn <- batch
			return nil
		})
	})
	c.readyOnce.Do(func() { close(c.ready) })
	xsub, xpub, httpAddr := c.Endpoints()
	c.logger.Info("collector ready", "xsub", xsub, "xpub", xpub, "http", httpAddr, "data", c.opts.DataDir)

	<-ctx.Done()
	errHTTP := errors.Join(shutdown(socketSrv), shutdown(httpSrv))
	if c.conns != nil {
		c.conns.Close()
	}
	errFront := front.Wait()
	errSinks := sinks.Wait()
	stopConfirm()
	stopGiveUp()
	group.Wait()
	return errors.Join(errHTTP, errFront, errSinks, c.closeStorage())
}

// tick is the index stage's periodic work.
func (c *Collector) tick() {
	c.keepDataDir()
	if c.conns != nil {
		// A partition retention removed keeps its disk while a connection
		// to it is open.
		c.conns.CloseIdle(time.Minute)
	}
}

// keepDataDir notices the data directory deleted or replaced under the
// running collector. The sinks create their files again by themselves (and
// write again what they committed into deleted files); here the directory
// is locked again, so no second collector can take it meanwhile.
func (c *Collector) keepDataDir() {
	if c.lock.Intact() {
		return
	}
	c.dataDirLost.Inc()
	c.logger.Error("data directory removed or replaced while running; creating it again (what it held is gone; events not yet acknowledged are written again)", "data", c.opts.DataDir)
	lock, err := dirlock.Acquire(c.opts.DataDir)
	if err != nil {
		c.health.fail("data", err)
		c.logger.Error("lock the data directory again", "err", err)
		return
	}
	c.health.ok("data")
	c.lock.Release()
	c.lock = lock
}

// pendingEvents, the backlog for heartbeats, are the events received and
// not yet acknowledged: not yet stored, or written to VictoriaLogs and not
// yet confirmed there.
func (c *Collector) pendingEvents() uint64 {
	n := max(c.backlog.Load(), 0)
	if c.vl != nil {
		n += int64(c.vl.Pending())
	}
	return uint64(n)
}

// Ready is closed once Run has started serving.
func (c *Collector) Ready() <-chan struct{} { return c.ready }

// acknowledge tells each publisher what one index commit made durable.
func (c *Collector) acknowledge(hwms map[schema.Stream]uint64) {
	byPublisher := make(map[string]map[string]uint64)
	for s, hwm := range hwms {
		if byPublisher[s.Publisher] == nil {
			byPublisher[s.Publisher] = make(map[string]uint64)
		}
		byPublisher[s.Publisher][s.Topic] = hwm
	}
	for pub, topics := range byPublisher {
		c.proxy.Ack(schema.Ack{Publisher: pub, HWM: topics})
	}
}
