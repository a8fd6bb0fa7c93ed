package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/zlog/zlog/schema"
)

// levelColors are the ANSI colours of levels on a terminal.
var levelColors = map[schema.Level]string{
	schema.LevelTrace: "\x1b[2m", schema.LevelDebug: "\x1b[2m", schema.LevelInfo: "\x1b[32m",
	schema.LevelWarn: "\x1b[33m", schema.LevelError: "\x1b[31m", schema.LevelFatal: "\x1b[1;35m",
}

const colorReset = "\x1b[0m"

// colorWanted reads --color: auto colours a terminal unless NO_COLOR is
// set (no-color.org) or TERM is dumb.
func colorWanted(mode string, w io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		_, noColor := os.LookupEnv("NO_COLOR")
		return isTerminal(w) && !noColor && os.Getenv("TERM") != "dumb", nil
	}
	return false, fmt.Errorf("flag --color: %q is not auto, always or never", mode)
}

// colorLevel colours the level word of a log-file line of ev, which
// starts after the time and one space.
func colorLevel(line []byte, ev *schema.Event, timeLen int) []byte {
	c, ok := levelColors[ev.Level]
	start, end := timeLen+1, timeLen+1+len(ev.Level.String())
	if !ok || end > len(line) {
		return line
	}
	out := make([]byte, 0, len(line)+len(c)+len(colorReset))
	out = append(append(append(out, line[:start]...), c...), line[start:end]...)
	return append(append(out, colorReset...), line[end:]...)
}

// pager sends what is written to $PAGER (less -R by default, quitting at
// once when it all fits: LESS=FRX unless set) when w is a terminal; else
// it is w itself. done closes the pager's input and waits for the user to
// leave it.
func pager(w io.Writer, enabled bool) (out io.Writer, done func() error) {
	if !enabled || !isTerminal(w) {
		return w, func() error { return nil }
	}
	cmdline := os.Getenv("PAGER")
	if cmdline == "" {
		cmdline = "less -R"
	}
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	if _, set := os.LookupEnv("LESS"); !set {
		cmd.Env = append(os.Environ(), "LESS=FRX")
	}
	in, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return w, func() error { return nil } // no pager: print as if piped
	}
	return quitWriter{in}, func() error {
		in.Close()
		return cmd.Wait()
	}
}

// errPagerQuit is a write to a pager the user has left: the command ends
// quietly, with what it printed.
var errPagerQuit = errors.New("pager quit")

type quitWriter struct{ w io.Writer }

func (q quitWriter) Write(b []byte) (int, error) {
	n, err := q.w.Write(b)
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) {
		return n, errPagerQuit
	}
	return n, err
}
