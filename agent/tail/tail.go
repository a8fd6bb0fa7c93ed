// Package tail follows log files matched by globs through rotation and
// hands their lines, each with the position after it, to the caller.
//
// A file is known by device + inode plus a fingerprint: its first bytes (up
// to FingerprintBytes). The fingerprint tells a reused inode from the file
// that had it, and lets the tailer find the copy that copytruncate made.
//
// Rotation:
//   - rename + create: the open descriptor keeps reading the renamed file
//     to its end (the writer may add a last line after the rename), while the
//     new file at the path is read from its start.
//   - copytruncate and truncation: the file shrinks, or its first bytes
//     change. The rest of what was not read yet is in the copy; the tailer
//     looks in the file's directory for a file that starts with the same
//     fingerprint and is at least as long as the read position, reads it from
//     there to its end, then reads the truncated file from its start. The
//     copy's lines are reported under the original file's identity, since
//     they are its content. Lines written between the copy and the truncation
//     are lost by copytruncate itself; if no copy is found, the bytes between
//     the read position and the old end are counted as lost.
//
// Positions: each line comes with a Position; a caller that stores the
// position of the last line it delivered and passes the stored positions to
// New resumes exactly after it, including inside a renamed or copied file
// left unfinished when the process died.
package tail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// FingerprintBytes is how many leading bytes identify a file's content.
const FingerprintBytes = 256

// Position is where reading stands in one file: after Offset bytes of the
// file with identity Dev/Ino whose first FPLen bytes hash to FP.
type Position struct {
	Path   string `json:"path"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	FPLen  int    `json:"fp_len"`
	FP     string `json:"fp"` // FNV-1a 64 of the first FPLen bytes, hex
	Offset int64  `json:"offset"`
	// Time is when the position was reached (Unix ns): the newest of the
	// positions a run leaves says when it stopped reading, and only files
	// rotated after that can be generations nobody has read.
	Time int64 `json:"time,omitempty"`
}

// Key names the file a position belongs to.
func (p Position) Key() string {
	return strconv.FormatUint(p.Dev, 10) + ":" + strconv.FormatUint(p.Ino, 10)
}

// appendHead appends the fields a file's positions share, up to the offset.
func (p Position) appendHead(b []byte) []byte {
	b = append(b, `{"path":`...)
	b = appendJSONString(b, p.Path)
	b = append(b, `,"dev":`...)
	b = strconv.AppendUint(b, p.Dev, 10)
	b = append(b, `,"ino":`...)
	b = strconv.AppendUint(b, p.Ino, 10)
	b = append(b, `,"fp_len":`...)
	b = strconv.AppendInt(b, int64(p.FPLen), 10)
	b = append(b, `,"fp":`...)
	return appendJSONString(b, p.FP)
}

// CursorJSON appends one file's positions as encoding/json would marshal
// them, without reflection and reusing the encoding of what does not change
// from line to line (path, identity, fingerprint): a file source encodes
// one per line.
type CursorJSON struct {
	head    Position // Offset and Time zero
	encoded []byte
}

// Append appends p's JSON to b.
func (c *CursorJSON) Append(b []byte, p Position) []byte {
	head := p
	head.Offset, head.Time = 0, 0
	if c.encoded == nil || head != c.head {
		c.head, c.encoded = head, head.appendHead(nil)
	}
	return p.appendTail(append(b, c.encoded...))
}

// appendTail appends the offset and time, and closes the object.
func (p Position) appendTail(b []byte) []byte {
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, p.Offset, 10)
	if p.Time != 0 {
		b = append(b, `,"time":`...)
		b = strconv.AppendInt(b, p.Time, 10)
	}
	return append(b, '}')
}

// appendJSONString quotes plain ASCII directly and leaves anything else
// (escapes, UTF-8, invalid bytes) to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Line is one line of a file.
type Line struct {
	Text  []byte // without its newline; at most MaxLineBytes+1 bytes of it
	Total int    // the line's full length
	Pos   Position
	Key   string // Pos.Key(), computed once per file
}

// Options configure a Tailer. Zero values take the defaults shown.
type Options struct {
	Globs []string
	// Resume holds the stored position of each file (by Key). On a first
	// start (nothing stored yet), files that already exist are read from
	// their end unless FromBeginning; files that appear later, and files
	// unknown to Resume on later starts, are read from the start.
	Resume        map[string]Position
	FirstStart    bool
	FromBeginning bool
	PollInterval  time.Duration // how often globs and files are checked without a file event; 250ms
	MaxLineBytes  int           // longer lines are cut to this (Total says how long they were); 64 KiB
	// RenamedLinger: a file renamed or removed away from its path is read
	// until it has not grown for this long, then closed. 2s.
	RenamedLinger time.Duration
	// AfterPass, when set, runs on the tailer's goroutine after each pass
	// over the files, at least every PollInterval (for flush timeouts).
	AfterPass func(ctx context.Context) error
	// Opened, when set, is told where reading of a newly opened file starts,
	// so that a file with no new lines yet still has a position to store.
	Opened func(Position)
}

// Stats are cumulative counts. Generations counts rotated files read whole
// because they were rotated before anyone read them; LostFiles counts files
// of the last run that could not be found again.
type Stats struct {
	Files, Renamed, Truncated, CopiesFound, LostBytes, OpenErrors, ReadErrors atomic.Uint64
	Generations, LostFiles                                                    atomic.Uint64
}

// Tailer follows the files. Run it once.
type Tailer struct {
	opts   Options
	logger *slog.Logger
	Stats  Stats

	open     map[string]*file // by Key: every file being read
	byPath   map[string]*file // the file each matched path names now
	finished map[string]bool  // read to the end after rotation, still matched by a glob
	reported map[string]bool  // paths whose open error was logged
	readFPs  []fingerprint    // content read that has left its file (see noteRead)
	// Generations are looked for among files modified after the last run
	// stopped reading (resumedAt) or, while running, after it started.
	resumedAt, started time.Time
	buf                []byte
	initial            bool
	// atStart is, on a first start read from the end, the size of each
	// file the globs matched when New ran (by Key): reading starts there,
	// so a file created or written between New and the first look is read
	// whole, not from its end.
	atStart map[string]int64
}

type file struct {
	f         *os.File
	pos       Position // after the last whole line handed out
	fp        []byte   // the first bytes seen, up to FingerprintBytes
	readOff   int64    // bytes read; past pos.Offset by the partial line
	partial   []byte   // the unfinished last line (capped)
	partTotal int
	renamed   bool      // the path names another file now, or nothing
	grew      time.Time // last time reading got bytes
	key       string    // pos.Key(), once known
}

// lineKey is the file's position key; dev and ino never change for a file.
func (f *file) lineKey() string {
	if f.key == "" {
		f.key = f.pos.Key()
	}
	return f.key
}

// ErrNoGlobs is returned by New without any glob.
var ErrNoGlobs = errors.New("no file globs")

// New checks the globs.
func New(opts Options, logger *slog.Logger) (*Tailer, error) {
	if len(opts.Globs) == 0 {
		return nil, ErrNoGlobs
	}
	for _, g := range opts.Globs {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("file glob %q: %w", g, err)
		}
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 64 << 10
	}
	if opts.RenamedLinger <= 0 {
		opts.RenamedLinger = 2 * time.Second
	}
	t := &Tailer{opts: opts, logger: logger.With("component", "tail"), open: map[string]*file{},
		byPath: map[string]*file{}, finished: map[string]bool{}, reported: map[string]bool{},
		buf: make([]byte, 256<<10), initial: true, started: time.Now()}
	if opts.FirstStart && !opts.FromBeginning {
		t.atStart = sizesNow(opts.Globs)
	}
	for _, pos := range opts.Resume {
		if at := time.Unix(0, pos.Time); pos.Time > 0 && at.After(t.resumedAt) {
			t.resumedAt = at
		}
	}
	return t, nil
}

// Run reads until ctx ends, calling emit for every line in file order.
// Line.Text is reused after emit returns. emit may block (backpressure); an
// error from it stops Run. finished is called with the key of a file that
// was read to its end after rotation and that no glob matches any more, so
// its position need not be kept.
func (t *Tailer) Run(ctx context.Context, emit func(Line) error, finished func(key string)) error {
	wake := make(chan struct{}, 1)
	if w, err := fsnotify.NewWatcher(); err != nil {
		t.logger.Warn("file events unavailable; polling only", "err", err, "interval", t.opts.PollInterval)
	} else {
		defer w.Close()
		dirs := map[string]bool{}
		for _, g := range t.opts.Globs {
			dirs[filepath.Dir(g)] = true
		}
		for d := range dirs {
			if err := w.Add(d); err != nil {
				t.logger.Warn("cannot watch directory; polling it", "dir", d, "err", err)
			}
		}
		go func() {
			for {
				select {
				case _, ok := <-w.Events:
					if !ok {
						return
					}
				case err, ok := <-w.Errors:
					if !ok {
						return
					}
					t.logger.Warn("file events", "err", err)
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	defer func() {
		for _, f := range t.open {
			f.f.Close()
		}
	}()
	tick := time.NewTicker(t.opts.PollInterval)
	defer tick.Stop()
	for {
		if err := t.pass(ctx, emit, finished); err != nil {
			return err
		}
		if t.opts.AfterPass != nil && ctx.Err() == nil {
			if err := t.opts.AfterPass(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-tick.C:
		}
	}
}

// pass rescans the globs and reads every file to its current end.
func (t *Tailer) pass(ctx context.Context, emit func(Line) error, finished func(string)) error {
	if err := t.scan(ctx, emit, finished); err != nil {
		return err
	}
	keys := make([]string, 0, len(t.open))
	for k := range t.open {
		keys = append(keys, k)
	}
	// Rotated files first: their last lines come before the new file's.
	sort.Slice(keys, func(i, j int) bool {
		a, b := t.open[keys[i]], t.open[keys[j]]
		if a.renamed != b.renamed {
			return a.renamed
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		f := t.open[k]
		if err := t.read(ctx, f, emit); err != nil {
			return err
		}
		if f.renamed && time.Since(f.grew) > t.opts.RenamedLinger {
			if err := t.finishRenamed(ctx, k, f, emit); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// finishRenamed closes a renamed file read to its end, then reads the
// generations rotated after it that nobody opened (two rotations between
// two looks).
func (t *Tailer) finishRenamed(ctx context.Context, key string, f *file, emit func(Line) error) error {
	if err := t.flushPartial(f, emit); err != nil {
		return err
	}
	st, statErr := f.f.Stat()
	f.f.Close()
	delete(t.open, key)
	t.finished[key] = true
	t.noteRead(f.pos)
	t.logger.Info("finished rotated file", "path", f.pos.Path, "offset", f.pos.Offset)
	if statErr != nil {
		return nil
	}
	current, _ := os.Stat(f.pos.Path)
	return t.readGenerations(ctx, filepath.Dir(f.pos.Path), filepath.Base(f.pos.Path), laterOf(st.ModTime(), t.started), emit, st, current)
}

// scan matches the globs and opens what is new.
func (t *Tailer) scan(ctx context.Context, emit func(Line) error, finished func(string)) error {
	seen := map[string]bool{}    // paths
	seenKey := map[string]bool{} // identities
	for _, g := range t.opts.Globs {
		paths, _ := filepath.Glob(g) // the pattern was checked in New
		for _, p := range paths {
			if seen[p] {
				continue
			}
			seen[p] = true
			key, err := t.track(ctx, p, emit)
			if err != nil {
				return err
			}
			seenKey[key] = true
		}
	}
	for p, f := range t.byPath {
		if !seen[p] { // removed, or renamed to a name no glob matches
			f.renamed = true
			t.Stats.Renamed.Add(1)
			delete(t.byPath, p)
		}
	}
	if t.initial {
		t.initial = false
		// Files left unfinished by the last run that no glob matches now:
		// renamed by rotation while the agent was down. Finish them.
		for _, pos := range t.opts.Resume {
			if t.open[pos.Key()] != nil || seenKey[pos.Key()] {
				continue
			}
			if err := t.resumeElsewhere(ctx, pos, emit); err != nil {
				return err
			}
			t.finished[pos.Key()] = true
		}
	}
	for k := range t.finished {
		if !seenKey[k] {
			delete(t.finished, k)
			if finished != nil {
				finished(k)
			}
		}
	}
	return nil
}

// track looks at one matched path and returns the identity of its file.
func (t *Tailer) track(ctx context.Context, path string, emit func(Line) error) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) { // a symlink loop, a path it may not search
			t.openFailed(path, err)
		}
		return "", nil
	}
	if !st.Mode().IsRegular() {
		return "", nil
	}
	dev, ino := devIno(st)
	key := Position{Dev: dev, Ino: ino}.Key()
	if cur := t.byPath[path]; cur != nil {
		if cur.pos.Key() == key {
			return key, nil
		}
		cur.renamed = true // rename + create: finish the old one, start the new
		t.Stats.Renamed.Add(1)
		delete(t.byPath, path)
	}
	if t.open[key] != nil || t.finished[key] {
		return key, nil // the same file under another matched name (rotated)
	}
	f, err := t.openFile(path)
	if err != nil {
		return key, nil
	}
	start := int64(0)
	resume, known := t.opts.Resume[key]
	switch {
	case known && t.initial:
		ok, err := f.matches(resume)
		if err != nil {
			t.readError(f, err)
			f.f.Close()
			return key, nil
		}
		if ok && resume.Offset <= st.Size() {
			start = resume.Offset
			break
		}
		// Truncated (copytruncate) or a reused inode while the agent was
		// down: first finish the old content from its copy, if any.
		if err := t.resumeElsewhere(ctx, resume, emit); err != nil {
			f.f.Close()
			return key, err
		}
	case t.atStart != nil:
		// First start: only what was written after the agent started (a
		// file shorter now than then was truncated: all of it is new).
		if size, ok := t.atStart[key]; ok && size <= st.Size() {
			start = size
		}
		delete(t.atStart, key)
	}
	f.pos.Offset, f.readOff = start, start
	if start > 0 {
		if err := f.loadFingerprint(); err != nil {
			t.readError(f, err)
			f.f.Close()
			return key, nil
		}
	}
	t.open[key] = f
	t.byPath[path] = f
	t.Stats.Files.Add(1)
	t.logger.Info("following file", "path", path, "offset", start)
	if t.opts.Opened != nil {
		t.opts.Opened(f.pos)
	}
	return key, nil
}

// sizesNow is the size of each regular file the globs match, by Key.
func sizesNow(globs []string) map[string]int64 {
	sizes := map[string]int64{}
	for _, g := range globs {
		paths, _ := filepath.Glob(g) // the pattern was checked in New
		for _, p := range paths {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				dev, ino := devIno(st)
				sizes[Position{Dev: dev, Ino: ino}.Key()] = st.Size()
			}
		}
	}
	return sizes
}

func (t *Tailer) openFile(path string) (*file, error) {
	fh, err := os.Open(path)
	if err != nil {
		t.openFailed(path, err)
		return nil, err
	}
	delete(t.reported, path)
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	dev, ino := devIno(st)
	return &file{f: fh, pos: Position{Path: path, Dev: dev, Ino: ino}, grew: time.Now()}, nil
}

// resumeElsewhere finishes a file of the last run found under another name:
// the renamed file itself (same inode and fingerprint) or the copy made by
// copytruncate or compression (same fingerprint, long enough). Lines keep
// pos's identity. Then it reads the generations rotated after it.
func (t *Tailer) resumeElsewhere(ctx context.Context, pos Position, emit func(Line) error) error {
	path, err := t.findContent(pos, true)
	if err != nil {
		return err
	}
	if path == "" {
		if pos.Offset > 0 {
			t.Stats.LostFiles.Add(1)
			t.logger.Warn("file of the last run not found; its unread end, if any, is lost", "path", pos.Path, "offset", pos.Offset)
		}
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if err := t.drain(ctx, path, pos, emit); err != nil {
		return err
	}
	current, _ := os.Stat(pos.Path)
	return t.readGenerations(ctx, filepath.Dir(pos.Path), filepath.Base(pos.Path), laterOf(st.ModTime(), t.resumedAt), emit, st, current)
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// drain reads path from pos.Offset to its end, reporting lines under pos's
// identity, then closes it.
func (t *Tailer) drain(ctx context.Context, path string, pos Position, emit func(Line) error) error {
	if compressed(path) {
		t.logger.Info("finishing rotated file", "path", path, "of", pos.Path, "offset", pos.Offset)
		return t.drainCompressed(ctx, path, pos, emit)
	}
	f, err := t.openFile(path)
	if err != nil {
		return nil
	}
	defer f.f.Close()
	f.pos = pos
	f.readOff = pos.Offset
	t.logger.Info("finishing rotated file", "path", path, "of", pos.Path, "offset", pos.Offset)
	if err := f.loadFingerprint(); err != nil {
		t.readError(f, err)
		return nil
	}
	if err := t.read(ctx, f, emit); err != nil {
		return err
	}
	return t.flushPartial(f, emit)
}

// findContent looks in the directory of pos.Path for the file that holds
// pos's content: with sameInode, the file itself under a new name first;
// then a copy whose first bytes match and which reaches pos.Offset.
func (t *Tailer) findContent(pos Position, sameInode bool) (string, error) {
	dir := filepath.Dir(pos.Path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil
	}
	var copyPath string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if size := contentSize(p, st); size < pos.Offset || size < int64(pos.FPLen) {
			continue
		}
		dev, ino := devIno(st)
		if !sameInode && dev == pos.Dev && ino == pos.Ino {
			continue // the truncated file itself
		}
		if ok, _ := fileStartsWith(p, pos); !ok {
			continue
		}
		if dev == pos.Dev && ino == pos.Ino {
			return p, nil
		}
		if copyPath == "" {
			copyPath = p
		}
	}
	if copyPath != "" {
		t.Stats.CopiesFound.Add(1)
	}
	return copyPath, nil
}

// read hands out every whole line from f's read position to its end.
func (t *Tailer) read(ctx context.Context, f *file, emit func(Line) error) error {
	if err := t.checkTruncated(ctx, f, emit); err != nil {
		return err
	}
	for ctx.Err() == nil {
		n, err := f.f.ReadAt(t.buf, f.readOff)
		if n > 0 {
			f.grew = time.Now()
			if err := t.lines(f, t.buf[:n], emit); err != nil {
				return err
			}
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			t.readError(f, err)
			return nil
		}
	}
	return nil
}

// checkTruncated notices that f was truncated (copytruncate, or "> file"):
// it is shorter than what was read, or its first bytes changed. Then the
// copy, if any, is read from the old position, and f from its start.
func (t *Tailer) checkTruncated(ctx context.Context, f *file, emit func(Line) error) error {
	st, err := f.f.Stat()
	if err != nil {
		t.readError(f, err)
		return nil
	}
	truncated := st.Size() < f.readOff
	if !truncated && len(f.fp) > 0 {
		head := make([]byte, len(f.fp))
		n, _ := f.f.ReadAt(head, 0)
		truncated = !bytes.Equal(head[:n], f.fp)
	}
	if !truncated {
		return nil
	}
	t.Stats.Truncated.Add(1)
	old := f.pos
	t.noteRead(old)
	t.logger.Info("file truncated; reading it from the start", "path", old.Path, "offset", old.Offset)
	if path, _ := t.findContent(old, false); path != "" {
		if err := t.drain(ctx, path, old, emit); err != nil {
			return err
		}
		if cst, err := os.Stat(path); err == nil {
			if err := t.readGenerations(ctx, filepath.Dir(old.Path), filepath.Base(old.Path), laterOf(cst.ModTime(), t.started), emit, cst, st); err != nil {
				return err
			}
		}
	} else {
		// Without a copy, an unfinished last line is gone, and what the
		// file held past the read position cannot be known.
		t.Stats.LostBytes.Add(uint64(f.readOff - old.Offset))
	}
	f.pos.Offset, f.readOff, f.fp, f.partial, f.partTotal = 0, 0, nil, f.partial[:0], 0
	f.pos.FPLen, f.pos.FP = 0, ""
	return nil
}

// lines splits chunk (read at f.readOff) into lines and emits the whole
// ones. The fingerprint grows with the first bytes read.
func (t *Tailer) lines(f *file, chunk []byte, emit func(Line) error) error {
	if len(f.fp) < FingerprintBytes && int64(len(f.fp)) == f.readOff {
		n := min(len(chunk), FingerprintBytes-len(f.fp))
		f.fp = append(f.fp, chunk[:n]...)
		f.pos.FPLen, f.pos.FP = len(f.fp), hashHex(f.fp)
	}
	f.readOff += int64(len(chunk))
	f.pos.Time = time.Now().UnixNano()
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		piece := chunk
		if i >= 0 {
			piece = chunk[:i]
		}
		if room := t.opts.MaxLineBytes + 1 - len(f.partial); room > 0 {
			f.partial = append(f.partial, piece[:min(len(piece), room)]...)
		}
		f.partTotal += len(piece)
		if i < 0 {
			return nil
		}
		f.pos.Offset += int64(f.partTotal + 1)
		chunk = chunk[i+1:]
		if err := emit(Line{Text: f.partial, Total: f.partTotal, Pos: f.pos, Key: f.lineKey()}); err != nil {
			return err
		}
		f.partial, f.partTotal = f.partial[:0], 0
	}
	return nil
}

// flushPartial hands out a last line that never got its newline, once its
// file is finished.
func (t *Tailer) flushPartial(f *file, emit func(Line) error) error {
	if f.partTotal == 0 {
		return nil
	}
	f.pos.Offset += int64(f.partTotal)
	err := emit(Line{Text: f.partial, Total: f.partTotal, Pos: f.pos, Key: f.lineKey()})
	f.partial, f.partTotal = f.partial[:0], 0
	return err
}

// openFailed counts every failed attempt and logs the first for a path.
func (t *Tailer) openFailed(path string, err error) {
	t.Stats.OpenErrors.Add(1)
	if !t.reported[path] {
		t.reported[path] = true
		t.logger.Warn("cannot open file; skipping it until it can be opened", "path", path, "err", err)
	}
}

func (t *Tailer) readError(f *file, err error) {
	t.Stats.ReadErrors.Add(1)
	t.logger.Warn("read failed", "path", f.pos.Path, "err", err)
}

// matches reports whether f still holds the content pos was taken from.
func (f *file) matches(pos Position) (bool, error) {
	if f.pos.Dev != pos.Dev || f.pos.Ino != pos.Ino {
		return false, nil
	}
	return fileStartsWith(f.pos.Path, pos)
}

// loadFingerprint reads the first bytes of a file opened mid-way, so its
// identity is known from the first line handed out.
func (f *file) loadFingerprint() error {
	head := make([]byte, min(FingerprintBytes, f.readOff))
	got, err := f.f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return err
	}
	f.fp = head[:got]
	f.pos.FPLen, f.pos.FP = len(f.fp), hashHex(f.fp)
	return nil
}

func fileStartsWith(path string, pos Position) (bool, error) {
	fh, err := openContent(path)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	head := make([]byte, pos.FPLen)
	if _, err := io.ReadFull(fh, head); err != nil {
		return false, nil
	}
	return hashHex(head) == pos.FP, nil
}

func hashHex(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}

func devIno(st fs.FileInfo) (uint64, uint64) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Dev), s.Ino
	}
	return 0, 0
}
