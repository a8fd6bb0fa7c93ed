package api

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/query/live"
	"github.com/zlog/zlog/schema"
)

// Options configure the API handler.
type Options struct {
	IndexDir string // <data>/index
	// Reader, when set, answers instead of the index under IndexDir:
	// VictoriaLogs, for a collector with --store victorialogs.
	Reader query.Reader
	// Pool, when set, keeps the index partitions' connections open from
	// one request to the next (see query.ConnPool); its owner closes it.
	Pool *query.ConnPool
	Live live.Options // the collector's live XPUB, for follow and tail (prefixes are set per request)
	// StallTimeout: a follow or tail client that accepts nothing for this
	// long is disconnected and counted, so it cannot hold buffers; 30s.
	StallTimeout time.Duration
	Metrics      Metrics // what follow and tail count; missing ones count nothing
}

// Metrics are what the API counts, made by its server (the collector):
// the package links no metrics library, as logq uses its client.
type Metrics struct {
	Followers Gauge   // open follow and tail streams
	Stalled   Counter // clients dropped for accepting nothing
}

// Gauge and Counter are the parts of Prometheus' the API uses.
type (
	Gauge interface {
		Inc()
		Dec()
	}
	Counter interface{ Inc() }
)

type noMetric struct{}

func (noMetric) Inc() {}
func (noMetric) Dec() {}

// Handler serves /api/v1/{search,count,stats,query,context,follow,tail,retention}.
type Handler struct {
	opts      Options
	logger    *slog.Logger
	mux       *http.ServeMux
	followers Gauge
	stalled   Counter
}

// liveQueue bounds, per follower, the live events waiting to be written:
// one that reads slowly loses live events (follow fills them from the
// index; tail says how many it missed) rather than growing the collector.
const liveQueue = 500

// NewHandler returns the API handler.
func NewHandler(opts Options, logger *slog.Logger) *Handler {
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 30 * time.Second
	}
	opts.Live.QueueEvents = liveQueue
	h := &Handler{opts: opts, logger: logger, mux: http.NewServeMux(),
		followers: opts.Metrics.Followers, stalled: opts.Metrics.Stalled,
	}
	if h.followers == nil {
		h.followers = noMetric{}
	}
	if h.stalled == nil {
		h.stalled = noMetric{}
	}
	h.mux.HandleFunc("GET /api/v1/search", h.search)
	h.mux.HandleFunc("GET /api/v1/count", h.count)
	h.mux.HandleFunc("GET /api/v1/stats", h.stats)
	h.mux.HandleFunc("GET /api/v1/follow", h.follow)
	h.mux.HandleFunc("GET /api/v1/tail", h.tail)
	h.mux.HandleFunc("GET /api/v1/retention", h.retention)
	h.mux.HandleFunc("GET /api/v1/query", h.query)
	h.mux.HandleFunc("GET /api/v1/context", h.context)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(&warnWriter{ResponseWriter: w}, r)
}

// RequireToken lets through only requests carrying "Authorization: Bearer
// <token>"; an empty token lets everything through.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="zlog"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token (logq: --token-file)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errorBody is the body of every error answer, and the last line of a
// stream that failed part way.
type errorBody struct {
	Error string `json:"error"`
	// Code tells apart what one status answers for several reasons:
	// "no_such_event" (404 of /context) from "no_index" (404).
	Code string `json:"code,omitempty"`
}

// Error codes of errorBody.
const (
	codeNoIndex     = "no_index"
	codeNoSuchEvent = "no_such_event"
)

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := errorBody{Error: err.Error()}
	switch {
	case errors.Is(err, query.ErrNotFound):
		body.Code = codeNoSuchEvent
	case errors.Is(err, query.ErrNoIndex):
		body.Code = codeNoIndex
	}
	json.NewEncoder(w).Encode(body)
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, query.ErrBadQuery):
		return http.StatusBadRequest
	case errors.Is(err, query.ErrNoIndex), errors.Is(err, query.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// request decodes the query and opens the searcher; on error it has
// answered already.
func (h *Handler) request(w http.ResponseWriter, r *http.Request, allowed []string) (query.Query, query.Reader, bool) {
	now := time.Now()
	v := r.URL.Query()
	q, err := decodeQuery(v, allowed, now)
	if err == nil && q.HasPipes() && r.URL.Path != queryPath {
		err = fmt.Errorf("%w: a query with pipes (| stats …) is answered by %s", query.ErrBadQuery, queryPath)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return q, nil, false
	}
	if !v.Has(pSince) { // the default window: the last hour
		q.Since = now.Add(-time.Hour)
	}
	if !v.Has(pUntil) {
		q.Until = now
	}
	s, err := h.reader(w)
	if err != nil {
		writeError(w, statusOf(err), err)
		return q, nil, false
	}
	return q, s, true
}

// reader is what answers w: Options.Reader, or the index, whose warnings
// are logged and sent with the answer.
func (h *Handler) reader(w http.ResponseWriter) (query.Reader, error) {
	if h.opts.Reader != nil {
		setRetainedFrom(w.Header(), h.opts.Reader)
		return h.opts.Reader, nil
	}
	s, err := query.NewSearcher(h.opts.IndexDir)
	if err != nil {
		return nil, err
	}
	s.Pool = h.opts.Pool
	s.Warn = func(msg string) {
		h.logger.Warn(msg)
		if ww, ok := w.(*warnWriter); ok {
			ww.warn(msg)
		}
	}
	setRetainedFrom(w.Header(), s)
	return s, nil
}

// DefaultLimit is how many events a search answers when it does not say
// (limit=0 asks for all), as logq's --limit: a bare /api/v1/search must not
// stream the whole hour.
const DefaultLimit = 100

func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	q, s, ok := h.request(w, r, searchParams)
	if !ok {
		return
	}
	if !r.URL.Query().Has(pLimit) {
		q.Limit = DefaultLimit
	}
	it, err := s.Search(r.Context(), q)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	defer it.Close()
	// The first row decides the status: a bad FTS expression fails there.
	more := it.Next()
	if err := it.Err(); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	out := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(out)
	for ; more; more = it.Next() {
		ev := it.At()
		if enc.Encode(&ev) != nil {
			return // the client went away
		}
	}
	if ww, ok := w.(*warnWriter); ok {
		for _, msg := range ww.takeLate() {
			enc.Encode(warningLine{msg})
		}
	}
	if err := it.Err(); err != nil {
		enc.Encode(errorBody{Error: err.Error()})
	}
	out.Flush()
}

// queryPath answers a query of the query language as a table.
const queryPath = "/api/v1/query"

// query answers {"columns": […], "rows": [[…], …]}: a query's pipes'
// result, or without pipes its newest limit events.
func (h *Handler) query(w http.ResponseWriter, r *http.Request) {
	q, s, ok := h.request(w, r, searchParams)
	if !ok {
		return
	}
	if !r.URL.Query().Has(pLimit) {
		q.Limit = DefaultLimit
	}
	t, err := s.Run(r.Context(), q)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, t)
}

func (h *Handler) count(w http.ResponseWriter, r *http.Request) {
	q, s, ok := h.request(w, r, queryParams)
	if !ok {
		return
	}
	n, err := s.Count(r.Context(), q)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, struct {
		Count int64 `json:"count"`
	}{n})
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	q, s, ok := h.request(w, r, statsParams)
	if !ok {
		return
	}
	v := r.URL.Query()
	by := query.ByService
	if b := v.Get(pBy); b != "" {
		var err error
		if by, err = query.ParseGroupBy(b); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	var every time.Duration
	if e := v.Get(pEvery); e != "" {
		var err error
		if every, err = query.ParseDuration(e); err != nil || every < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("%w: parameter every: %q is not a duration", query.ErrBadQuery, e))
			return
		}
	}
	st, err := s.Stats(r.Context(), q, by, every)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, st)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// notice is a stream line that is not an event.
type notice struct {
	Notice string `json:"notice"`
}

// streamer writes NDJSON lines and flushes each, for follow and tail. A
// client that accepts nothing for StallTimeout is cut off and counted.
func (h *Handler) streamer(w http.ResponseWriter) (emit func(any) error) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	return func(v any) error {
		rc.SetWriteDeadline(time.Now().Add(h.opts.StallTimeout))
		err := enc.Encode(v)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				h.stalled.Inc()
				h.logger.Warn("follower accepted nothing; disconnected", "stall_timeout", h.opts.StallTimeout)
			}
			return live.ErrStop // the client went away, or stalled
		}
		return nil
	}
}

func (h *Handler) follow(w http.ResponseWriter, r *http.Request) {
	q, s, ok := h.request(w, r, searchParams)
	if !ok {
		return
	}
	if r.URL.Query().Has(pUntil) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w: parameter until cannot be used with follow", query.ErrBadQuery))
		return
	}
	q.Until = time.Time{}
	// Check the query before the status line goes out.
	if err := s.Check(q); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	h.followers.Inc()
	defer h.followers.Dec()
	emit := h.streamer(w)
	err := live.Follow(r.Context(), s, q, h.opts.Live,
		func(ev *schema.Event) error { return emit(ev) },
		func(msg string) { emit(notice{Notice: msg}) })
	if err != nil && r.Context().Err() == nil {
		h.logger.Warn("follow ended", "err", err)
		emit(errorBody{Error: err.Error()})
	}
}

func (h *Handler) tail(w http.ResponseWriter, r *http.Request) {
	q, err := decodeQuery(r.URL.Query(), tailParams, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	f := live.Filter{Services: q.Services, Topic: q.TopicPrefix, Host: q.Host, Labels: q.Labels, MinLevel: q.MinLevel, Words: q.Words}
	h.followers.Inc()
	defer h.followers.Dec()
	emit := h.streamer(w)
	if err := live.Tail(r.Context(), h.opts.Live, f, func(ev *schema.Event) error { return emit(ev) },
		func(msg string) { emit(notice{Notice: msg}) }); err != nil && r.Context().Err() == nil {
		emit(errorBody{Error: err.Error()})
	}
}

// context answers an event (id=) and its neighbours from the same
// source (before=, after=; 5 each by default) as a query.Context.
func (h *Handler) context(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	var n [2]int
	for i, k := range []string{"before", "after"} {
		n[i] = 5
		if s := v.Get(k); s != "" {
			var err error
			if n[i], err = strconv.Atoi(s); err != nil || n[i] < 0 || n[i] > 10000 {
				writeError(w, http.StatusBadRequest, fmt.Errorf("%w: parameter %s: %q is not a count up to 10000", query.ErrBadQuery, k, s))
				return
			}
		}
	}
	for k := range v {
		if k != "id" && k != "before" && k != "after" {
			writeError(w, http.StatusBadRequest, fmt.Errorf("%w: unknown parameter %q (context takes id, before, after)", query.ErrBadQuery, k))
			return
		}
	}
	s, err := h.reader(w)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	ev, err := s.EventByID(r.Context(), v.Get("id"))
	var c *query.Context
	if err == nil {
		c, err = s.ContextOf(r.Context(), ev, n[0], n[1])
	}
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, c)
}

func (h *Handler) retention(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w: retention takes no parameters", query.ErrBadQuery))
		return
	}
	var body struct {
		RetainedFrom *time.Time `json:"retained_from"`
	}
	if s, err := h.reader(w); err == nil {
		if t, ok := s.RetainedFrom(); ok {
			body.RetainedFrom = &t
		}
	}
	writeJSON(w, body)
}
