package proxy

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/zlog/zlog/schema"
)

var malformedReasons = []struct {
	err   error
	label string
}{
	{schema.ErrFrameCount, "frame_count"},
	{schema.ErrBadVersion, "version"},
	{schema.ErrBadEnvelope, "envelope"},
	{schema.ErrBadTopic, "topic"},
	{schema.ErrBadUTF8, "utf8"},
	{schema.ErrBadField, "field"},
	{schema.ErrTooLarge, "too_large"},
}

func malformedReason(err error) string {
	for _, r := range malformedReasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}

// rejectionLog logs the first rejection at once and then at most one summary
// per interval, so a flood of bad input cannot flood the collector's log.
type rejectionLog struct {
	what    string // the log message, e.g. "dropped malformed messages"
	logger  *slog.Logger
	every   time.Duration
	mu      sync.Mutex
	last    time.Time
	pending int
	lastErr error
}

func (r *rejectionLog) note(reason string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending++
	r.lastErr = err
	if time.Since(r.last) >= r.every {
		r.logger.Warn(r.what, "count", r.pending, "last_reason", reason, "last_error", err.Error())
		r.pending, r.last = 0, time.Now()
	}
}

func (r *rejectionLog) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending > 0 {
		r.logger.Warn(r.what, "count", r.pending, "last_error", r.lastErr.Error())
		r.pending = 0
	}
}
