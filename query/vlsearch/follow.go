package vlsearch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/zlog/zlog/collector/vlstore"
	"github.com/zlog/zlog/schema"
)

// StreamMarks is each stream's highest seq up to which VictoriaLogs holds
// every event from the stream's lowest one on: what a search finds.
func (r *Reader) StreamMarks(ctx context.Context) (map[schema.Stream]uint64, error) {
	marks, err := r.store.Marks(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[schema.Stream]uint64, len(marks))
	for st, m := range marks {
		out[st] = m.Whole
	}
	return out, nil
}

// StreamEvents reads a stream's events by seq, in time order, a page at a
// time: query.Followable's.
func (r *Reader) StreamEvents(ctx context.Context, st schema.Stream, from, to uint64, afterNs int64, limit int) ([]schema.Event, int64, error) {
	q := fmt.Sprintf(`"publisher":=%s "topic":=%s seq:range(%d, %d] _time:>%s`+withoutStreamTags+` | sort by (_time, seq)`,
		strconv.Quote(st.Publisher), strconv.Quote(st.Topic), from, to, time.Unix(0, afterNs).UTC().Format(time.RFC3339Nano))
	var out []schema.Event
	err := r.store.Each(ctx, q, nil, func(row vlstore.Row) error {
		ev, err := row.Event()
		if err != nil {
			return err
		}
		if n := len(out); n >= limit && ev.Time.UnixNano() != out[n-1].Time.UnixNano() {
			return errEnough // the page ends at a change of time
		}
		out = append(out, ev)
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, afterNs, err
	}
	if len(out) == 0 {
		return nil, afterNs, nil
	}
	return out, out[len(out)-1].Time.UnixNano(), nil
}

// FillWait: the collector writes to VictoriaLogs within a second, and a
// storage node makes rows searchable within about another (its rows
// buffer); a cluster under faults takes longer, so 10 s.
func (r *Reader) FillWait() time.Duration { return 10 * time.Second }
