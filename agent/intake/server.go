// Package intake is zlog-agent's HTTP intake: the ecosystem's log
// protocols (OTLP/HTTP, Elasticsearch bulk, VictoriaLogs' jsonline)
// decoded into events and handed to a Sink, which is the agent's
// publisher with its spool, sequence numbers and acknowledgements.
//
// A request is answered 2xx only once the Sink has accepted every one of
// its events durably. When it cannot take them within Options.Wait (the
// spool or queue is full, the collector is away without a spool), the
// answer is 503 with Retry-After: the client retries, and what was
// accepted before the refusal may then come twice (never lost). A body
// over MaxBodyBytes is 413, a payload that does not decode 400 with the
// reason; nothing of a refused request is accepted unless the answer says
// so (OTLP partial success, Elasticsearch per-item status). Every refusal
// is counted by protocol and reason.
package intake

import (
	"compress/gzip"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zlog/zlog/schema"
)

// Sink takes a request's events. Accept returns once each is accepted
// durably (written to the spool, or acknowledged by the collector when
// there is no spool) or refused; errs[i] is event i's refusal. A refusal
// that wraps ErrBusy is backpressure: the client should retry later.
type Sink interface {
	Accept(ctx context.Context, evs []schema.Event) (errs []error)
}

// ErrBusy is wrapped by a Sink's refusals that a retry may cure: a full
// spool or queue, a collector that has not acknowledged in time.
var ErrBusy = errors.New("busy")

// Protocol names an intake protocol.
type Protocol string

const (
	OTLP     Protocol = "otlp"     // POST /v1/logs
	ESBulk   Protocol = "es-bulk"  // POST /_bulk, /<index>/_bulk
	JSONLine Protocol = "jsonline" // POST /insert/jsonline
)

// Options configure one listener. Zero values take the defaults shown.
type Options struct {
	Protocol Protocol
	Addr     string        // host:port to listen on
	Service  string        // service of events that name none; the protocol's name
	Host     string        // host of events that name none
	Labels   schema.Labels // added to every event
	// MaxBodyBytes bounds a request's body after decompression; 64 MiB.
	MaxBodyBytes int64
	// MaxLineBytes bounds one record (a jsonline line, a bulk document);
	// 1 MiB.
	MaxLineBytes int
	// Wait is how long a request waits for the Sink before 503; 10s.
	Wait time.Duration
	// Token, when set, is required as "Authorization: Bearer TOKEN" (or
	// as the password of basic authentication, which shippers of the
	// Elasticsearch protocol send).
	Token string
	// TLSCert and TLSKey serve HTTPS when both are set.
	TLSCert, TLSKey string
}

func (o *Options) defaults() {
	if o.Service == "" {
		o.Service = string(o.Protocol)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 20
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 1 << 20
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
}

// Server is one protocol's listener.
type Server struct {
	opts    Options
	logger  *slog.Logger
	sink    Sink
	ln      net.Listener
	srv     *http.Server
	metrics metrics
	parsers parserCache
}

type metrics struct {
	requests *prometheus.CounterVec // by code
	accepted prometheus.Counter
	rejected *prometheus.CounterVec // events, by reason
}

// New binds the listener, so that a bad address fails at start-up.
func New(opts Options, sink Sink, logger *slog.Logger) (*Server, error) {
	opts.defaults()
	if err := schema.ValidateService(opts.Service); err != nil {
		return nil, fmt.Errorf("%s intake: service: %w", opts.Protocol, err)
	}
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return nil, fmt.Errorf("%s intake: TLS needs both a certificate and a key", opts.Protocol)
	}
	s := &Server{opts: opts, sink: sink, logger: logger.With("component", "intake", "protocol", string(opts.Protocol))}
	mux := http.NewServeMux()
	switch opts.Protocol {
	case OTLP:
		mux.HandleFunc("POST /v1/logs", s.guard(s.otlp))
	case JSONLine:
		mux.HandleFunc("POST /insert/jsonline", s.guard(s.jsonline))
	case ESBulk:
		s.esRoutes(mux)
	default:
		return nil, fmt.Errorf("intake protocol %q: want otlp, es-bulk or jsonline", opts.Protocol)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s intake: listen on %s: %w", opts.Protocol, opts.Addr, err)
	}
	s.ln = ln
	s.metrics = newMetrics(opts.Protocol, ln.Addr().String())
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() && (opts.Token == "" || opts.TLSCert == "") {
		s.logger.Warn("HTTP intake reachable beyond loopback without a token and TLS: anyone who can reach it can write events",
			"addr", ln.Addr().String(), "token", opts.Token != "", "tls", opts.TLSCert != "")
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn)}
	return s, nil
}

func newMetrics(p Protocol, addr string) metrics {
	labels := prometheus.Labels{"protocol": string(p), "listen": addr}
	return metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zlog_agent_intake_requests_total",
			Help: "HTTP intake requests answered, by protocol and status code.", ConstLabels: labels}, []string{"code"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_agent_intake_events_total",
			Help: "Events the HTTP intake accepted (durably: spooled, or acknowledged by the collector).", ConstLabels: labels}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zlog_agent_intake_rejected_total",
			Help: "Events (or whole requests, reason too_large, unauthorized, bad_request) the HTTP intake refused, by reason; the client was told.", ConstLabels: labels}, []string{"reason"}),
	}
}

// Collectors are the listener's metrics.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.requests, s.metrics.accepted, s.metrics.rejected}
}

// Protocol is the listener's protocol name.
func (s *Server) Protocol() string { return string(s.opts.Protocol) }

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then lets requests in flight finish (up to
// Wait) before returning.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if s.opts.TLSCert != "" {
			errc <- s.srv.ServeTLS(s.ln, s.opts.TLSCert, s.opts.TLSKey)
		} else {
			errc <- s.srv.Serve(s.ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("%s intake: %w", s.opts.Protocol, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.Wait+time.Second)
	defer cancel()
	s.srv.Shutdown(sctx)
	<-errc
	return nil
}

// Close releases the listener (Run does too when it ends).
func (s *Server) Close() error {
	if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// guard checks the token and counts the answer.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		if !s.authorized(r) {
			s.metrics.rejected.WithLabelValues("unauthorized").Inc()
			cw.Header().Set("WWW-Authenticate", `Bearer realm="zlog-agent"`)
			http.Error(cw, "missing or wrong token", http.StatusUnauthorized)
		} else {
			h(cw, r)
		}
		s.metrics.requests.WithLabelValues(strconv.Itoa(cw.code)).Inc()
	}
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return true
	}
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		_, given, ok = r.BasicAuth()
	}
	return ok && subtle.ConstantTimeCompare([]byte(given), []byte(s.opts.Token)) == 1
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// ErrTooLarge is wrapped by body when a request is over MaxBodyBytes.
var ErrTooLarge = errors.New("request body too large")

// body reads a request's body, decompressed (gzip, zstd), at most
// MaxBodyBytes of it either way.
func (s *Server) body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.opts.MaxBodyBytes
	var in io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		in = zr
	case "zstd":
		zr, err := zstd.NewReader(in, zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return nil, fmt.Errorf("zstd body: %w", err)
		}
		defer zr.Close()
		in = zr
	default:
		return nil, fmt.Errorf("content encoding %q: want gzip, zstd or none", enc)
	}
	b, err := io.ReadAll(io.LimitReader(in, limit+1))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// bodyError answers a body that could not be read.
func (s *Server) bodyError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrTooLarge) {
		s.refuse(w, http.StatusRequestEntityTooLarge, "too_large", err)
		return
	}
	s.refuse(w, http.StatusBadRequest, "bad_request", err)
}

// refuse answers a whole request with an error and counts it.
func (s *Server) refuse(w http.ResponseWriter, code int, reason string, err error) {
	s.metrics.rejected.WithLabelValues(reason).Inc()
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, err.Error(), code)
}

// accept hands evs to the Sink within Wait. busy is the number refused
// for backpressure, failed the number refused for good (their first
// error in err).
func (s *Server) accept(ctx context.Context, evs []schema.Event) (errs []error, busy, failed int, err error) {
	if len(evs) == 0 {
		return nil, 0, 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Wait)
	defer cancel()
	errs = s.sink.Accept(ctx, evs)
	for _, e := range errs {
		switch {
		case e == nil:
			s.metrics.accepted.Inc()
		case errors.Is(e, ErrBusy):
			busy++
			s.metrics.rejected.WithLabelValues("busy").Inc()
		default:
			failed++
			s.metrics.rejected.WithLabelValues("invalid").Inc()
			if err == nil {
				err = e
			}
		}
	}
	return errs, busy, failed, err
}

// event fills in what a decoded event lacks: the listener's service and
// host, its labels, the time of receipt; a service name is made valid.
func (s *Server) event(ev *schema.Event) {
	switch {
	case ev.Service == "":
		ev.Service = s.opts.Service
	case schema.ValidateService(ev.Service) != nil:
		ev.Service = schema.SanitizeService(ev.Service)
	}
	if ev.Host == "" {
		ev.Host = s.opts.Host
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Level == 0 {
		ev.Level = schema.LevelInfo
	}
	for k, v := range s.opts.Labels {
		if ev.Labels == nil {
			ev.Labels = schema.Labels{}
		}
		if _, ok := ev.Labels[k]; !ok {
			ev.Labels[k] = v
		}
	}
}
