package parse

import (
	"fmt"
	"regexp"
	"strings"
)

// exceptionHeader matches the line a logger prints after its message when
// it logs an exception: the qualified class name, optionally ": message".
var exceptionHeader = regexp.MustCompile(`^([a-zA-Z_$][\w$]*\.)+[\w$]*(Exception|Error|Throwable)(:|$)`)

// StartFunc reports whether a line begins a new event; lines for which it
// is false are continuations of the event before them.
type StartFunc func(line []byte) bool

// MultilineStart returns the start test for a preset name or a regular
// expression: "" (every line is an event), "java" (stack-trace lines, which
// start with whitespace, "Caused by:", "Suppressed:" or "...", and an
// exception's qualified class name such as "java.io.IOException: x",
// continue an event; this also joins Go panics' indented frames and Python tracebacks'
// indented lines), or any other value as a regexp that matches start lines.
func MultilineStart(spec string) (StartFunc, error) {
	switch spec {
	case "":
		return nil, nil
	case "java":
		return func(line []byte) bool {
			if len(line) == 0 {
				return false
			}
			if line[0] == ' ' || line[0] == '\t' {
				return false
			}
			s := string(line)
			return !strings.HasPrefix(s, "Caused by:") && !strings.HasPrefix(s, "Suppressed:") && !strings.HasPrefix(s, "...") &&
				!exceptionHeader.MatchString(s)
		}, nil
	}
	re, err := regexp.Compile(spec)
	if err != nil {
		return nil, fmt.Errorf("multiline start pattern %q: %w", spec, err)
	}
	return re.Match, nil
}
