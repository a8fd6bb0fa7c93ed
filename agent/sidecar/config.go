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

	"github.com/zlog/zlog/agent/intake"
	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/schema/keys"
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
//	    format: json
//	    multiline: java
//	    timezone: Europe/Berlin
//	    labels: {env: prod, cluster: eu-1}
//	  - service: billing
//	    paths: [/var/log/billing.log]
//	    parse:
//	      regex: '^(?P<time>\S+ \S+) (?P<level>\w+) (?P<message>.*)$'
//	      time_format: '%Y-%m-%d %H:%M:%S'
//	  - service: syslog
//	    listen: [tcp://0.0.0.0:5514, udp://0.0.0.0:5514]
//	  - service: apps # of events that name no service
//	    otlp_http: 0.0.0.0:4318
//	    es_bulk: 0.0.0.0:9200
//	    jsonline: 127.0.0.1:9428
//	    token_file: /etc/zlog/intake-token
//	    tls_cert: /etc/zlog/tls.crt
//	    tls_key: /etc/zlog/tls.key
type Config struct {
	Collector        string         `yaml:"collector"`
	Host             string         `yaml:"host"`
	Spool            string         `yaml:"spool"`
	Positions        string         `yaml:"positions"`
	FromBeginning    bool           `yaml:"from_beginning"`
	MaxLineBytes     int            `yaml:"max_line_bytes"`
	MultilineTimeout string         `yaml:"multiline_timeout"`
	UDPReceiveBuffer int            `yaml:"udp_receive_buffer"`
	Sources          []SourceConfig `yaml:"sources"`

	multilineTimeout time.Duration
}

// SourceConfig is one entry of sources.
type SourceConfig struct {
	Service   string            `yaml:"service"`
	Paths     []string          `yaml:"paths"`  // file globs
	Listen    []string          `yaml:"listen"` // syslog tcp://ADDR, udp://ADDR
	Stdin     bool              `yaml:"stdin"`
	Format    string            `yaml:"format"`    // parse.FormatNames
	Parser    string            `yaml:"parser"`    // the older name of format
	Multiline string            `yaml:"multiline"` // a preset or a regexp matching first lines
	Timezone  string            `yaml:"timezone"`  // of time stamps without a zone; default the machine's
	Labels    map[string]string `yaml:"labels"`    // added to every event
	Parse     *parse.RuleSpec   `yaml:"parse"`     // the source's own parse rule
	Journal   *JournalConfig    `yaml:"journal"`   // read systemd's journal
	// HTTP intakes, each listening on HOST:PORT (agent/intake).
	OTLPHTTP  string `yaml:"otlp_http"`  // POST /v1/logs
	ESBulk    string `yaml:"es_bulk"`    // POST /_bulk
	JSONLine  string `yaml:"jsonline"`   // POST /insert/jsonline
	TokenFile string `yaml:"token_file"` // bearer token the intakes require
	TLSCert   string `yaml:"tls_cert"`   // with tls_key: the intakes serve HTTPS
	TLSKey    string `yaml:"tls_key"`

	multiline parse.StartFunc
	format    parse.Format
	location  *time.Location
	rule      *parse.Rule
	intakes   []intake.Options
}

// JournalConfig is a source's journal block; an empty block reads the
// system journal.
type JournalConfig struct {
	Directory string   `yaml:"directory"`
	Files     []string `yaml:"files"`
	Matches   []string `yaml:"matches"`
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
		return configError(path, line, key, format, args...)
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
		if s.intakes, err = s.intakeOptions(); err != nil {
			return nil, bad(at("service"), fmt.Sprintf("sources[%d]", i), "%v", err)
		}
		if len(s.Paths) == 0 && len(s.Listen) == 0 && !s.Stdin && s.Journal == nil && len(s.intakes) == 0 {
			return nil, bad(at("service"), fmt.Sprintf("sources[%d]", i), "source %q reads nothing: give paths, listen, journal, stdin, otlp_http, es_bulk or jsonline", s.Service)
		}
		if j := s.Journal; j != nil {
			if j.Directory != "" && len(j.Files) > 0 {
				return nil, bad(at("journal"), key("journal"), "give directory or files, not both")
			}
			if err := (&Journal{Matches: j.Matches}).ValidateMatches(); err != nil {
				return nil, bad(at("journal"), key("journal.matches"), "%v", err)
			}
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
		if err := s.check(path, n, key); err != nil {
			return nil, err
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
		src := Source{Service: s.Service, Files: s.Paths, Syslog: s.Listen, Format: s.format, Multiline: s.multiline,
			Location: s.location, Rule: s.rule, Labels: s.Labels, Intakes: s.intakes}
		if j := s.Journal; j != nil {
			src.Journal = &Journal{Directory: j.Directory, Files: j.Files, Matches: j.Matches}
		}
		if s.Stdin {
			src.Stdin = stdin
		}
		out = append(out, src)
	}
	return out
}

// intakeOptions are the source's HTTP intakes.
func (s *SourceConfig) intakeOptions() ([]intake.Options, error) {
	return IntakeOptions(map[intake.Protocol]string{intake.OTLP: s.OTLPHTTP, intake.ESBulk: s.ESBulk, intake.JSONLine: s.JSONLine},
		IntakeSecurity{TokenFile: s.TokenFile, TLSCert: s.TLSCert, TLSKey: s.TLSKey})
}

// IntakeSecurity is what guards HTTP intakes bound beyond loopback.
type IntakeSecurity struct {
	TokenFile, TLSCert, TLSKey string
}

// IntakeOptions makes the listeners of addrs (protocol to HOST:PORT, ""
// for none), each guarded as sec says; the token file must be private.
func IntakeOptions(addrs map[intake.Protocol]string, sec IntakeSecurity) ([]intake.Options, error) {
	var token string
	if sec.TokenFile != "" {
		var err error
		if token, err = keys.ReadToken(sec.TokenFile); err != nil {
			return nil, err
		}
	}
	if (sec.TLSCert == "") != (sec.TLSKey == "") {
		return nil, errors.New("HTTP intake TLS needs both a certificate and a key")
	}
	var out []intake.Options
	for _, p := range []intake.Protocol{intake.OTLP, intake.ESBulk, intake.JSONLine} {
		if addrs[p] != "" {
			out = append(out, intake.Options{Protocol: p, Addr: addrs[p], Token: token, TLSCert: sec.TLSCert, TLSKey: sec.TLSKey})
		}
	}
	return out, nil
}

// MultilineTimeoutOrZero is multiline_timeout, or zero when not set.
func (c *Config) MultilineTimeoutOrZero() time.Duration { return c.multilineTimeout }

func configError(path string, line int, key, format string, args ...any) error {
	return fmt.Errorf("%w %s: line %d: %s: %s", ErrConfig, path, line, key, fmt.Sprintf(format, args...))
}

// check validates what a source says about reading its lines (format,
// multiline, timezone, labels, parse rule) and compiles it.
func (s *SourceConfig) check(path string, n node, key func(string) string) error {
	at := func(k string) int { return max(n.line(k), n.node.Line) }
	bad := func(k, format string, args ...any) error { return configError(path, at(k), key(k), format, args...) }
	name, k := s.Format, "format"
	if name == "" {
		name, k = s.Parser, "parser"
	} else if s.Parser != "" {
		return bad("parser", "give format or parser (its older name), not both")
	}
	var err error
	if s.format, err = parse.ParseFormat(name); err != nil {
		return bad(k, "%v", err)
	}
	if s.multiline, err = parse.MultilineStart(s.Multiline); err != nil {
		return bad("multiline", "%v", err)
	}
	if s.Timezone != "" {
		if s.location, err = time.LoadLocation(s.Timezone); err != nil {
			return bad("timezone", "%q is not a zone like UTC or Europe/Berlin: %v", s.Timezone, err)
		}
	}
	if err := schema.ValidateLabels(s.Labels); err != nil {
		return bad("labels", "%v", err)
	}
	if s.Parse != nil {
		if s.rule, err = parse.NewRule(*s.Parse); err != nil {
			return configError(path, ruleLine(n.child("parse"), err, n.line("parse")), key("parse"), "%v", err)
		}
	}
	return nil
}

// ruleLine is the line of the parse block's key an error is about.
func ruleLine(rule node, err error, fallback int) int {
	var re *parse.RuleError
	if errors.As(err, &re) && rule.line(re.Key) > 0 {
		return rule.line(re.Key)
	}
	return fallback
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

// child is the mapping under key.
func (n node) child(key string) node {
	for i := 0; i+1 < len(n.node.Content); i += 2 {
		if n.node.Content[i].Value == key {
			return node{n.node.Content[i+1]}
		}
	}
	return mapping(nil)
}

func (n node) seq(key string) []*yaml.Node {
	for i := 0; i+1 < len(n.node.Content); i += 2 {
		if n.node.Content[i].Value == key {
			return n.node.Content[i+1].Content
		}
	}
	return nil
}
