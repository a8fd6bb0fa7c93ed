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
// it: "  -o, --output string   …" or "      --since string   …".
var flagName = regexp.MustCompile(`(?m)^\s+(?:-[a-zA-Z], )?--([a-z][a-z-]*)`)

// commandFlags reads each command's flags from its own --help, so the
// completion never drifts from the flags.
func commandFlags() map[string][]string {
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
	flags := commandFlags()
	var b strings.Builder
	switch args[0] {
	case "bash":
		b.WriteString("# bash completion for logq\n_logq() {\n  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]}\n")
		fmt.Fprintf(&b, "  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(commands, " "))
		// Values of --level, --service, --host and --label, and field names
		// for the query, come from the index (logq completion values).
		b.WriteString("  case $prev in\n    --level|--service|--host|--label) COMPREPLY=($(compgen -W \"$(logq completion values ${prev#--} 2>/dev/null)\" -- \"$cur\")); return;;\n  esac\n")
		b.WriteString("  if [[ $cur != -* && ( $cmd == search || $cmd == stats || $cmd == fields ) ]]; then COMPREPLY=($(compgen -W \"$(logq completion values field 2>/dev/null)\" -- \"$cur\")); compopt -o nospace 2>/dev/null; return; fi\n")
		b.WriteString("  case $cmd in\n")
		for _, c := range flaggedCommands {
			fmt.Fprintf(&b, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\"));;\n", c, strings.Join(flags[c], " "))
		}
		b.WriteString("    completion) COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\"));;\n  esac\n}\ncomplete -F _logq logq\n")
	case "zsh":
		b.WriteString("#compdef logq\n_logq() {\n  if (( CURRENT == 2 )); then\n")
		fmt.Fprintf(&b, "    compadd %s\n    return\n  fi\n  case $words[2] in\n", strings.Join(commands, " "))
		b.WriteString("  case $words[CURRENT-1] in\n    --level|--service|--host|--label) compadd -- ${(f)\"$(logq completion values ${words[CURRENT-1]#--} 2>/dev/null)\"}; return;;\n  esac\n")
		for _, c := range flaggedCommands {
			fmt.Fprintf(&b, "    %s) compadd -- %s;;\n", c, strings.Join(flags[c], " "))
		}
		b.WriteString("    completion) compadd bash zsh fish;;\n  esac\n}\ncompdef _logq logq\n")
	case "fish":
		b.WriteString("# fish completion for logq\n")
		fmt.Fprintf(&b, "complete -c logq -f -n __fish_use_subcommand -a %q\n", strings.Join(commands, " "))
		for _, c := range flaggedCommands {
			for _, f := range flags[c] {
				name := strings.TrimPrefix(f, "--")
				values := ""
				if name == "level" || name == "service" || name == "host" || name == "label" {
					values = fmt.Sprintf(" -x -a '(logq completion values %s 2>/dev/null)'", name)
				}
				fmt.Fprintf(&b, "complete -c logq -n '__fish_seen_subcommand_from %s' -l %s%s\n", c, name, values)
			}
		}
		b.WriteString("complete -c logq -f -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
	default:
		fmt.Fprintf(stderr, "logq: completion: unknown shell %q (want bash, zsh or fish)\n", args[0])
		return exitError
	}
	fmt.Fprint(stdout, b.String())
	return exitMatch
}
