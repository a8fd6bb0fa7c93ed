package query

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/zlog/zlog/query/ql"
	"github.com/zlog/zlog/schema"
)

// ErrNotFound says no stored event has the id asked for.
var ErrNotFound = errors.New("no such event")

// Context is an event and its neighbours from the same source: the same
// publisher and service, every level, in time order.
type Context struct {
	Before []schema.Event `json:"before"`
	Event  schema.Event   `json:"event"`
	After  []schema.Event `json:"after"`
}

// EventByID finds a stored event by its ID (schema.Event.ID).
func (s *Searcher) EventByID(ctx context.Context, id string) (schema.Event, error) {
	return EventByID(ctx, s, id)
}

// ContextOf finds before events of ev's source up to its time and after
// events from its time on, ev itself left out.
func (s *Searcher) ContextOf(ctx context.Context, ev schema.Event, before, after int) (*Context, error) {
	return ContextOf(ctx, s, ev, before, after)
}

// EventSearcher is what finding an event and its context needs of a store.
type EventSearcher interface {
	Search(ctx context.Context, q Query) (Iterator, error)
}

// EventByID finds a stored event of s by its ID (schema.Event.ID).
func EventByID(ctx context.Context, s EventSearcher, id string) (schema.Event, error) {
	publisher, service, level, seq, err := schema.ParseID(id)
	if err != nil {
		return schema.Event{}, fmt.Errorf("%w: %w", ErrBadQuery, err)
	}
	x, err := ql.Parse("publisher:=" + strconv.Quote(publisher) + " seq:=" + strconv.FormatUint(seq, 10) + " level:" + level.String())
	if err != nil {
		return schema.Event{}, fmt.Errorf("%w: event id %q: %w", ErrBadQuery, id, err)
	}
	found, err := first(ctx, s, Query{Services: []string{service}, MinLevel: level, Expr: x, Limit: 1})
	if err != nil {
		return schema.Event{}, err
	}
	if len(found) == 0 {
		return schema.Event{}, fmt.Errorf("%w: %s (retention may have removed it)", ErrNotFound, id)
	}
	return found[0], nil
}

// ContextOf finds before events of ev's source in s up to its time and
// after events from its time on, ev itself left out.
func ContextOf(ctx context.Context, s EventSearcher, ev schema.Event, before, after int) (*Context, error) {
	x, err := ql.Parse("publisher:=" + strconv.Quote(ev.Publisher))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadQuery, err)
	}
	source := Query{Services: []string{ev.Service}, Expr: x}
	if ev.Publisher == "" {
		source.Expr = nil
		source.Host = ev.Host
	}
	c := &Context{Event: ev}
	q := source
	q.Until, q.Limit = ev.Time, before+1 // +1: ev itself is among them
	if c.Before, err = first(ctx, s, q); err != nil {
		return nil, err
	}
	c.Before = without(c.Before, &ev, before)
	for i, j := 0, len(c.Before)-1; i < j; i, j = i+1, j-1 { // newest first → in time order
		c.Before[i], c.Before[j] = c.Before[j], c.Before[i]
	}
	q = source
	q.Since, q.OldestFirst, q.Limit = ev.Time, true, after+1+len(c.Before)
	if c.After, err = first(ctx, s, q); err != nil {
		return nil, err
	}
	seen := append(c.Before[:len(c.Before):len(c.Before)], ev)
	var out []schema.Event
	for _, a := range c.After {
		if !containsEvent(seen, &a) && len(out) < after {
			out = append(out, a)
		}
	}
	c.After = out
	return c, nil
}

// first is a search's events, at most q.Limit of them.
func first(ctx context.Context, s EventSearcher, q Query) ([]schema.Event, error) {
	it, err := s.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []schema.Event
	for it.Next() {
		out = append(out, it.At())
	}
	return out, it.Err()
}

// without is evs less ev, at most n of them.
func without(evs []schema.Event, ev *schema.Event, n int) []schema.Event {
	out := evs[:0]
	for _, e := range evs {
		if !sameEvent(&e, ev) && len(out) < n {
			out = append(out, e)
		}
	}
	return out
}

func containsEvent(evs []schema.Event, ev *schema.Event) bool {
	for i := range evs {
		if sameEvent(&evs[i], ev) {
			return true
		}
	}
	return false
}

// sameEvent tells one stored event from another: by ID when sequenced,
// else by time and text.
func sameEvent(a, b *schema.Event) bool {
	if a.Seq != 0 || b.Seq != 0 {
		return a.ID() == b.ID()
	}
	return a.Time.Equal(b.Time) && a.Message == b.Message && a.Host == b.Host && a.Level == b.Level
}
