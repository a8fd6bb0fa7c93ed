package main

import (
	"errors"
	"flag"
	"os"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/sidecar"
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
	take("multiline-timeout", func() {
		if d := c.MultilineTimeoutOrZero(); d > 0 {
			o.MultilineTimeout = d
		}
	})
	o.Sources = append(o.Sources, c.AgentSources(os.Stdin)...)
	return nil
}

// flagSources adds the sources given by --file, --syslog and stdin.
func flagSources(o *sidecar.Options, service string, files, syslogs []string, stdin bool, format parse.Format, start parse.StartFunc) error {
	if len(files) > 0 {
		if service == "" {
			return errors.New("--file needs --service NAME: the service its lines are published under")
		}
		o.Sources = append(o.Sources, sidecar.Source{Service: service, Files: files, Parser: format, Multiline: start})
	}
	if len(syslogs) > 0 {
		svc := service
		if svc == "" {
			svc = "syslog"
		}
		o.Sources = append(o.Sources, sidecar.Source{Service: svc, Syslog: syslogs})
	}
	if stdin {
		svc := service
		if svc == "" {
			svc = "stdin"
		}
		o.Sources = append(o.Sources, sidecar.Source{Service: svc, Stdin: os.Stdin, Parser: format, Multiline: start})
	}
	return nil
}
