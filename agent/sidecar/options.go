package sidecar

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/schema"
)

// Check validates the options without opening anything.
func (o Options) Check() error {
	if len(o.Sources) == 0 {
		return errors.New("no sources: give --file, --syslog, --stdin or --config")
	}
	for i, s := range o.Sources {
		if err := schema.ValidateService(s.Service); err != nil {
			return fmt.Errorf("source %d: service: %w", i+1, err)
		}
		switch s.Parser {
		case "", parse.JSON, parse.Logfmt, parse.Plain:
		default:
			return fmt.Errorf("source %q: parser %q: want auto, json, logfmt or plain", s.Service, s.Parser)
		}
		for _, g := range s.Files {
			if _, err := filepath.Match(g, ""); err != nil || g == "" {
				return fmt.Errorf("source %q: bad file glob %q", s.Service, g)
			}
		}
		if len(s.Files) > 0 && o.Positions == "" {
			return errors.New("following files needs a place to keep read positions: give --spool DIR (exactly once across restarts) or --positions FILE")
		}
	}
	return nil
}

// Describe lists the sources, one per line, for --check-config.
func (o Options) Describe() string {
	var b strings.Builder
	for _, s := range o.Sources {
		parser := string(s.Parser)
		if parser == "" {
			parser = "auto"
		}
		fmt.Fprintf(&b, "source service=%s", s.Service)
		if len(s.Files) > 0 {
			fmt.Fprintf(&b, " files=%s parser=%s multiline=%t", strings.Join(s.Files, ","), parser, s.Multiline != nil)
		}
		if len(s.Syslog) > 0 {
			fmt.Fprintf(&b, " syslog=%s", strings.Join(s.Syslog, ","))
		}
		if s.Stdin != nil {
			fmt.Fprintf(&b, " stdin parser=%s multiline=%t", parser, s.Multiline != nil)
		}
		b.WriteByte('\n')
	}
	if o.Positions != "" {
		fmt.Fprintf(&b, "positions %s\n", o.Positions)
	}
	b.WriteString("config ok\n")
	return b.String()
}
