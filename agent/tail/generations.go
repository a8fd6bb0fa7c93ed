package tail

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Rotation can happen more than once while nobody reads: two logrotate runs
// while the agent is stopped, or two rotations between two polls. Then the
// file the position belongs to is an older generation, and every file
// rotated after it is a generation nobody has read. After finishing the
// generation it knows, the tailer looks in the directory for the rotated
// names of the same file (app.log.1, app.log.2.gz, app.log-20261130, …),
// keeps those modified no earlier than the one it finished and not known
// otherwise, and reads each whole, oldest first. Compressed generations
// (logrotate's compress, also applied after the rename) are read through
// gzip; positions inside them count uncompressed bytes.

// rotatedName reports whether name is a rotated generation of base.
func rotatedName(name, base string) bool {
	if len(name) <= len(base)+1 || !strings.HasPrefix(name, base) {
		return false
	}
	switch name[len(base)] {
	case '.', '-', '_':
		return true
	}
	return false
}

func compressed(path string) bool { return strings.HasSuffix(path, ".gz") }

// openContent opens a file's content: decompressed for a .gz.
func openContent(path string) (io.ReadCloser, error) {
	fh, err := os.Open(path)
	if err != nil || !compressed(path) {
		return fh, err
	}
	zr, err := gzip.NewReader(fh)
	if err != nil {
		fh.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, fh}, nil
}

// contentSize is the size of a file's content: for a .gz, the size its
// trailer records (modulo 4 GiB).
func contentSize(path string, st fs.FileInfo) int64 {
	if !compressed(path) {
		return st.Size()
	}
	fh, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer fh.Close()
	var isize [4]byte
	if _, err := fh.ReadAt(isize[:], st.Size()-4); err != nil {
		return 0
	}
	return int64(binary.LittleEndian.Uint32(isize[:]))
}

// generation is a rotated file not read yet.
type generation struct {
	path string
	st   fs.FileInfo
}

// newerGenerations lists the rotated generations of base in dir modified no
// earlier than after, oldest first, leaving out files the tailer knows
// (open, finished, in Resume), files a glob matches, and skip.
func (t *Tailer) newerGenerations(dir, base string, after time.Time, skip ...fs.FileInfo) []generation {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []generation
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if !e.Type().IsRegular() || !rotatedName(e.Name(), base) || t.matchesGlob(path) {
			continue
		}
		st, err := os.Stat(path)
		if err != nil || st.ModTime().Before(after) || t.known(path, st) || sameAsAny(st, skip) || t.contentRead(path) {
			continue
		}
		out = append(out, generation{path, st})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].st.ModTime().Equal(out[j].st.ModTime()) {
			return out[i].st.ModTime().Before(out[j].st.ModTime())
		}
		return out[i].path > out[j].path // app.log.2 before app.log.1
	})
	return out
}

func sameAsAny(st fs.FileInfo, others []fs.FileInfo) bool {
	for _, o := range others {
		if o != nil && os.SameFile(st, o) {
			return true
		}
	}
	return false
}

// known reports whether the tailer reads or has read the file otherwise.
// For a file of the last run the identity is not enough: compression frees
// its inode, which a later generation can take, so its content must also
// start as the saved position's did.
func (t *Tailer) known(path string, st fs.FileInfo) bool {
	dev, ino := devIno(st)
	key := Position{Dev: dev, Ino: ino}.Key()
	if t.open[key] != nil || t.finished[key] {
		return true
	}
	pos, resumed := t.opts.Resume[key]
	if !resumed || pos.FPLen == 0 {
		return resumed
	}
	same, _ := fileStartsWith(path, pos)
	return same
}

// contentRead reports whether a rotated file holds content the tailer has
// read or is reading elsewhere: a copy (copytruncate) of a file it follows
// or followed, known by the fingerprint of its first bytes.
func (t *Tailer) contentRead(path string) bool {
	r, err := openContent(path)
	if err != nil {
		return false
	}
	defer r.Close()
	head := make([]byte, FingerprintBytes)
	n, _ := io.ReadFull(r, head)
	head = head[:n]
	if n == 0 {
		return false
	}
	for _, f := range t.open {
		if len(f.fp) > 0 && bytes.HasPrefix(head, f.fp) {
			return true
		}
	}
	for _, fp := range t.readFPs {
		if fp.n <= n && hashHex(head[:fp.n]) == fp.hash {
			return true
		}
	}
	for _, pos := range t.opts.Resume {
		if pos.FPLen > 0 && pos.FPLen <= n && hashHex(head[:pos.FPLen]) == pos.FP {
			return true
		}
	}
	return false
}

// fingerprint is the hash of a file's first n bytes.
type fingerprint struct {
	n    int
	hash string
}

// maxReadFPs bounds the fingerprints kept of content read and gone.
const maxReadFPs = 64

// noteRead remembers the fingerprint of content that was read and has left
// its file (truncated, or finished after a rename), so copies of it are
// not taken for unread generations.
func (t *Tailer) noteRead(pos Position) {
	if pos.FPLen == 0 {
		return
	}
	if len(t.readFPs) == maxReadFPs {
		t.readFPs = t.readFPs[1:]
	}
	t.readFPs = append(t.readFPs, fingerprint{pos.FPLen, pos.FP})
}

func (t *Tailer) matchesGlob(path string) bool {
	for _, g := range t.opts.Globs {
		if ok, _ := filepath.Match(g, path); ok {
			return true
		}
	}
	return false
}

// readGenerations reads each newer generation of base whole, under its own
// identity, and marks it finished.
func (t *Tailer) readGenerations(ctx context.Context, dir, base string, after time.Time, emit func(Line) error, skip ...fs.FileInfo) error {
	for _, g := range t.newerGenerations(dir, base, after, skip...) {
		dev, ino := devIno(g.st)
		pos := Position{Path: g.path, Dev: dev, Ino: ino}
		t.logger.Info("reading a generation rotated while unread", "path", g.path)
		t.Stats.Generations.Add(1)
		if err := t.drain(ctx, g.path, pos, emit); err != nil {
			return err
		}
		t.finished[pos.Key()] = true
	}
	return nil
}

// drainCompressed reads a .gz from pos.Offset (uncompressed) to its end.
func (t *Tailer) drainCompressed(ctx context.Context, path string, pos Position, emit func(Line) error) error {
	r, err := openContent(path)
	if err != nil {
		t.openFailed(path, err)
		return nil
	}
	defer r.Close()
	if _, err := io.CopyN(io.Discard, r, pos.Offset); err != nil {
		t.logger.Warn("compressed file shorter than the position", "path", path, "offset", pos.Offset, "err", err)
		return nil
	}
	f := &file{pos: pos, readOff: pos.Offset}
	if pos.Offset == 0 {
		f.fp = []byte{}
	}
	for ctx.Err() == nil {
		n, err := r.Read(t.buf)
		if n > 0 {
			if err := t.lines(f, t.buf[:n], emit); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.readError(f, err)
			return nil
		}
	}
	return t.flushPartial(f, emit)
}
