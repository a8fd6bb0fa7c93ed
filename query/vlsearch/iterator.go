package vlsearch

import (
	"context"

	"github.com/zlog/zlog/schema"
)

// iterator hands a query's events, produced by its own goroutine, to
// Next one at a time; Close stops the goroutine and waits for it.
type iterator struct {
	cancel context.CancelFunc
	events chan schema.Event
	done   chan struct{}
	err    error // set by the goroutine before done closes
	cur    schema.Event
}

// iteratorBuffer is how many events the query runs ahead of its reader.
const iteratorBuffer = 256

func newIterator(ctx context.Context, run func(ctx context.Context, emit func(*schema.Event) error) error) *iterator {
	ctx, cancel := context.WithCancel(ctx)
	it := &iterator{cancel: cancel, events: make(chan schema.Event, iteratorBuffer), done: make(chan struct{})}
	go func() {
		defer close(it.done)
		defer close(it.events)
		it.err = run(ctx, func(ev *schema.Event) error {
			select {
			case it.events <- *ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return it
}

func (it *iterator) Next() bool {
	ev, ok := <-it.events
	if !ok {
		<-it.done // the query's error is set
		return false
	}
	it.cur = ev
	return true
}

func (it *iterator) At() schema.Event { return it.cur }

// Err is the query's error, once Next returned false.
func (it *iterator) Err() error {
	select {
	case <-it.done:
		return it.err
	default:
		return nil
	}
}

func (it *iterator) Close() error {
	it.cancel()
	for range it.events {
	}
	<-it.done
	return nil
}
