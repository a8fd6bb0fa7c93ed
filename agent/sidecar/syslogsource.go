package sidecar

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/syslog"
	"github.com/zlog/zlog/schema"
)

// syslogSource is one syslog listener (TCP or UDP); the listener is bound
// by New, so address errors surface before Run.
type syslogSource struct {
	server *syslog.Server
}

func (s *syslogSource) Run(ctx context.Context) error { return s.server.Run(ctx) }

// Close releases the listener, which Run closes too when it ends.
func (s *syslogSource) Close() error {
	if err := s.server.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// syslogHandler parses each message (agent/parse reads RFC 5424 and
// 3164): APP-NAME or the tag names the service (the source's when there is
// none), HOSTNAME the host (the agent's when there is none), the severity
// the level; the sender's address is the field peer. Messages are gathered
// until their connection has nothing more buffered, then published as one
// batch.
func (a *Agent) syslogHandler(src *Source, parser *parse.Parser) syslog.Handler {
	return &syslogBatcher{a: a, src: src, parser: parser, batch: batch{a: a}}
}

type syslogBatcher struct {
	a      *Agent
	src    *Source
	parser *parse.Parser
	mu     sync.Mutex // connections share the batch
	batch  batch
}

func (h *syslogBatcher) Frame(frame []byte, peer string) error {
	res, err := h.parser.Syslog(frame)
	if err != nil {
		return err
	}
	if res.Fields == nil {
		res.Fields = schema.Fields{}
	}
	res.Fields["peer"] = peer
	ev := h.a.event(h.src, res, h.src.Labels)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batch.add(context.Background(), ev, publisher.Mark{}) // errors are counted and logged per event
	return nil
}

func (h *syslogBatcher) Flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batch.flush(context.Background())
}
