package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zlog/zlog/query"
)

// socketServer serves h on a unix socket; conns counts its connections.
func socketServer(t *testing.T, h http.Handler) (path string, conns *atomic.Int32) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "q.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int32)
	srv := &http.Server{Handler: h, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return path, conns
}

func socketGet(t *testing.T, ctx context.Context, c *Client, path string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.JoinPath(path).String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.http.Do(req)
}

// Each request goes on a connection of its own, the first on the one
// that found the collector; answers and streams read whole.
func TestSocketTransportAnswers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/count", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"count":3}`)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "line %d\n", i)
			w.(http.Flusher).Flush()
		}
	})
	path, conns := socketServer(t, mux)
	c, err := NewSocketClient(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		n, err := c.Count(context.Background(), query.Query{Since: time.Now().Add(-time.Hour), Until: time.Now()})
		if err != nil || n != 3 {
			t.Fatalf("count %d: %d, %v", i, n, err)
		}
	}
	resp, err := socketGet(t, context.Background(), c, "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "line 0\nline 1\nline 2\n" {
		t.Fatalf("stream: %q, %v", body, err)
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("%d connections for 3 requests", got)
	}
}

// A context ended before the answer, or while a stream is read, ends the
// request: the caller is not left waiting, and the collector sees the
// connection close.
func TestSocketTransportEndsWithItsContext(t *testing.T) {
	started, gone := make(chan struct{}, 2), make(chan struct{}, 2)
	mux := http.NewServeMux()
	mux.HandleFunc("/silent", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
		gone <- struct{}{}
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "first")
		w.(http.Flusher).Flush()
		started <- struct{}{}
		<-r.Context().Done()
		gone <- struct{}{}
	})
	path, _ := socketServer(t, mux)
	c, err := NewSocketClient(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if _, err := socketGet(t, ctx, c, "/silent"); !errors.Is(err, context.Canceled) {
		t.Fatalf("request whose context ended: %v, want context.Canceled", err)
	}
	waitFor(t, gone, "the collector to see the silent request's connection close")

	ctx, cancel = context.WithCancel(context.Background())
	resp, err := socketGet(t, ctx, c, "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); line != "first\n" || err != nil {
		t.Fatalf("first line %q, %v", line, err)
	}
	<-started
	cancel()
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("stream read on after its context ended")
	}
	waitFor(t, gone, "the collector to see the stream's connection close")
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10 s for %s", what)
	}
}
