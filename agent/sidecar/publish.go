package sidecar

import (
	"context"
	"time"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/schema"
)

func (a *Agent) publishLine(ctx context.Context, src *Source, parser *parse.Parser, line []byte, total int, m publisher.Mark) error {
	a.Lines.Add(1)
	res := parser.Line(line)
	if res.Truncated {
		a.Truncated.Add(1)
		res.Fields["truncated"] = int64(total)
	}
	if res.InvalidUTF8 {
		a.InvalidUTF8.Add(1)
	}
	return a.publish(ctx, schema.Event{Time: res.Time, Service: src.Service, Level: res.Level, Host: a.opts.Host,
		Message: res.Message, Fields: res.Fields}, m)
}

// publish hands one event to the publisher. An event of a file refused
// because the agent is stopping is not lost: its position did not advance,
// so the next start reads it again.
func (a *Agent) publish(ctx context.Context, ev schema.Event, m publisher.Mark) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	err := a.pub.PublishMarked(ctx, ev, m)
	switch {
	case err == nil:
	case m.Key != "" && ctx.Err() != nil:
		a.logger.Debug("stopping: event left for the next start", "service", ev.Service)
	default:
		a.PublishErrors.Add(1)
		a.logger.Warn("event not published", "service", ev.Service, "err", err)
	}
	return err
}
