package proxy

import (
	"time"

	"github.com/zlog/zlog/schema"
)

// OriginalTimeField holds the publisher's own time of an event whose time
// the collector replaced because it lay too far in the future.
const OriginalTimeField = "original_time"

// stamp gives an event without a usable time the receive time: one with no
// time at all (a bare pyzmq PUB), and one further ahead of now than
// MaxFuture (a wrong clock, a parsed year 2200), which keeps its own time
// in OriginalTimeField. Left alone, a future event would sit in a partition
// of its own, newer than today's, that retention keeps. It reports whether
// the event changed, so its frames must be encoded again.
func (p *Proxy) stamp(ev *schema.Event, now time.Time) bool {
	switch {
	case ev.Time.IsZero():
		ev.Time = now
		return true
	case p.opts.MaxFuture > 0 && ev.Time.After(now.Add(p.opts.MaxFuture)):
		fields := make(schema.Fields, len(ev.Fields)+1)
		for k, v := range ev.Fields {
			fields[k] = v
		}
		key := OriginalTimeField
		if _, taken := fields[key]; taken {
			key = "zlog." + OriginalTimeField
		}
		fields[key] = ev.Time.UTC().Format(time.RFC3339Nano)
		ev.Fields, ev.Time = fields, now
		p.future.Inc()
		return true
	}
	return false
}
