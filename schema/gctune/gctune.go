// Package gctune sets how often a zlog binary collects garbage, unless
// the environment (GOGC, GOMEMLIMIT) says: the binaries make garbage at a
// high rate per event, and Go's default (a collection each time the heap
// doubles) spent a tenth to a fifth of their CPU collecting (measured in
// each binary's caller).
package gctune

import (
	"os"
	"runtime/debug"
)

// Set lets the heap grow percent % past what is live between collections,
// within a soft limit of limitBytes (none when 0): near the limit Go
// collects more often. It does nothing when GOGC or GOMEMLIMIT is set.
func Set(percent int, limitBytes int64) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(percent)
	if limitBytes > 0 {
		debug.SetMemoryLimit(limitBytes)
	}
}
