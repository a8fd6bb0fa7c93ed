package parse

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zlog/zlog/schema"
)

// corpusCase is one entry of testdata/corpus.yaml (its header says what
// the keys mean).
type corpusCase struct {
	Name      string            `yaml:"name"`
	Line      *string           `yaml:"line"`
	Text      string            `yaml:"text"`
	Format    string            `yaml:"format"`
	Multiline string            `yaml:"multiline"`
	Timezone  string            `yaml:"timezone"`
	Path      string            `yaml:"path"`
	Rule      *RuleSpec         `yaml:"rule"`
	Labels    map[string]string `yaml:"labels"`
	Expect    *corpusEvent      `yaml:"expect"`
	Events    []corpusEvent     `yaml:"events"`
}

type corpusEvent struct {
	Time    string         `yaml:"time"`
	Level   string         `yaml:"level"`
	Message *string        `yaml:"message"`
	Host    string         `yaml:"host"`
	Service string         `yaml:"service"`
	Fields  map[string]any `yaml:"fields"`
}

var corpusNow = time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	b, err := os.ReadFile("testdata/corpus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	if err := yaml.Unmarshal(b, &cases); err != nil {
		t.Fatalf("corpus.yaml: %v", err)
	}
	return cases
}

// TestCorpus parses every line of the corpus as the agent would (container
// records unwrapped, multiline events joined, then parsed) and checks each
// event's time, level, message, host, service and typed fields.
func TestCorpus(t *testing.T) {
	cases := loadCorpus(t)
	if len(cases) < 60 {
		t.Fatalf("corpus has %d cases; it lost some", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := c.run()
			if err != nil {
				t.Fatal(err)
			}
			want := c.Events
			if c.Expect != nil {
				want = []corpusEvent{*c.Expect}
			}
			if len(got) != len(want) {
				t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
			}
			for i := range want {
				want[i].check(t, i, got[i])
			}
			if c.Path != "" {
				if l := KubernetesLabels(c.Path); !reflect.DeepEqual(map[string]string(l), c.Labels) && !(len(l) == 0 && len(c.Labels) == 0) {
					t.Errorf("labels of %s: %v, want %v", c.Path, l, c.Labels)
				}
			}
		})
	}
}

// run feeds the case's lines through a Joiner and a Parser.
func (c corpusCase) run() ([]Result, error) {
	o := Options{Location: time.UTC, Now: func() time.Time { return corpusNow }}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return nil, err
		}
		o.Location = loc
	}
	if c.Rule != nil {
		rule, err := NewRule(*c.Rule)
		if err != nil {
			return nil, err
		}
		o.Rule = rule
	}
	jo := JoinerOptions{}
	switch f := Format(c.Format); f {
	case Docker, CRI:
		jo.Container, _ = NewContainerDecoder(f)
	case Syslog:
		res, err := New(o).Syslog([]byte(*c.Line))
		return []Result{res}, err
	default:
		o.Format = f
	}
	start, err := MultilineStart(c.Multiline)
	if err != nil {
		return nil, err
	}
	jo.Start = start
	p, j := New(o), NewJoiner(jo)
	lines := strings.Split(strings.TrimSuffix(c.Text, "\n"), "\n")
	if c.Line != nil {
		lines = []string{*c.Line}
	}
	var out []Result
	emit := func(l Logical) error { out = append(out, p.Logical(l)); return nil }
	for _, line := range lines {
		if err := j.Add([]byte(line), len(line), nil, corpusNow, emit); err != nil {
			return nil, err
		}
	}
	return out, j.Flush(emit)
}

func (w corpusEvent) check(t *testing.T, i int, got Result) {
	t.Helper()
	wantTime := time.Time{}
	if w.Time != "" {
		var err error
		if wantTime, err = time.Parse(time.RFC3339Nano, w.Time); err != nil {
			t.Fatalf("event %d: expected time %q: %v", i, w.Time, err)
		}
	}
	if !got.Time.Equal(wantTime) {
		t.Errorf("event %d: time %v, want %v", i, got.Time.UTC(), wantTime)
	}
	level := schema.LevelInfo
	if w.Level != "" {
		level, _ = schema.ParseLevel(w.Level)
	}
	if got.Level != level {
		t.Errorf("event %d: level %v, want %v", i, got.Level, level)
	}
	if w.Message == nil {
		t.Fatalf("event %d: the corpus must say the message", i)
	}
	if got.Message != *w.Message {
		t.Errorf("event %d: message\n got %q\nwant %q", i, got.Message, *w.Message)
	}
	if got.Host != w.Host || got.Service != w.Service {
		t.Errorf("event %d: host %q service %q, want %q %q", i, got.Host, got.Service, w.Host, w.Service)
	}
	want := schema.Fields{}
	for k, v := range w.Fields {
		if n, ok := v.(int); ok {
			v = int64(n)
		}
		want[k] = v
	}
	gotFields := got.Fields
	if gotFields == nil {
		gotFields = schema.Fields{}
	}
	if !reflect.DeepEqual(gotFields, want) {
		t.Errorf("event %d: fields\n got %s\nwant %s", i, showFields(gotFields), showFields(want))
	}
}

func showFields(f schema.Fields) string {
	var b strings.Builder
	for _, k := range sortedKeys(f) {
		fmt.Fprintf(&b, "%s=%#v ", k, f[k])
	}
	return b.String()
}

func sortedKeys(f schema.Fields) []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
