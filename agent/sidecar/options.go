package sidecar

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/schema"
)

// Check validates the options without opening anything.
func (o Options) Check() error {
	if len(o.Sources) == 0 {
		return errors.New("no sources: give --file, --syslog, --journal, --stdin or --config")
	}
	for i, s := range o.Sources {
		if err := schema.ValidateService(s.Service); err != nil {
			return fmt.Errorf("source %d: service: %w", i+1, err)
		}
		if _, err := parse.ParseFormat(string(s.Format)); err != nil {
			return fmt.Errorf("source %q: %w", s.Service, err)
		}
		if err := schema.ValidateLabels(s.Labels); err != nil {
			return fmt.Errorf("source %q: %w", s.Service, err)
		}
		if s.Journal != nil {
			if err := s.Journal.ValidateMatches(); err != nil {
				return fmt.Errorf("source %q: %w", s.Service, err)
			}
		}
		for _, g := range s.Files {
			if _, err := filepath.Match(g, ""); err != nil || g == "" {
				return fmt.Errorf("source %q: bad file glob %q", s.Service, g)
			}
		}
		if (len(s.Files) > 0 || s.Journal != nil) && o.Positions == "" {
			return errors.New("following files or the journal needs a place to keep read positions: give --spool DIR (exactly once across restarts) or --positions FILE")
		}
	}
	return nil
}

// Describe lists the sources, one per line, for --check-config.
func (o Options) Describe() string {
	var b strings.Builder
	for _, s := range o.Sources {
		format := string(s.Format)
		if format == "" {
			format = "auto"
		}
		zone := "local"
		if s.Location != nil {
			zone = s.Location.String()
		}
		fmt.Fprintf(&b, "source service=%s", s.Service)
		if len(s.Files) > 0 {
			fmt.Fprintf(&b, " files=%s format=%s multiline=%t timezone=%s rule=%t", strings.Join(s.Files, ","), format, s.Multiline != nil, zone, s.Rule != nil)
		}
		if len(s.Syslog) > 0 {
			fmt.Fprintf(&b, " syslog=%s", strings.Join(s.Syslog, ","))
		}
		if j := s.Journal; j != nil {
			fmt.Fprintf(&b, " journal=%s", strings.TrimPrefix(j.key(), journalKeyPrefix))
			if len(j.Matches) > 0 {
				fmt.Fprintf(&b, " matches=%s", strings.Join(j.Matches, ","))
			}
		}
		if s.Stdin != nil {
			fmt.Fprintf(&b, " stdin format=%s multiline=%t timezone=%s rule=%t", format, s.Multiline != nil, zone, s.Rule != nil)
		}
		for _, in := range s.Intakes {
			fmt.Fprintf(&b, " %s=%s token=%t tls=%t", in.Protocol, in.Addr, in.Token != "", in.TLSCert != "")
		}
		if len(s.Labels) > 0 {
			keys := slices.Sorted(maps.Keys(s.Labels))
			for i, k := range keys {
				keys[i] = k + "=" + s.Labels[k]
			}
			fmt.Fprintf(&b, " labels=%s", strings.Join(keys, ","))
		}
		b.WriteByte('\n')
	}
	if o.Positions != "" {
		fmt.Fprintf(&b, "positions %s\n", o.Positions)
	}
	b.WriteString("config ok\n")
	return b.String()
}
