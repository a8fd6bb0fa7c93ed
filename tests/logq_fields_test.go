package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/zlog/zlog/tests/harness"
)

// TestLogqFieldsAndCompletionValues: logq fields lists the field names of
// matching events with counts and top values, locally and over the API;
// completion values come from the index.
func TestLogqFieldsAndCompletionValues(t *testing.T) {
	work := harness.WorkDir(t)
	data := filepath.Join(work, "data")
	col := harness.StartCollector(t, binDir, work, data)
	agentPipe(t, col.XSub, "shop", `{"level":"info","msg":"paid","user":"ann","amount":5}
{"level":"info","msg":"paid","user":"ann","amount":7}
{"level":"error","msg":"declined","user":"bob"}
`)
	agentPipe(t, col.XSub, "web", "WARN slow page\n")
	waitStored(t, data, 4)
	want := `{"name":"amount","hits":2,"values":"2","top":"5 (1), 7 (1)"}
{"name":"user","hits":3,"values":"2","top":"ann (2), bob (1)"}
`
	for _, src := range [][]string{{"--data", data}, {"--collector", "http://" + col.HTTP}} {
		r := harness.Logq(t, binDir, append([]string{"fields", "-o", "json", "service:shop"}, src...)...)
		if r.Code != 0 || r.Stdout != want {
			t.Errorf("logq fields %s: exit %d %s\n got %q\nwant %q", src[0], r.Code, r.Stderr, r.Stdout, want)
		}
	}
	for kind, want := range map[string]string{
		"level":   "trace\ndebug\ninfo\nwarn\nerror\nfatal\n",
		"service": "shop\nweb\n",
		"field":   "_msg:\n_time:\namount:\nhost:\nlevel:\nservice:\nuser:\n",
	} {
		r := harness.Logq(t, binDir, "completion", "values", kind, "--data", data)
		if r.Code != 0 || r.Stdout != want {
			t.Errorf("completion values %s: exit %d %s\n got %q\nwant %q", kind, r.Code, r.Stderr, r.Stdout, want)
		}
	}
	shellsComplete(t, data)
}

// shellsComplete has bash, zsh and fish complete logq command lines with
// the scripts logq prints, the values read from the index: bash and zsh
// run the completion function with its inputs set (zsh's compadd
// recorded, filtered by the word's prefix as the completion system
// does), fish its own completion engine (complete -C).
func shellsComplete(t *testing.T, data string) {
	drivers := map[string]string{
		"bash": `source <(logq completion bash); read -ra COMP_WORDS <<< "$LINE"; [[ $LINE == *" " ]] && COMP_WORDS+=(""); ` +
			`COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _logq; printf '%s\n' "${COMPREPLY[@]}"`,
		"zsh": `compdef() { :; }; compadd() { while [[ $1 == -* && $1 != -- ]]; do [[ $1 == -S ]] && shift; shift; done; ` +
			`[[ $1 == -- ]] && shift; local a; for a; do [[ ${a[1,${#PREFIX}]} == $PREFIX ]] && print -r -- $a; done; }; ` +
			`source <(logq completion zsh); words=(${=LINE}); [[ $LINE == *" " ]] && words+=(""); CURRENT=${#words}; ` +
			`PREFIX=$words[CURRENT]; _logq; true`,
		"fish": `logq completion fish | source; complete -C "$LINE" | string replace -r '\t.*' ''; true`,
	}
	cases := []struct{ line, want string }{
		{"logq search --level e", "error\n"},
		{"logq stats --service ", "shop\nweb\n"},
		{"logq search us", "user:\n"},
		{"logq fields service:shop am", "amount:\n"},
		{"logq search --foll", "--follow\n"},
		{"logq comp", "completion\n"},
	}
	for shell, driver := range drivers {
		if _, err := exec.LookPath(shell); err != nil {
			t.Errorf("%s is not installed (make deps installs it)", shell)
			continue
		}
		for _, c := range cases {
			cmd := exec.Command(shell, "-c", driver)
			cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "ZLOG_DATA="+data, "LINE="+c.line, "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != c.want {
				t.Errorf("%s completes %q: %v\n got %q\nwant %q", shell, c.line, err, out, c.want)
			}
		}
	}
}
