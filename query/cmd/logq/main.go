// Command logq searches the zlog index.
//
// Exit status, like grep: 0 when something matched, 1 when nothing did, 2 on
// an error (a bad flag, time or query names what was wrong).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/zlog/zlog/schema/buildinfo"
	"github.com/zlog/zlog/schema/gctune"
)

const usage = `Usage: logq <command> [flags] [query...]

Commands:
  search      find events with a query (words, fields, regexes, | stats pipes)
  stats       count events per service, level, host or topic, with charts
  topics      list topics with their counts and when each was last seen
  fields      list field names with their counts and top values
  context     show a stored event (by the id -o json prints) with the events around it
  tail        follow live events from the collector, filtered at the source
  completion  print a bash, zsh or fish completion script
  version     print the version (also --version)
  help        show this help

Every command reads the index on this host (--data) or, with --collector
http://host:4446, asks a collector's query API; -o json prints JSON.
Run "logq <command> --help" for a command's flags.
`

const (
	exitMatch   = 0
	exitNoMatch = 1
	exitError   = 2
)

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// tuneGC lets the heap grow to five times what is live before a
// collection, within a soft limit of 1 GiB, unless GOGC or GOMEMLIMIT say
// otherwise: logq lives for one query, and at Go's default a top over
// ten million events spent a fifth of its time collecting (measured).
func tuneGC() { gctune.Set(400, 1<<30) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "search":
		return runSearch(args[1:], stdout, stderr)
	case "stats":
		return runStats(args[1:], stdout, stderr)
	case "topics":
		return runTopics(args[1:], stdout, stderr)
	case "tail":
		return runTail(args[1:], stdout, stderr)
	case "context":
		return runContext(args[1:], stdout, stderr)
	case "fields":
		return runFields(args[1:], stdout, stderr)
	case "completion":
		return runCompletion(args[1:], stdout, stderr)
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, buildinfo.String("logq"))
		return exitMatch
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return exitMatch
	}
	fmt.Fprintf(stderr, "logq: unknown command %q\n\n%s", args[0], usage)
	return exitError
}
