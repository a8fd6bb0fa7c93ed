package parse

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// RuleSpec is a source's own reading of its lines, as the YAML config's
// parse block gives it (the tags are its keys). Every part is optional.
type RuleSpec struct {
	// Regex is matched against each line; its named groups time, level,
	// message, host and service (or the names the keys below give) set
	// those parts, every other named group becomes a field. A line it does
	// not match is read as if there were no regex. Without a message group
	// the message is the whole line.
	Regex string `yaml:"regex"`
	// TimeKey, LevelKey, MessageKey, HostKey and ServiceKey name the field
	// (of a JSON or logfmt record, or a regex group) that holds that part;
	// they are looked for before the usual keys.
	TimeKey    string `yaml:"time_key"`
	LevelKey   string `yaml:"level_key"`
	MessageKey string `yaml:"message_key"`
	HostKey    string `yaml:"host_key"`
	ServiceKey string `yaml:"service_key"`
	// TimeFormat reads the time key's value: a Go layout
	// ("2006-01-02 15:04:05"), a strftime pattern ("%d/%m/%Y %H:%M:%S"),
	// or rfc3339, unix, unix_ms, unix_us, unix_ns.
	TimeFormat string `yaml:"time_format"`
}

// Rule is a compiled RuleSpec.
type Rule struct {
	re         *regexp.Regexp
	keys       keySet
	hasMessage bool
}

// ErrRule marks an invalid rule; errors.As finds a *RuleError naming the
// part.
var ErrRule = errors.New("invalid parse rule")

// RuleError says which part of a rule (regex, time_format) is wrong.
type RuleError struct {
	Key string
	Err error
}

func (e *RuleError) Error() string   { return fmt.Sprintf("%s: %s: %v", ErrRule, e.Key, e.Err) }
func (e *RuleError) Unwrap() []error { return []error{ErrRule, e.Err} }

// NewRule compiles a rule.
func NewRule(s RuleSpec) (*Rule, error) {
	r := &Rule{keys: recordKeys}
	r.keys.service = s.ServiceKey
	layout, err := timeLayout(s.TimeFormat)
	if err != nil {
		return nil, &RuleError{"time_format", err}
	}
	r.keys.timeFormat = layout
	prepend := func(list []string, key, def string) []string {
		if key == "" && s.Regex != "" {
			key = def // a regex's groups are named time, level, … by default
		}
		if key == "" {
			return list
		}
		return append([]string{key}, list...)
	}
	r.keys.time = prepend(r.keys.time, s.TimeKey, "time")
	r.keys.level = prepend(r.keys.level, s.LevelKey, "level")
	r.keys.message = prepend(r.keys.message, s.MessageKey, "message")
	r.keys.host = prepend(r.keys.host, s.HostKey, "host")
	if r.keys.service == "" && s.Regex != "" {
		r.keys.service = "service"
	}
	r.keys = r.keys.indexed()
	if s.Regex == "" {
		return r, nil
	}
	if r.re, err = regexp.Compile(s.Regex); err != nil {
		return nil, &RuleError{"regex", err}
	}
	named := 0
	for _, n := range r.re.SubexpNames() {
		if n != "" {
			named++
		}
		if n == r.keys.message[0] {
			r.hasMessage = true
		}
	}
	if named == 0 {
		return nil, &RuleError{"regex", fmt.Errorf("%q has no named group like (?P<level>\\w+)", s.Regex)}
	}
	return r, nil
}

// apply reads a line the regex matches; false when there is no regex or
// it does not match.
func (rl *Rule) apply(p *Parser, line []byte, r *Result) bool {
	if rl.re == nil {
		return false
	}
	m := rl.re.FindSubmatchIndex(line)
	if m == nil {
		return false
	}
	s := string(line)
	for i, name := range rl.re.SubexpNames() {
		if name != "" && m[2*i] >= 0 {
			r.put(name, typedText(s[m[2*i]:m[2*i+1]]))
		}
	}
	r.Format = "regex"
	p.takeRecord(r, &rl.keys)
	if !rl.hasMessage {
		r.Message = s
	}
	return true
}

// timeLayout turns a time_format into a Go layout, or one of the epoch
// names (kept as they are, read by recordTime).
func timeLayout(f string) (string, error) {
	switch f {
	case "", "rfc3339", "unix", "unix_ms", "unix_us", "unix_ns":
		return f, nil
	}
	if !strings.Contains(f, "%") {
		if _, err := time.Parse(f, time.Date(2026, 11, 29, 23, 40, 5, 0, time.UTC).Format(f)); err != nil {
			return "", fmt.Errorf("%q is not a Go layout like 2006-01-02 15:04:05: %v", f, err)
		}
		return f, nil
	}
	return strftimeLayout(f)
}

var strftime = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03", 'M': "04", 'S': "05",
	'p': "PM", 'b': "Jan", 'h': "Jan", 'B': "January", 'a': "Mon", 'A': "Monday", 'z': "-0700", 'Z': "MST",
	'f': "", 'L': "", 'j': "002", 'T': "15:04:05", 'F': "2006-01-02", '%': "%",
}

func strftimeLayout(f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		if i+1 == len(f) {
			return "", fmt.Errorf("%q ends with a lone %%", f)
		}
		i++
		lay, ok := strftime[f[i]]
		if !ok {
			return "", fmt.Errorf("%q: %%%c is not supported (use %%Y %%m %%d %%H %%M %%S %%f %%z %%b …)", f, f[i])
		}
		if lay == "" { // %f, %L: Go reads a fraction after the seconds by itself
			str := strings.TrimRight(b.String(), ".,")
			b.Reset()
			b.WriteString(str)
			continue
		}
		b.WriteString(lay)
	}
	return b.String(), nil
}
