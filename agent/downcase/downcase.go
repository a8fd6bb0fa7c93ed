// Package downcase is zlog's port of the article's Flask service: GET
// /downcase/?param=X answers "lower case of X is x" and publishes the answer,
// plus an access event, to the collector.
package downcase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zlog/zlog/schema"
)

// Publisher is the part of the publisher library the service uses.
type Publisher interface {
	Publish(ctx context.Context, ev schema.Event) error
}

// Options configure the service. Zero values take the defaults shown.
type Options struct {
	Addr           string        // ":5000"
	MaxParamBytes  int           // longer params get 414; 4096
	PublishTimeout time.Duration // longest a request waits for room in the publish queue; 1s
	Service        string        // "downcase"; access events go to "<service>-access"
	// AccessLog, when set, also receives each access event as a JSON line
	// (ts, level, msg and the fields), as an app's own log file would, for
	// a zlog-agent sidecar to tail. Writes are serialised, one per line.
	AccessLog io.Writer
}

// Server serves the downcase API and /metrics, /healthz.
type Server struct {
	opts     Options
	logger   *slog.Logger
	pub      Publisher
	listener net.Listener
	srv      *http.Server
	pubErrs  prometheus.Counter

	logMu     sync.Mutex
	logErrs   prometheus.Counter
	lastLogEr time.Time
}

// New listens on opts.Addr; reg may be nil.
func New(opts Options, logger *slog.Logger, pub Publisher, reg *prometheus.Registry) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = ":5000"
	}
	if opts.MaxParamBytes <= 0 {
		opts.MaxParamBytes = 4096
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = time.Second
	}
	if opts.Service == "" {
		opts.Service = "downcase"
	}
	if err := schema.ValidateService(opts.Service + "-access"); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, logger: logger.With("component", "downcase"), pub: pub,
		pubErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_downcase_publish_errors_total", Help: "Events the service could not queue for publishing (see zlog_publisher_dropped_total).",
		}),
		logErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zlog_downcase_access_log_errors_total", Help: "Access log lines that could not be written to --access-log.",
		})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /downcase/", s.downcase)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	if reg != nil {
		reg.MustRegister(s.pubErrs, s.logErrs)
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", opts.Addr, err)
	}
	s.listener = ln
	s.srv = &http.Server{Handler: s.accessLog(mux), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	return s, nil
}

// Addr is the address actually listened on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Run serves until ctx ends, then lets in-flight requests finish (up to 5 s).
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.listener) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) downcase(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("param") {
		http.Error(w, `missing query parameter "param": try /downcase/?param=Hello`, http.StatusBadRequest)
		return
	}
	param := q.Get("param")
	if len(param) > s.opts.MaxParamBytes {
		http.Error(w, fmt.Sprintf(`query parameter "param" is %d bytes; the limit is %d`, len(param), s.opts.MaxParamBytes), http.StatusRequestURITooLong)
		return
	}
	if !utf8.ValidString(param) {
		http.Error(w, `query parameter "param" is not valid UTF-8`, http.StatusBadRequest)
		return
	}
	lower := strings.ToLower(param)
	answer := "lower case of " + param + " is " + lower
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(answer))
	s.publish(r.Context(), schema.Event{
		Service: s.opts.Service, Level: schema.LevelInfo, Message: answer,
		Fields: schema.Fields{"param": param, "answer": lower},
	})
}

func (s *Server) publish(ctx context.Context, ev schema.Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.PublishTimeout)
	defer cancel()
	if err := s.pub.Publish(ctx, ev); err != nil {
		// The answer is already sent; losing its log event must not fail the
		// request, but it is counted here and by the publisher.
		s.pubErrs.Inc()
		s.logger.Debug("publish failed", "err", err)
	}
}

type statusWriter struct {
	http.ResponseWriter
	status, bytes int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// writeAccessLog appends ev to the access log file as one JSON line.
func (s *Server) writeAccessLog(ev *schema.Event) {
	if s.opts.AccessLog == nil {
		return
	}
	line := make(map[string]any, len(ev.Fields)+3)
	for k, v := range ev.Fields {
		line[k] = v
	}
	line["ts"], line["level"], line["msg"] = ev.Time.UTC().Format(time.RFC3339Nano), ev.Level.String(), ev.Message
	b, err := json.Marshal(line)
	if err != nil {
		return // strings and numbers always marshal
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if _, err := s.opts.AccessLog.Write(append(b, '\n')); err != nil {
		s.logErrs.Inc()
		if time.Since(s.lastLogEr) > 10*time.Second {
			s.lastLogEr = time.Now()
			s.logger.Error("write access log", "err", err)
		}
	}
}

// accessLog publishes one access event per request on "<service>-access".
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if r.URL.Path == "/metrics" || r.URL.Path == "/healthz" {
			return
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		lvl := schema.LevelInfo
		switch {
		case sw.status >= 500:
			lvl = schema.LevelError
		case sw.status >= 400:
			lvl = schema.LevelWarn
		}
		uri := r.URL.RequestURI()
		if len(uri) > 512 {
			uri = uri[:512] + "…"
		}
		uri = strings.ToValidUTF8(uri, "\uFFFD")
		dur := time.Since(start)
		ev := schema.Event{
			Time: start, Service: s.opts.Service + "-access", Level: lvl,
			Message: r.Method + " " + uri + " " + strconv.Itoa(sw.status),
			Fields: schema.Fields{
				"method": r.Method, "status": int64(sw.status), "bytes": int64(sw.bytes),
				"duration_us": dur.Microseconds(), "remote": r.RemoteAddr,
			},
		}
		s.writeAccessLog(&ev)
		s.publish(r.Context(), ev)
	})
}
