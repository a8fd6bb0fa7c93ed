// Package ratelog logs a kind of trouble that can come in floods (malformed
// input, rejected events, refused connections): the first at once, then at
// most one summary per interval with the count and the last one, so the
// flood is counted and seen without flooding the log.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Log is safe for concurrent use.
type Log struct {
	What   string // the log message, e.g. "dropped malformed messages"
	Logger *slog.Logger
	Level  slog.Level
	Every  time.Duration // at most one line per this

	mu      sync.Mutex
	last    time.Time
	pending int
	lastErr error
	lastWhy string
}

// New returns a Log writing at level.
func New(logger *slog.Logger, level slog.Level, what string, every time.Duration) *Log {
	return &Log{What: what, Logger: logger, Level: level, Every: every}
}

// Note counts one occurrence; why is a short label (a reason, a topic).
func (l *Log) Note(why string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending++
	l.lastErr, l.lastWhy = err, why
	if time.Since(l.last) >= l.Every {
		l.emit()
		l.last = time.Now()
	}
}

// Flush writes the summary of what was noted since the last line.
func (l *Log) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending > 0 {
		l.emit()
	}
}

func (l *Log) emit() {
	l.Logger.Log(context.Background(), l.Level, l.What, "count", l.pending, "last", l.lastWhy, "last_error", l.lastErr.Error())
	l.pending = 0
}
