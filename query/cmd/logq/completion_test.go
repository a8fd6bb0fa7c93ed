package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// The completion scripts list every command's real flags and are valid
// shell (checked by bash -n; zsh and fish are checked when installed).
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out, errOut bytes.Buffer
		if code := run([]string{"completion", shell}, &out, &errOut); code != exitMatch {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errOut.String())
		}
		for _, want := range []string{"follow", "collector", "token-file", "every", "search", "topics"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s completion lacks %q", shell, want)
			}
		}
		checker := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}[shell]
		if _, err := exec.LookPath(checker[0]); err != nil {
			continue
		}
		cmd := exec.Command(checker[0], checker[1:]...)
		cmd.Stdin = &out
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s rejects the script: %v\n%s", shell, err, msg)
		}
	}
	var errOut bytes.Buffer
	if code := run([]string{"completion", "tcsh"}, &bytes.Buffer{}, &errOut); code != exitError || !strings.Contains(errOut.String(), "unknown shell") {
		t.Errorf("completion tcsh: exit %d, %q", code, errOut.String())
	}
}
