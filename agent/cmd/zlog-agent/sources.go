package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/sidecar"
	"github.com/zlog/zlog/schema"
)

// applyConfig takes the config file's settings where no flag was given,
// and its sources.
func applyConfig(fs *flag.FlagSet, path string, o *sidecar.Options, po *publisher.Options) error {
	c, err := sidecar.LoadConfig(path)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	take := func(name string, apply func()) {
		if !set[name] {
			apply()
		}
	}
	take("collector", func() {
		if c.Collector != "" {
			po.Endpoint = c.Collector
		}
	})
	take("host", func() { po.Host = c.Host })
	take("spool", func() { po.Spool.Dir = c.Spool })
	take("positions", func() { o.Positions = c.Positions })
	take("from-beginning", func() { o.FromBeginning = c.FromBeginning })
	take("max-line-bytes", func() {
		if c.MaxLineBytes > 0 {
			o.MaxLineBytes = c.MaxLineBytes
		}
	})
	take("udp-receive-buffer", func() {
		if c.UDPReceiveBuffer > 0 {
			o.UDPReceiveBuffer = c.UDPReceiveBuffer
		}
	})
	take("multiline-timeout", func() {
		if d := c.MultilineTimeoutOrZero(); d > 0 {
			o.MultilineTimeout = d
		}
	})
	o.Sources = append(o.Sources, c.AgentSources(os.Stdin)...)
	return nil
}

// lineOptions makes the reading options the flags give (--format,
// --multiline, --timezone, --label) into a template source.
func lineOptions(format string, start parse.StartFunc, timezone string, labels []string) (sidecar.Source, error) {
	var src sidecar.Source
	var err error
	if src.Format, err = parse.ParseFormat(format); err != nil {
		return src, fmt.Errorf("flag --format: %w", err)
	}
	src.Multiline = start
	if timezone != "" {
		if src.Location, err = time.LoadLocation(timezone); err != nil {
			return src, fmt.Errorf("flag --timezone: %q is not a zone like UTC or Europe/Berlin: %w", timezone, err)
		}
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return src, fmt.Errorf("flag --label %q: want KEY=VALUE", l)
		}
		if src.Labels == nil {
			src.Labels = schema.Labels{}
		}
		src.Labels[k] = v
	}
	if err := schema.ValidateLabels(src.Labels); err != nil {
		return src, fmt.Errorf("flag --label: %w", err)
	}
	return src, nil
}

// flagSources adds the sources given by --file, --syslog, --journal and
// stdin, each reading its lines as the template says.
func flagSources(o *sidecar.Options, service string, files, syslogs []string, stdin bool, template sidecar.Source) error {
	journal := template.Journal
	template.Journal = nil
	if len(files) > 0 {
		if service == "" {
			return errors.New("--file needs --service NAME: the service its lines are published under")
		}
		src := template
		src.Service, src.Files = service, files
		o.Sources = append(o.Sources, src)
	}
	if journal != nil {
		svc := service
		if svc == "" {
			svc = "journal"
		}
		o.Sources = append(o.Sources, sidecar.Source{Service: svc, Journal: journal, Labels: template.Labels, Location: template.Location})
	}
	if len(syslogs) > 0 {
		svc := service
		if svc == "" {
			svc = "syslog"
		}
		o.Sources = append(o.Sources, sidecar.Source{Service: svc, Syslog: syslogs, Labels: template.Labels})
	}
	if stdin {
		svc := service
		if svc == "" {
			svc = "stdin"
		}
		src := template
		src.Service, src.Stdin = svc, os.Stdin
		o.Sources = append(o.Sources, src)
	}
	return nil
}
