package api

import (
	"net/http"
	"strings"
	"sync"
)

// WarningHeader carries what the searcher warned of while answering (a
// damaged partition skipped, say), one value each, so that a client says
// it as logq reading the index itself would. Warnings that come after a
// stream's status line are lines of the stream ({"warning": …}).
const WarningHeader = "Zlog-Warning"

// warnWriter is a response that takes its searcher's warnings: into its
// header until the status line is written, after that into late.
type warnWriter struct {
	http.ResponseWriter
	mu      sync.Mutex
	written bool
	late    []string
}

func (w *warnWriter) warn(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written {
		w.late = append(w.late, msg)
		return
	}
	w.Header().Add(WarningHeader, strings.NewReplacer("\r", " ", "\n", " ").Replace(msg))
}

// WriteHeader and Write hold the lock while the header may be sent, so
// that no warning is added to it meanwhile.
func (w *warnWriter) WriteHeader(status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.written = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *warnWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.written = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// deadlines of follow and tail).
func (w *warnWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// takeLate returns the warnings that came after the status line.
func (w *warnWriter) takeLate() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	late := w.late
	w.late = nil
	return late
}

// warningLine is a stream's line for a warning that came late.
type warningLine struct {
	Warning string `json:"warning"`
}
