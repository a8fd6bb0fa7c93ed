package publisher

import (
	"log/slog"
	"sync"
	"time"
)

// rateLog logs the first of a kind of loss at once and then at most one
// summary per interval, so a flood of rejections cannot flood the log.
type rateLog struct {
	logger  *slog.Logger
	every   time.Duration
	mu      sync.Mutex
	last    time.Time
	pending int
	lastErr error
}

func (r *rateLog) note(topic string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending++
	r.lastErr = err
	if time.Since(r.last) >= r.every {
		r.logger.Error("events rejected by the collector; dropped", "count", r.pending, "last_topic", topic, "last_error", err.Error())
		r.pending, r.last = 0, time.Now()
	}
}

func (r *rateLog) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending > 0 {
		r.logger.Error("events rejected by the collector; dropped", "count", r.pending, "last_error", r.lastErr.Error())
		r.pending = 0
	}
}
