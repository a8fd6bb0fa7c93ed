package sidecar

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/schema"
)

// Config is zlog-agent's YAML configuration file. Flags given on the
// command line win over the file's settings; the file's sources come in
// addition to those of --file, --syslog and --stdin.
//
//	collector: tcp://collector:4444
//	spool: /var/lib/zlog-agent
//	sources:
//	  - service: web
//	    paths: [/var/log/web/*.log]
//	    parser: json
//	    multiline: java
//	  - service: syslog
//	    listen: [tcp://0.0.0.0:5514, udp://0.0.0.0:5514]
type Config struct {
	Collector        string         `yaml:"collector"`
	Host             string         `yaml:"host"`
	Spool            string         `yaml:"spool"`
	Positions        string         `yaml:"positions"`
	FromBeginning    bool           `yaml:"from_beginning"`
	MaxLineBytes     int            `yaml:"max_line_bytes"`
	MultilineTimeout string         `yaml:"multiline_timeout"`
	Sources          []SourceConfig `yaml:"sources"`

	multilineTimeout time.Duration
}

// SourceConfig is one entry of sources.
type SourceConfig struct {
	Service   string   `yaml:"service"`
	Paths     []string `yaml:"paths"`  // file globs
	Listen    []string `yaml:"listen"` // syslog tcp://ADDR, udp://ADDR
	Stdin     bool     `yaml:"stdin"`
	Parser    string   `yaml:"parser"`    // auto (default), json, logfmt, plain
	Multiline string   `yaml:"multiline"` // "java" or a regexp matching first lines

	multiline parse.StartFunc
}

// ErrConfig marks an invalid configuration file.
var ErrConfig = errors.New("invalid config")

// LoadConfig reads and checks a configuration file. Errors name the file,
// the line and the key that is wrong.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(msg, "in type sidecar.SourceConfig", "in a source")
		msg = strings.ReplaceAll(msg, "in type sidecar.Config", "at the top level")
		return nil, fmt.Errorf("%w %s: %s", ErrConfig, path, msg)
	}
	var root yaml.Node
	yaml.Unmarshal(b, &root) // decoded once already: cannot fail
	bad := func(line int, key, format string, args ...any) error {
		return fmt.Errorf("%w %s: line %d: %s: %s", ErrConfig, path, line, key, fmt.Sprintf(format, args...))
	}
	top := mapping(&root)
	if c.Collector != "" && !strings.Contains(c.Collector, "://") {
		return nil, bad(top.line("collector"), "collector", "%q is not a ZeroMQ endpoint like tcp://HOST:4444", c.Collector)
	}
	if c.MaxLineBytes < 0 {
		return nil, bad(top.line("max_line_bytes"), "max_line_bytes", "must not be negative")
	}
	if c.MultilineTimeout != "" {
		if c.multilineTimeout, err = time.ParseDuration(c.MultilineTimeout); err != nil || c.multilineTimeout <= 0 {
			return nil, bad(top.line("multiline_timeout"), "multiline_timeout", "%q is not a positive duration like 2s", c.MultilineTimeout)
		}
	}
	if len(c.Sources) == 0 {
		return nil, bad(max(top.line("sources"), 1), "sources", "no sources: give at least one with paths, listen or stdin")
	}
	srcNodes := top.seq("sources")
	stdins := 0
	for i := range c.Sources {
		s := &c.Sources[i]
		n := mapping(nil)
		if i < len(srcNodes) {
			n = mapping(srcNodes[i])
		}
		at := func(key string) int { return max(n.line(key), n.node.Line) }
		key := func(k string) string { return fmt.Sprintf("sources[%d].%s", i, k) }
		if err := schema.ValidateService(s.Service); err != nil {
			return nil, bad(at("service"), key("service"), "%v", err)
		}
		if len(s.Paths) == 0 && len(s.Listen) == 0 && !s.Stdin {
			return nil, bad(at("service"), fmt.Sprintf("sources[%d]", i), "source %q reads nothing: give paths, listen or stdin", s.Service)
		}
		for _, g := range s.Paths {
			if _, err := filepath.Match(g, ""); err != nil || g == "" {
				return nil, bad(at("paths"), key("paths"), "bad glob %q", g)
			}
		}
		for _, l := range s.Listen {
			if !strings.HasPrefix(l, "tcp://") && !strings.HasPrefix(l, "udp://") {
				return nil, bad(at("listen"), key("listen"), "%q: want tcp://HOST:PORT or udp://HOST:PORT", l)
			}
		}
		switch s.Parser {
		case "", "auto", string(parse.JSON), string(parse.Logfmt), string(parse.Plain):
		default:
			return nil, bad(at("parser"), key("parser"), "%q: want auto, json, logfmt or plain", s.Parser)
		}
		if s.multiline, err = parse.MultilineStart(s.Multiline); err != nil {
			return nil, bad(at("multiline"), key("multiline"), "%v", err)
		}
		if s.Stdin {
			if stdins++; stdins > 1 {
				return nil, bad(at("stdin"), key("stdin"), "only one source can read stdin")
			}
		}
	}
	return &c, nil
}

// AgentSources turns the configured sources into the agent's, reading
// stdin from stdin.
func (c *Config) AgentSources(stdin *os.File) []Source {
	var out []Source
	for _, s := range c.Sources {
		src := Source{Service: s.Service, Files: s.Paths, Syslog: s.Listen, Parser: ParserFormat(s.Parser), Multiline: s.multiline}
		if s.Stdin {
			src.Stdin = stdin
		}
		out = append(out, src)
	}
	return out
}

// MultilineTimeoutOrZero is multiline_timeout, or zero when not set.
func (c *Config) MultilineTimeoutOrZero() time.Duration { return c.multilineTimeout }

// ParserFormat maps a parser name to the format to force ("" detects).
func ParserFormat(name string) parse.Format {
	if name == "auto" {
		return ""
	}
	return parse.Format(name)
}

// node wraps a YAML mapping node to find the lines of its keys.
type node struct{ node *yaml.Node }

func mapping(n *yaml.Node) node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil {
		n = &yaml.Node{}
	}
	return node{n}
}

// line is the line of key's value, or 0.
func (n node) line(key string) int {
	for i := 0; i+1 < len(n.node.Content); i += 2 {
		if n.node.Content[i].Value == key {
			return n.node.Content[i+1].Line
		}
	}
	return 0
}

func (n node) seq(key string) []*yaml.Node {
	for i := 0; i+1 < len(n.node.Content); i += 2 {
		if n.node.Content[i].Value == key {
			return n.node.Content[i+1].Content
		}
	}
	return nil
}
