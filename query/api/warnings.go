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

// warnWriter is a response that takes its searcher's warnings, which may
// come from the searcher's goroutines: they wait in pending and go into
// the header as the status line is written (by the handler's goroutine,
// the only one that touches the header); after that they wait in late.
type warnWriter struct {
	http.ResponseWriter
	mu      sync.Mutex
	written bool
	pending []string
	late    []string
}

func (w *warnWriter) warn(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written {
		w.late = append(w.late, msg)
	} else {
		w.pending = append(w.pending, msg)
	}
}

// writing marks the status line as going out, with the warnings so far.
func (w *warnWriter) writing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written {
		return
	}
	w.written = true
	for _, msg := range w.pending {
		w.Header().Add(WarningHeader, strings.NewReplacer("\r", " ", "\n", " ").Replace(msg))
	}
	w.pending = nil
}

func (w *warnWriter) WriteHeader(status int) {
	w.writing()
	w.ResponseWriter.WriteHeader(status)
}

func (w *warnWriter) Write(b []byte) (int, error) {
	w.writing()
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
