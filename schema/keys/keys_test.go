package keys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A key holding '#' (Z85 uses it) is not cut short as a comment.
const hashKey = "6@N.)fP]jlbs#?-<F>u-0vu9E<<HnnsmlEY>o[t&"

func TestWriteAndRead(t *testing.T) {
	base := filepath.Join(t.TempDir(), "collector")
	p, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(base, p, false); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(base + ".key")
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret key mode %v, want 0600", st.Mode().Perm())
	}
	got, err := ReadSecret(base + ".key")
	if err != nil || got != p {
		t.Fatalf("ReadSecret: %v, %v; want %v", got, err, p)
	}
	if pub, err := ReadPublic(base + ".pub"); err != nil || pub != p.Public {
		t.Fatalf("ReadPublic: %q, %v", pub, err)
	}
	if err := Write(base, p, false); err == nil {
		t.Error("Write replaced an existing key without force")
	}
	os.Chmod(base+".key", 0o644)
	if _, err := ReadSecret(base + ".key"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable secret key was accepted: %v", err)
	}
}

func TestLoadAllowlist(t *testing.T) {
	if err := checkZ85(hashKey); err != nil {
		t.Fatalf("test key: %v", err)
	}
	k1, _ := Generate()
	k2, _ := Generate()
	for _, tc := range []struct {
		name, text string
		want       map[string]Role
		err        string
	}{
		{"roles", "# clients\n" + k1.Public + " publish # web-1 agent\n\n" + k2.Public + " subscribe\n" + hashKey + "\n",
			map[string]Role{k1.Public: Publish, k2.Public: Subscribe, hashKey: Both}, ""},
		{"short key", "abc\n", nil, "allow:1: not a CURVE key"},
		{"bad role", k1.Public + " admin\n", nil, `allow:1: role "admin"`},
		{"extra word", k1.Public + " publish now\n", nil, `unexpected "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "allow")
			os.WriteFile(path, []byte(tc.text), 0o644)
			al, err := LoadAllowlist(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(al) != len(tc.want) {
				t.Errorf("got %v, want %v", al, tc.want)
			}
			for k, r := range tc.want {
				if al[k] != r {
					t.Errorf("key %s: role %v, want %v", k, al[k], r)
				}
			}
		})
	}
	// A directory allows each .pub file for both roles.
	dir := t.TempDir()
	Write(filepath.Join(dir, "a"), k1, false)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a key"), 0o644)
	al, err := LoadAllowlist(dir)
	if err != nil || len(al) != 1 || al[k1.Public] != Both {
		t.Errorf("directory: %v, %v", al, err)
	}
	if _, err := LoadAllowlist(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing allowlist loaded")
	}
	os.WriteFile(filepath.Join(dir, "bad.pub"), []byte("nope\n"), 0o644)
	if _, err := LoadAllowlist(dir); !errors.Is(err, ErrBadKey) {
		t.Errorf("a bad .pub in the directory: %v", err)
	}
}
