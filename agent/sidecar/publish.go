package sidecar

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/schema"
)

// publishLogical parses and publishes one line (or joined event) of a file
// or stdin, with the source's labels and those of its file.
func (a *Agent) publishLogical(ctx context.Context, src *Source, parser *parse.Parser, l parse.Logical, labels schema.Labels, m publisher.Mark) error {
	return a.publish(ctx, a.logicalEvent(src, parser, l, labels), m)
}

// logicalEvent parses one line (or joined event) into its event.
func (a *Agent) logicalEvent(src *Source, parser *parse.Parser, l parse.Logical, labels schema.Labels) schema.Event {
	a.Lines.Add(1)
	if l.Undecodable {
		a.Undecodable.Add(1)
	}
	return a.event(src, parser.Logical(l), labels)
}

// publishResult publishes a parsed record.
func (a *Agent) publishResult(ctx context.Context, src *Source, res parse.Result, labels schema.Labels, m publisher.Mark) error {
	return a.publish(ctx, a.event(src, res, labels), m)
}

// event is a parsed record's event: the record's host and program (a
// syslog header, a JSON host, a journald unit) win over the agent's host
// and the source's service.
func (a *Agent) event(src *Source, res parse.Result, labels schema.Labels) schema.Event {
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
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	return ev
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

// publish hands one event to the publisher.
func (a *Agent) publish(ctx context.Context, ev schema.Event, m publisher.Mark) error {
	err := a.pub.PublishMarked(ctx, ev, m)
	if err != nil {
		a.notPublished(ctx, &ev, m, err)
	}
	return err
}

// notPublished accounts for an event the publisher refused. One of a file
// refused because the agent is stopping is not lost: its position did not
// advance, so the next start reads it again.
func (a *Agent) notPublished(ctx context.Context, ev *schema.Event, m publisher.Mark, err error) {
	if m.Key != "" && ctx.Err() != nil {
		a.logger.Debug("stopping: event left for the next start", "service", ev.Service)
		return
	}
	a.PublishErrors.Add(1)
	a.logger.Warn("event not published", "service", ev.Service, "err", err)
}

// maxBatch bounds the events a source gathers before publishing them.
const maxBatch = 256

// batch gathers a source's events so the publisher writes them to the
// spool with one system call. The source flushes it when full and after
// each pass over its input, so an event waits only while more are read.
type batch struct {
	a     *Agent
	items []publisher.Item
	// track registers an item's cursor in the positions file when it is
	// published, returning what its acknowledgement calls.
	track func(key string, cursor json.RawMessage) func()
}

func (b *batch) add(ctx context.Context, ev schema.Event, m publisher.Mark) error {
	b.items = append(b.items, publisher.Item{Event: ev, Mark: m})
	if len(b.items) >= maxBatch {
		return b.flush(ctx)
	}
	return nil
}

// flush publishes what was gathered; it returns the first error.
func (b *batch) flush(ctx context.Context) error {
	if len(b.items) == 0 {
		return nil
	}
	for i := range b.items {
		if m := &b.items[i].Mark; m.Key != "" && b.track != nil {
			m.Acked = b.track(m.Key, m.Cursor)
		}
	}
	var first error
	for i, err := range b.a.pub.PublishBatch(ctx, b.items) {
		if err == nil {
			continue
		}
		it := &b.items[i]
		b.a.notPublished(ctx, &it.Event, it.Mark, err)
		if it.Mark.Acked != nil && ctx.Err() == nil {
			it.Mark.Acked() // refused and counted: later positions may pass it
		}
		if first == nil {
			first = err
		}
	}
	clear(b.items)
	b.items = b.items[:0]
	return first
}
