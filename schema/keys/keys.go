// Package keys reads and writes the CURVE keys zlog uses, and the
// collector's allowlist of client keys.
//
// A key file holds one Z85-encoded key (40 characters) on its first line:
// NAME.key the secret key (mode 0600), NAME.pub the public key. Lines
// starting with # are comments. The public key of a secret key is derived,
// so a client needs only its .key file and the collector's .pub file.
package keys

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	zmq "github.com/pebbe/zmq4"
)

// ErrBadKey means a file does not hold a usable key.
var ErrBadKey = errors.New("not a CURVE key")

// Pair is a CURVE keypair, Z85 encoded.
type Pair struct {
	Public, Secret string
}

// Generate makes a new keypair.
func Generate() (Pair, error) {
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		return Pair{}, fmt.Errorf("generate CURVE keypair: %w", err)
	}
	return Pair{Public: pub, Secret: sec}, nil
}

// Write stores the pair as base.key (0600) and base.pub (0644). It refuses
// to replace existing files unless force: a lost secret key locks clients out.
func Write(base string, p Pair, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, f := range []struct {
		path, key, kind string
		mode            os.FileMode
	}{
		{base + ".key", p.Secret, "secret", 0o600},
		{base + ".pub", p.Public, "public", 0o644},
	} {
		file, err := os.OpenFile(f.path, flags, f.mode)
		if err != nil {
			return fmt.Errorf("write %s key: %w", f.kind, err)
		}
		// OpenFile's mode is filtered by the umask and ignored for an
		// existing file; the secret must end up 0600 either way.
		err = file.Chmod(f.mode)
		if err == nil {
			_, err = fmt.Fprintf(file, "# zlog CURVE %s key\n%s\n", f.kind, f.key)
		}
		if err == nil {
			err = file.Sync()
		}
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s key %q: %w", f.kind, f.path, err)
		}
	}
	return nil
}

// readKey returns the first non-comment line of path, checked as Z85.
func readKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read key: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || isComment(line) {
			continue
		}
		if err := checkZ85(line); err != nil {
			return "", fmt.Errorf("key file %q: %w", path, err)
		}
		return line, nil
	}
	return "", fmt.Errorf("key file %q: %w: the file holds no key", path, ErrBadKey)
}

// isComment: a 32-byte key's Z85 form never starts with # (its first digit
// is at most 82 of 85), though # may appear inside it.
func isComment(s string) bool { return strings.HasPrefix(s, "#") }

func checkZ85(k string) error {
	if len(k) != 40 || len(zmq.Z85decode(k)) != 32 {
		return fmt.Errorf("%w: %q is not 40 characters of Z85", ErrBadKey, k)
	}
	return nil
}

// ReadSecret reads a .key file and derives its public key. The file must
// not be readable by group or others.
func ReadSecret(path string) (Pair, error) {
	if err := CheckPrivate(path, "secret key"); err != nil {
		return Pair{}, err
	}
	sec, err := readKey(path)
	if err != nil {
		return Pair{}, err
	}
	pub, err := zmq.AuthCurvePublic(sec)
	if err != nil {
		return Pair{}, fmt.Errorf("secret key %q: %w", path, err)
	}
	return Pair{Public: pub, Secret: sec}, nil
}

// CheckPrivate refuses a secret file (a key, a bearer token) that others
// on this host may read, as ssh does.
func CheckPrivate(path, what string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s %q has mode %v: others on this host can read it; chmod 600 it", what, path, st.Mode().Perm())
	}
	return nil
}

// ReadToken reads a bearer token file, which must be private and not empty.
func ReadToken(path string) (string, error) {
	if err := CheckPrivate(path, "token file"); err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("token file %q holds no token", path)
	}
	return token, nil
}

// ReadPublic reads a .pub file.
func ReadPublic(path string) (string, error) { return readKey(path) }

// Role is what an allowed key may do.
type Role uint8

const (
	Publish   Role = 1 << iota // send events to the XSUB socket
	Subscribe                  // read events from the XPUB socket
	Both      = Publish | Subscribe
)

// Allowlist maps allowed public keys to their roles.
type Allowlist map[string]Role

// LoadAllowlist reads a file or a directory.
//
// A file lists one key per line, optionally followed by "publish" or
// "subscribe" (default: both) and a " # comment"; blank lines and comment
// lines are skipped (# may appear inside a key: Z85 uses it). A directory allows every *.pub file in it for both roles (drop a
// client's .pub in, send SIGHUP). An error names the file and line.
func LoadAllowlist(path string) (Allowlist, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("authorized keys: %w", err)
	}
	al := Allowlist{}
	if !st.IsDir() {
		return al, al.addFile(path)
	}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != path {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".pub") {
			return nil
		}
		k, err := ReadPublic(p)
		if err != nil {
			return err
		}
		al[k] |= Both
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("authorized keys %q: %w", path, err)
	}
	return al, nil
}

func (al Allowlist) addFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("authorized keys: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || isComment(sc.Text()) {
			continue
		}
		// A trailing comment starts with a word beginning with #.
		for i := 1; i < len(fields); i++ {
			if strings.HasPrefix(fields[i], "#") {
				fields = fields[:i]
				break
			}
		}
		if err := checkZ85(fields[0]); err != nil {
			return fmt.Errorf("authorized keys %s:%d: %w", path, n, err)
		}
		role := Both
		if len(fields) > 1 {
			switch fields[1] {
			case "publish":
				role = Publish
			case "subscribe":
				role = Subscribe
			case "both":
			default:
				return fmt.Errorf("authorized keys %s:%d: role %q is not publish, subscribe or both", path, n, fields[1])
			}
		}
		if len(fields) > 2 {
			return fmt.Errorf("authorized keys %s:%d: unexpected %q after the role", path, n, fields[2])
		}
		al[fields[0]] |= role
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("authorized keys %q: %w", path, err)
	}
	return nil
}

// Keys lists the keys with role r, sorted.
func (al Allowlist) Keys(r Role) []string {
	var out []string
	for k, role := range al {
		if role&r != 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Client is what a client needs to talk CURVE to the collector.
type Client struct {
	ServerPublic string
	Pair
}

// LoadClient reads the collector's public key and the client's secret key;
// both empty means plaintext (nil, nil). One without the other is an error.
func LoadClient(serverPubFile, secretFile string) (*Client, error) {
	if serverPubFile == "" && secretFile == "" {
		return nil, nil
	}
	if serverPubFile == "" || secretFile == "" {
		return nil, errors.New("CURVE needs both the collector's public key (--curve-server-key) and this client's secret key (--curve-secret-key)")
	}
	server, err := ReadPublic(serverPubFile)
	if err != nil {
		return nil, err
	}
	pair, err := ReadSecret(secretFile)
	if err != nil {
		return nil, err
	}
	return &Client{ServerPublic: server, Pair: pair}, nil
}

// Apply makes sock a CURVE client of the collector; a nil Client leaves it
// plaintext.
func (c *Client) Apply(sock *zmq.Socket) error {
	if c == nil {
		return nil
	}
	if err := sock.ClientAuthCurve(c.ServerPublic, c.Public, c.Secret); err != nil {
		return fmt.Errorf("CURVE client: %w", err)
	}
	return nil
}
