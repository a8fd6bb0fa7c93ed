package sidecar

import (
	"context"
	"errors"
	"net"
	"strings"
	"unicode/utf8"

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

// syslogHandler maps APP-NAME/tag to the service (the source's when there
// is none), HOSTNAME to the host and the severity to the level.
func (a *Agent) syslogHandler(service string) syslog.Handler {
	return func(m syslog.Message, peer string) { a.syslogMessage(service, m, peer) }
}

func (a *Agent) syslogMessage(service string, m syslog.Message, peer string) {
	svc := service
	if m.AppName != "" {
		svc = schema.SanitizeService(m.AppName)
	}
	host := m.Host
	if host == "" {
		host = a.opts.Host
	}
	fields := schema.Fields{"peer": peer}
	if m.ProcID != "" {
		fields["procid"] = m.ProcID
	}
	if m.MsgID != "" {
		fields["msgid"] = m.MsgID
	}
	ev := schema.Event{Time: m.Time, Service: svc, Level: m.Level, Host: host, Message: m.Text, Fields: fields}
	if repairUTF8(&ev) {
		a.InvalidUTF8.Add(1)
	}
	a.publish(context.Background(), ev, publisher.Mark{})
}

// repairUTF8 replaces invalid UTF-8 in an event's text with U+FFFD, as the
// line parser does for files and stdin: a sender's bad bytes must not cost
// the whole message. It reports whether anything was replaced.
func repairUTF8(ev *schema.Event) bool {
	fixed := false
	fix := func(s *string) {
		if !utf8.ValidString(*s) {
			*s, fixed = strings.ToValidUTF8(*s, "\uFFFD"), true
		}
	}
	fix(&ev.Message)
	fix(&ev.Host)
	for k, v := range ev.Fields {
		if s, ok := v.(string); ok {
			if fix(&s); fixed {
				ev.Fields[k] = s
			}
		}
	}
	return fixed
}
