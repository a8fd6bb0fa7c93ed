package collector

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// health is what /healthz reports: ok, or the sinks that are failing now
// (a full disk, the data directory gone) with their last error. A failing
// sink retries its batch, so nothing is lost, but nothing new is
// acknowledged either: a load balancer or an operator should know.
type health struct {
	mu      sync.Mutex
	failing map[string]failure
}

type failure struct {
	Error string    `json:"error"`
	Since time.Time `json:"since"`
}

func (h *health) fail(sink string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing == nil {
		h.failing = map[string]failure{}
	}
	f, ok := h.failing[sink]
	if !ok {
		f.Since = time.Now().UTC()
	}
	f.Error = err.Error()
	h.failing[sink] = f
}

func (h *health) ok(sink string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.failing, sink)
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failing) == 0 {
		w.Write([]byte("ok\n"))
		return
	}
	sinks := make([]string, 0, len(h.failing))
	for s := range h.failing {
		sinks = append(sinks, s)
	}
	sort.Strings(sinks)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(struct {
		Status string             `json:"status"`
		Sinks  map[string]failure `json:"failing"`
	}{"failing", h.failing})
}
