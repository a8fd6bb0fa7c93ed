package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

const completionUsage = `Usage: logq completion bash|zsh|fish

Prints a shell completion script for logq's commands and flags. Install:
  bash:  logq completion bash > /etc/bash_completion.d/logq   (or source it from ~/.bashrc)
  zsh:   logq completion zsh > "${fpath[1]}/_logq"
  fish:  logq completion fish > ~/.config/fish/completions/logq.fish
`

// flaggedCommands are the commands whose flags are completed.
var flaggedCommands = []string{"search", "stats", "topics", "fields", "tail", "context"}

var commands = []string{"search", "stats", "topics", "fields", "tail", "context", "completion", "version", "help"}

// flagName matches a flag line of a command's --help, as pflag prints
// it: "  -o, --output string   …" or "      --since string   …". It is
// compiled here, not at start-up, which every logq command pays for.
const flagName = `(?m)^\s+(?:-[a-zA-Z], )?--([a-z][a-z-]*)`

// commandFlags reads each command's flags from its own --help, so the
// completion never drifts from the flags.
func commandFlags() map[string][]string {
	flagName := regexp.MustCompile(flagName)
	out := map[string][]string{}
	for _, c := range flaggedCommands {
		var help bytes.Buffer
		run([]string{c, "--help"}, &help, io.Discard)
		for _, m := range flagName.FindAllStringSubmatch(help.String(), -1) {
			out[c] = append(out[c], "--"+m[1])
		}
		sort.Strings(out[c])
	}
	return out
}

func runCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "values" {
		return runValues(args[1:], stdout, stderr)
	}
	if len(args) != 1 {
		fmt.Fprint(stderr, completionUsage)
		return exitError
	}
	scripts := map[string]func(map[string][]string) string{"bash": bashScript, "zsh": zshScript, "fish": fishScript}
	script, ok := scripts[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "logq: completion: unknown shell %q (want bash, zsh or fish)\n", args[0])
		return exitError
	}
	fmt.Fprint(stdout, script(commandFlags()))
	return exitMatch
}

// valueFlags are the flags whose values come from the index (logq
// completion values), as do the field names of a query.
const valueFlags = "--level|--service|--host|--label"

// queryCommands take a query, whose field names are completed.
var queryCommands = []string{"search", "stats", "fields"}

func bashScript(flags map[string][]string) string {
	var b strings.Builder
	b.WriteString("# bash completion for logq\n_logq() {\n  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]}\n")
	fmt.Fprintf(&b, "  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(commands, " "))
	fmt.Fprintf(&b, "  case $prev in\n    %s) COMPREPLY=($(compgen -W \"$(logq completion values ${prev#--} 2>/dev/null)\" -- \"$cur\")); return;;\n  esac\n", valueFlags)
	fmt.Fprintf(&b, "  if [[ $cur != -* && ( %s ) ]]; then COMPREPLY=($(compgen -W \"$(logq completion values field 2>/dev/null)\" -- \"$cur\")); compopt -o nospace 2>/dev/null; return; fi\n", queryCommandTest())
	b.WriteString("  case $cmd in\n")
	for _, c := range flaggedCommands {
		fmt.Fprintf(&b, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\"));;\n", c, strings.Join(flags[c], " "))
	}
	b.WriteString("    completion) COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\"));;\n  esac\n}\ncomplete -F _logq logq\n")
	return b.String()
}

// zshScript works both from $fpath (autoloaded as _logq, which then
// defines and runs itself) and sourced after compinit.
func zshScript(flags map[string][]string) string {
	var b strings.Builder
	b.WriteString("#compdef logq\ncompdef _logq logq\n_logq() {\n  local cmd=$words[2] prev=$words[CURRENT-1] cur=$words[CURRENT]\n")
	fmt.Fprintf(&b, "  if (( CURRENT == 2 )); then\n    compadd -- %s\n    return\n  fi\n", strings.Join(commands, " "))
	fmt.Fprintf(&b, "  case $prev in\n    %s) compadd -- ${(f)\"$(logq completion values ${prev#--} 2>/dev/null)\"}; return;;\n  esac\n", valueFlags)
	fmt.Fprintf(&b, "  if [[ $cur != -* && ( %s ) ]]; then\n    compadd -S '' -- ${(f)\"$(logq completion values field 2>/dev/null)\"}\n    return\n  fi\n", queryCommandTest())
	b.WriteString("  case $cmd in\n")
	for _, c := range flaggedCommands {
		fmt.Fprintf(&b, "    %s) compadd -- %s;;\n", c, strings.Join(flags[c], " "))
	}
	b.WriteString("    completion) compadd -- bash zsh fish;;\n  esac\n}\nif [[ $funcstack[1] == _logq ]]; then _logq \"$@\"; fi\n")
	return b.String()
}

func fishScript(flags map[string][]string) string {
	var b strings.Builder
	b.WriteString("# fish completion for logq\n")
	fmt.Fprintf(&b, "complete -c logq -f -n __fish_use_subcommand -a %q\n", strings.Join(commands, " "))
	fmt.Fprintf(&b, "complete -c logq -f -n '__fish_seen_subcommand_from %s' -a '(logq completion values field 2>/dev/null)'\n", strings.Join(queryCommands, " "))
	for _, c := range flaggedCommands {
		for _, f := range flags[c] {
			values := ""
			if strings.Contains("|"+valueFlags+"|", "|"+f+"|") {
				values = fmt.Sprintf(" -x -a '(logq completion values %s 2>/dev/null)'", strings.TrimPrefix(f, "--"))
			}
			fmt.Fprintf(&b, "complete -c logq -f -n '__fish_seen_subcommand_from %s' -l %s%s\n", c, strings.TrimPrefix(f, "--"), values)
		}
	}
	b.WriteString("complete -c logq -f -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
	return b.String()
}

// queryCommandTest is a [[ ]] test that $cmd takes a query:
// "$cmd == search || $cmd == stats || …".
func queryCommandTest() string {
	parts := make([]string, len(queryCommands))
	for i, c := range queryCommands {
		parts[i] = "$cmd == " + c
	}
	return strings.Join(parts, " || ")
}
