package parse

import (
	"fmt"
	"regexp"
	"strings"
)

// StartFunc reports whether a line begins a new event; lines for which it
// is false are continuations of the event before them.
type StartFunc func(line []byte) bool

// MultilinePresets are the names MultilineStart knows besides regexps.
var MultilinePresets = []string{"java", "python", "go"}

// MultilineStart returns the start test for a preset name or a regular
// expression: "" (every line is an event); "java", "python" or "go", which
// join the stack traces of all three (a logger writes its message, then the
// trace: Java's "\tat …", "Caused by:" and exception class lines, Python's
// "Traceback (most recent call last):", indented frames and final
// "ValueError: …" line, Go's "goroutine 1 [running]:" and frames), so a
// service that runs Python beside Java is not split either; or any other
// value as a regexp that matches start lines.
func MultilineStart(spec string) (StartFunc, error) {
	switch spec {
	case "":
		return nil, nil
	case "java", "python", "go":
		return func(line []byte) bool { return !stackContinuation(string(line)) }, nil
	}
	re, err := regexp.Compile(spec)
	if err != nil {
		return nil, fmt.Errorf("multiline start pattern %q: %w (or one of %s)", spec, err, strings.Join(MultilinePresets, ", "))
	}
	return re.Match, nil
}

var (
	// exceptionLine is a trace's exception line: Java's qualified class
	// ("java.io.IOException: x", "org.acme.Throwable"), Python's final
	// line ("ValueError: x", "KeyboardInterrupt", "Exception: x"); a bare
	// "Error: x" is a line of its own.
	exceptionLine = regexp.MustCompile(`^(([a-zA-Z_$][\w$]*\.)*[A-Za-z_$][\w$]*(Exception|Error|Throwable|Warning|Interrupt|Exit|Iteration)|([a-zA-Z_$][\w$]*\.)+(Exception|Error|Throwable)|Exception)(:|$)`)
	// goFrame is a Go trace's function line: "main.main()",
	// "net/http.(*conn).serve(0xc000112000, {0x6f1b98, 0xc0000a6000})".
	goFrame = regexp.MustCompile(`^[\w./-]+(\.\(\*?[\w]+\))?\.[\w.]+(\[[^\]]*\])?\(.*\)$|^goroutine \d+ \[`)
)

var continuationPrefixes = []string{
	"Caused by:", "Suppressed:", "...", "Traceback (most recent call last):",
	"During handling of the above exception", "The above exception was the direct cause",
	"created by ", "[signal ", "exit status ",
}

// stackContinuation reports whether a line continues a stack trace.
func stackContinuation(s string) bool {
	if s == "" || s[0] == ' ' || s[0] == '\t' {
		return true
	}
	for _, p := range continuationPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return exceptionLine.MatchString(s) || goFrame.MatchString(s)
}
