package sidecar

import (
	"context"
	"errors"
	"net"

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
// the level; the sender's address is the field peer.
func (a *Agent) syslogHandler(src *Source, parser *parse.Parser) syslog.Handler {
	return func(frame []byte, peer string) error {
		res, err := parser.Syslog(frame)
		if err != nil {
			return err
		}
		if res.Fields == nil {
			res.Fields = schema.Fields{}
		}
		res.Fields["peer"] = peer
		a.publishResult(context.Background(), src, res, src.Labels, publisher.Mark{})
		return nil
	}
}
