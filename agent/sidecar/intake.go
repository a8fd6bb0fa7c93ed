package sidecar

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/zlog/zlog/agent/intake"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/schema"
)

// intakeSink hands an HTTP intake's events to the publisher. With a spool
// they are accepted once written to it (write(2) done: they survive the
// agent being killed); without one, once the collector has acknowledged
// them, so that a 2xx always means stored somewhere that outlives this
// process.
type intakeSink struct {
	a       *Agent
	spooled bool
}

func (s *intakeSink) Accept(ctx context.Context, evs []schema.Event) []error {
	items := make([]publisher.Item, len(evs))
	acked := make([]atomic.Bool, len(evs))
	done := make(chan struct{}, len(evs))
	for i := range evs {
		items[i] = publisher.Item{Event: evs[i], Mark: publisher.Mark{Told: true}}
		if !s.spooled {
			items[i].Mark.Acked = func() { acked[i].Store(true); done <- struct{}{} }
		}
	}
	errs := s.a.pub.PublishBatch(ctx, items)
	if errs == nil {
		errs = make([]error, len(evs))
	}
	waiting := 0
	for i, err := range errs {
		switch {
		case err == nil:
			waiting++
		case errors.Is(err, publisher.ErrInvalid):
		default:
			errs[i] = fmt.Errorf("%w: %w", intake.ErrBusy, err)
		}
	}
	if s.spooled {
		return errs
	}
	for ; waiting > 0; waiting-- {
		select {
		case <-done:
		case <-ctx.Done():
			for i := range errs {
				if errs[i] == nil && !acked[i].Load() {
					errs[i] = fmt.Errorf("%w: not acknowledged by the collector in time (it stays queued; a retry may store it twice)", intake.ErrBusy)
				}
			}
			return errs
		}
	}
	return errs
}

// newIntakes binds a source's HTTP intake listeners.
func (a *Agent) newIntakes(src *Source) error {
	for _, o := range src.Intakes {
		o.Service = src.Service
		o.Host = a.opts.Host
		o.Labels = src.Labels
		srv, err := intake.New(o, &intakeSink{a: a, spooled: a.opts.Spooled}, a.baseLogger)
		if err != nil {
			return err
		}
		a.sources = append(a.sources, srv)
		a.intakes = append(a.intakes, srv)
	}
	return nil
}
