package sidecar

import (
	"context"
	"maps"
	"time"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/schema"
)

// publishLogical parses and publishes one line (or joined event) of a file
// or stdin, with the source's labels and those of its file.
func (a *Agent) publishLogical(ctx context.Context, src *Source, parser *parse.Parser, l parse.Logical, labels schema.Labels, m publisher.Mark) error {
	a.Lines.Add(1)
	if l.Undecodable {
		a.Undecodable.Add(1)
	}
	res := parser.Logical(l)
	return a.publishResult(ctx, src, res, labels, m)
}

// publishResult publishes a parsed record: the record's host and program
// (a syslog header, a JSON host, a journald unit) win over the agent's host
// and the source's service.
func (a *Agent) publishResult(ctx context.Context, src *Source, res parse.Result, labels schema.Labels, m publisher.Mark) error {
	if res.Truncated {
		a.Truncated.Add(1)
	}
	if res.InvalidUTF8 {
		a.InvalidUTF8.Add(1)
	}
	ev := schema.Event{Time: res.Time, Service: src.Service, Level: res.Level, Host: a.opts.Host,
		Message: res.Message, Fields: res.Fields, Labels: labels}
	if res.Host != "" {
		ev.Host = res.Host
	}
	if res.Service != "" {
		ev.Service = res.Service
	}
	return a.publish(ctx, ev, m)
}

// mergeLabels is the source's labels with a file's on top; it returns one
// of them unchanged when the other is empty.
func mergeLabels(src, file schema.Labels) schema.Labels {
	if len(file) == 0 {
		return src
	}
	if len(src) == 0 {
		return file
	}
	out := maps.Clone(src)
	maps.Copy(out, file)
	return out
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
