package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/tail"
	"github.com/zlog/zlog/schema/atomicfile"
)

// fileSource is one source's files: its tailer and the multiline events
// being joined, by file.
type fileSource struct {
	src     *Source
	tailer  *tail.Tailer
	parser  *parse.Parser
	pending map[string]*joined
}

// joined is a multiline event waiting for its next line.
type joined struct {
	text  []byte
	total int
	pos   tail.Position
	at    time.Time
}

// openFiles loads where each file was left and makes the tailers. A file's
// resume point is the cursor the spool holds for it (the position after the
// last event spooled, acknowledged or not: the spool resends the rest), or
// else the acknowledged position from the positions file.
func (a *Agent) openFiles() error {
	if a.opts.Positions == "" {
		return errors.New("following files needs a place to keep read positions: give --spool DIR (exactly once across restarts) or --positions FILE")
	}
	acked, exists, err := loadPositions(a.opts.Positions)
	if err != nil {
		return err
	}
	a.acked = &positions{path: a.opts.Positions, acked: acked, inflight: map[string][]*inflight{}, logger: a.logger, dirty: !exists}
	resume := make(map[string]tail.Position, len(acked))
	for k, p := range acked {
		resume[k] = p
	}
	cursors := a.pub.Cursors()
	for k, c := range cursors {
		var p tail.Position
		if err := json.Unmarshal(c, &p); err != nil {
			a.logger.Warn("spool: unreadable file cursor ignored", "key", k, "err", err)
			continue
		}
		resume[k] = p
	}
	// Each stored position goes to the first source whose globs match its
	// file, so a tailer only ever resumes its own files.
	perSource := make([]map[string]tail.Position, len(a.files))
	for i := range perSource {
		perSource[i] = map[string]tail.Position{}
	}
	for k, p := range resume {
		for i, fs := range a.files {
			if matchesAny(fs.src.Files, p.Path) {
				perSource[i][k] = p
				break
			}
		}
	}
	firstStart := !exists && len(cursors) == 0
	for i, fs := range a.files {
		fs.parser = parse.New(parse.Options{MaxLineBytes: a.opts.MaxLineBytes, Force: fs.src.Parser})
		fs.pending = map[string]*joined{}
		fs.tailer, err = tail.New(tail.Options{
			Globs: fs.src.Files, Resume: perSource[i], FirstStart: firstStart, FromBeginning: a.opts.FromBeginning,
			PollInterval: a.opts.PollInterval, MaxLineBytes: a.opts.MaxLineBytes,
			AfterPass: func(ctx context.Context) error {
				a.flushJoined(ctx, fs)
				if err := a.acked.saveFirst(); err != nil { // retried every second
					a.logger.Warn("positions not saved; will retry", "err", err)
				}
				return nil
			},
			Opened: a.acked.opened,
		}, a.baseLogger.With("service", fs.src.Service))
		if err != nil {
			return fmt.Errorf("source %q: %w", fs.src.Service, err)
		}
	}
	return nil
}

func matchesAny(globs []string, path string) bool {
	for _, g := range globs {
		if ok, _ := filepath.Match(g, path); ok {
			return true
		}
	}
	return false
}

// runFiles follows one source's files until ctx ends. Lines of a multiline
// event still being joined are not published at the end: their file
// position was not advanced, so the next start reads them again.
func (a *Agent) runFiles(ctx context.Context, fs *fileSource) error {
	err := fs.tailer.Run(ctx, func(l tail.Line) error {
		if fs.src.Multiline == nil {
			if err := a.publishFileLine(ctx, fs, l.Text, l.Total, l.Pos); err != nil && ctx.Err() != nil {
				return ctx.Err() // stopping: the rest is read again next time
			}
			return nil
		}
		key := l.Pos.Key()
		j := fs.pending[key]
		if j != nil && !fs.src.Multiline(l.Text) {
			j.text = append(append(j.text, '\n'), l.Text...)
			j.total += 1 + l.Total
			j.pos, j.at = l.Pos, time.Now()
			return nil
		}
		if j != nil {
			if err := a.publishFileLine(ctx, fs, j.text, j.total, j.pos); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		fs.pending[key] = &joined{text: append([]byte(nil), l.Text...), total: l.Total, pos: l.Pos, at: time.Now()}
		return nil
	}, func(key string) {
		a.pub.ForgetCursor(key)
		a.acked.forget(key)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// flushJoined publishes joined events whose next line is overdue.
func (a *Agent) flushJoined(ctx context.Context, fs *fileSource) {
	for key, j := range fs.pending {
		if time.Since(j.at) >= a.opts.MultilineTimeout {
			a.publishFileLine(ctx, fs, j.text, j.total, j.pos)
			delete(fs.pending, key)
		}
	}
}

func (a *Agent) publishFileLine(ctx context.Context, fs *fileSource, text []byte, total int, pos tail.Position) error {
	cursor, _ := json.Marshal(pos)
	return a.publishLine(ctx, fs.src, fs.parser, text, total, publisher.Mark{Key: pos.Key(), Cursor: cursor, Acked: a.acked.track(pos)})
}

// positions keeps the acknowledged read position of every file and writes
// them to a file (atomically, fsynced) at most once a second. A position
// advances only when the collector has acknowledged every event of that
// file up to it.
type positions struct {
	path   string
	logger interface{ Warn(string, ...any) }

	mu       sync.Mutex
	acked    map[string]tail.Position
	inflight map[string][]*inflight // by file, in publish order
	dirty    bool
	saved    bool
}

// opened records where a new file's reading starts, unless events of it
// are in flight.
func (p *positions) opened(pos tail.Position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.inflight[pos.Key()]) == 0 && p.acked[pos.Key()] != pos {
		p.acked[pos.Key()] = pos
		p.dirty = true
	}
}

// saveFirst saves once, right after the first pass over the files, so the
// starting positions are on disk before anything else happens.
func (p *positions) saveFirst() error {
	p.mu.Lock()
	saved := p.saved
	p.saved = true
	p.mu.Unlock()
	if saved {
		return nil
	}
	return p.save()
}

type inflight struct {
	pos  tail.Position
	done bool
}

type positionsFile struct {
	Version int                      `json:"version"`
	Files   map[string]tail.Position `json:"files"`
}

func loadPositions(path string) (map[string]tail.Position, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]tail.Position{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read positions %q: %w", path, err)
	}
	var pf positionsFile
	if err := json.Unmarshal(b, &pf); err != nil || pf.Version != 1 {
		// Written atomically, so only another program can have made it bad.
		return nil, false, fmt.Errorf("positions file %q is not a zlog-agent positions file (version 1): %v; move it away to start over", path, err)
	}
	if pf.Files == nil {
		pf.Files = map[string]tail.Position{}
	}
	return pf.Files, true, nil
}

// track registers an event about to be published and returns its ack
// callback.
func (p *positions) track(pos tail.Position) func() {
	key := pos.Key()
	e := &inflight{pos: pos}
	p.mu.Lock()
	p.inflight[key] = append(p.inflight[key], e)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		e.done = true
		q := p.inflight[key]
		i := 0
		for i < len(q) && q[i].done {
			p.acked[key] = q[i].pos
			p.dirty = true
			i++
		}
		if i == len(q) {
			delete(p.inflight, key)
		} else {
			p.inflight[key] = q[i:]
		}
	}
}

func (p *positions) forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.acked, key)
	delete(p.inflight, key)
	p.dirty = true
}

func (p *positions) run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := p.save(); err != nil {
				p.logger.Warn("positions not saved; will retry", "path", p.path, "err", err)
			}
		}
	}
}

func (p *positions) save() error {
	p.mu.Lock()
	if !p.dirty {
		p.mu.Unlock()
		return nil
	}
	b, err := json.MarshalIndent(positionsFile{Version: 1, Files: p.acked}, "", "  ")
	p.dirty = false
	p.mu.Unlock()
	if err == nil {
		err = atomicfile.Write(p.path, append(b, '\n'), 0o640)
	}
	if err != nil {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
		return fmt.Errorf("save positions %q: %w", p.path, err)
	}
	return nil
}
