package sidecar

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigGood(t *testing.T) {
	c, err := LoadConfig(filepath.Join("testdata", "config", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	srcs := c.AgentSources(nil)
	if len(srcs) != 6 || c.Collector != "tcp://collector:4444" || c.MultilineTimeoutOrZero().String() != "2s" {
		t.Fatalf("config = %+v", c)
	}
	if srcs[0].Format != "json" || srcs[1].Multiline == nil || len(srcs[2].Syslog) != 2 || srcs[1].Files[0] != "/var/log/worker.log" {
		t.Errorf("sources = %+v", srcs)
	}
	if srcs[1].Location.String() != "Europe/Berlin" || srcs[1].Labels["env"] != "prod" || srcs[1].Labels["cluster"] != "eu-1" {
		t.Errorf("worker: zone %v labels %v", srcs[1].Location, srcs[1].Labels)
	}
	if srcs[3].Format != "cri" || srcs[3].Rule == nil {
		t.Errorf("app: format %q rule %v", srcs[3].Format, srcs[3].Rule)
	}
	if j := srcs[4].Journal; j == nil || j.Directory != "/var/log/journal" || j.Matches[0] != "_SYSTEMD_UNIT=nginx.service" {
		t.Errorf("system: journal %+v", j)
	}
	if in := srcs[5].Intakes; len(in) != 3 || in[0].Protocol != "otlp" || in[0].Addr != "127.0.0.1:4318" || in[1].Protocol != "es-bulk" || in[2].Protocol != "jsonline" {
		t.Errorf("apps: intakes %+v", in)
	}
	if err := (Options{Sources: srcs[:3], Positions: "p.json"}).Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// Every invalid file is rejected with its name, the line and the key.
func TestLoadConfigErrorsNameLineAndKey(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"unknown-key.yaml", "line 3: field path not found in a source"},
		{"bad-service.yaml", "line 4: sources[1].service: "},
		{"bad-parser.yaml", `line 4: sources[0].parser: format "xml": want one of auto, json, logfmt, plain, docker, cri`},
		{"format-and-parser.yaml", `line 5: sources[0].parser: give format or parser`},
		{"bad-timezone.yaml", `line 4: sources[0].timezone: "Mars/Olympus" is not a zone`},
		{"bad-labels.yaml", `line 5: sources[0].labels: label: invalid field: key "bad key"`},
		{"bad-regex.yaml", "line 6: sources[0].parse: invalid parse rule: regex: error parsing regexp"},
		{"bad-time-format.yaml", "line 6: sources[0].parse: invalid parse rule: time_format: \"%Y-%m-%d %Q\": %Q is not supported"},
		{"bad-listen.yaml", `line 3: sources[0].listen: "0.0.0.0:5514": want tcp://HOST:PORT or udp://HOST:PORT`},
		{"bad-multiline.yaml", "line 4: sources[0].multiline: "},
		{"bad-journal.yaml", `line 4: sources[0].journal.matches: journal match "nginx": want FIELD=VALUE`},
		{"reads-nothing.yaml", `line 2: sources[0]: source "web" reads nothing`},
		{"no-sources.yaml", "line 1: sources: no sources"},
		{"bad-timeout.yaml", `line 1: multiline_timeout: "soon" is not a positive duration`},
		{"two-stdin.yaml", "line 5: sources[1].stdin: only one source can read stdin"},
		{"not-a-list.yaml", "line 2: cannot unmarshal"},
		{"bad-intake-tls.yaml", "line 2: sources[0]: HTTP intake TLS needs both a certificate and a key"},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", "config", c.file)
			_, err := LoadConfig(path)
			if err == nil || !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q\nwant it to name %q and contain %q", err, path, c.want)
			}
		})
	}
}
