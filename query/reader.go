package query

import (
	"context"
	"time"

	"github.com/zlog/zlog/schema"
)

// Reader answers queries from a store: the SQLite index (Searcher) or
// VictoriaLogs (package query/vlsearch). The API, logq and the web UI ask
// one without knowing which.
type Reader interface {
	Followable
	Count(ctx context.Context, q Query) (int64, error)
	Run(ctx context.Context, q Query) (*Table, error)
	Stats(ctx context.Context, q Query, by GroupBy, every time.Duration) (*Stats, error)
	EventByID(ctx context.Context, id string) (schema.Event, error)
	ContextOf(ctx context.Context, ev schema.Event, before, after int) (*Context, error)
	// Check reports what is wrong with q without reading anything.
	Check(q Query) error
	// RetainedFrom is the time before which retention removed events.
	RetainedFrom() (time.Time, bool)
}

var _ Reader = (*Searcher)(nil)
