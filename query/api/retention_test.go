package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zlog/zlog/query"
)

// retentionReader answers counts and says retention removed what came
// before from (nothing, when from is zero).
type retentionReader struct {
	query.Reader // the rest is not asked for
	from         time.Time
}

func (r retentionReader) Count(context.Context, query.Query) (int64, error) { return 7, nil }
func (r retentionReader) Check(query.Query) error                           { return nil }
func (r retentionReader) RetainedFrom() (time.Time, bool)                   { return r.from, !r.from.IsZero() }

// retentionServer serves a Handler over r, counting the requests to
// /api/v1/retention; without header, it answers as a collector from before
// RetainedFromHeader did.
func retentionServer(t *testing.T, r retentionReader, withHeader bool) (*Client, *atomic.Int32) {
	t.Helper()
	h := NewHandler(Options{Reader: r}, slog.New(slog.DiscardHandler))
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/api/v1/retention" {
			asked.Add(1)
		}
		if !withHeader {
			w = headerless{w}
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return c, &asked
}

// headerless drops RetainedFromHeader as the status line goes out.
type headerless struct{ http.ResponseWriter }

func (w headerless) WriteHeader(status int) {
	w.Header().Del(RetainedFromHeader)
	w.ResponseWriter.WriteHeader(status)
}

func (w headerless) Write(b []byte) (int, error) {
	w.Header().Del(RetainedFromHeader)
	return w.ResponseWriter.Write(b)
}

// What retention removed comes with the answer to a query: the client
// knows it without asking apart, and asks only a collector that did not
// say (one from before the header).
func TestRetentionComesWithTheAnswer(t *testing.T) {
	from := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	q := query.Query{Since: from.Add(-time.Hour), Until: from.Add(time.Hour)}
	for _, tc := range []struct {
		name       string
		from       time.Time
		withHeader bool
		asks       int32
	}{
		{"removed, said", from, true, 0},
		{"nothing removed, said", time.Time{}, true, 0},
		{"removed, not said", from, false, 1},
		{"nothing removed, not said", time.Time{}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, asked := retentionServer(t, retentionReader{from: tc.from}, tc.withHeader)
			if n, err := c.Count(context.Background(), q); err != nil || n != 7 {
				t.Fatalf("count: %d, %v", n, err)
			}
			got, ok, err := c.RetainedFrom(context.Background())
			if err != nil || ok != !tc.from.IsZero() || !got.Equal(tc.from) {
				t.Errorf("retained from %v, %v, %v; want %v", got, ok, err, tc.from)
			}
			if asked.Load() != tc.asks {
				t.Errorf("asked /api/v1/retention %d times, want %d", asked.Load(), tc.asks)
			}
		})
	}
}
