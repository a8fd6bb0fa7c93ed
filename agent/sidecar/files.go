package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/positions"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/tail"
)

// fileSource is one source's files: its tailer and the multiline events
// being joined, by file.
type fileSource struct {
	a       *Agent
	src     *Source
	tailer  *tail.Tailer
	parser  *parse.Parser
	pending map[string]*joined
}

func (fs *fileSource) Close() error { return nil }

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
func (a *Agent) openFiles(files []*fileSource) error {
	if a.opts.Positions == "" {
		return errors.New("following files needs a place to keep read positions: give --spool DIR (exactly once across restarts) or --positions FILE")
	}
	store, exists, err := positions.Open(a.opts.Positions, a.logger)
	if err != nil {
		return err
	}
	a.positions = store
	resume := store.Acked()
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
	perSource := make([]map[string]tail.Position, len(files))
	for i := range perSource {
		perSource[i] = map[string]tail.Position{}
	}
	for k, p := range resume {
		for i, fs := range files {
			if matchesAny(fs.src.Files, p.Path) {
				perSource[i][k] = p
				break
			}
		}
	}
	firstStart := !exists && len(cursors) == 0
	for i, fs := range files {
		fs.parser = parse.New(parse.Options{MaxLineBytes: a.opts.MaxLineBytes, Force: fs.src.Parser})
		fs.pending = map[string]*joined{}
		fs.tailer, err = tail.New(tail.Options{
			Globs: fs.src.Files, Resume: perSource[i], FirstStart: firstStart, FromBeginning: a.opts.FromBeginning,
			PollInterval: a.opts.PollInterval, MaxLineBytes: a.opts.MaxLineBytes,
			AfterPass: func(ctx context.Context) error {
				fs.flushJoined(ctx)
				if err := store.SaveFirst(); err != nil { // retried every second
					a.logger.Warn("positions not saved; will retry", "err", err)
				}
				return nil
			},
			Opened: store.Opened,
		}, a.baseLogger.With("service", fs.src.Service))
		if err != nil {
			return fmt.Errorf("source %q: %w", fs.src.Service, err)
		}
		a.sources = append(a.sources, fs)
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

// Run follows the source's files until ctx ends. Lines of a multiline
// event still being joined are not published at the end: their file
// position was not advanced, so the next start reads them again.
func (fs *fileSource) Run(ctx context.Context) error {
	a := fs.a
	err := fs.tailer.Run(ctx, func(l tail.Line) error {
		if fs.src.Multiline == nil {
			if err := fs.publish(ctx, l.Text, l.Total, l.Pos); err != nil && ctx.Err() != nil {
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
			if err := fs.publish(ctx, j.text, j.total, j.pos); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		fs.pending[key] = &joined{text: append([]byte(nil), l.Text...), total: l.Total, pos: l.Pos, at: time.Now()}
		return nil
	}, func(key string) {
		a.pub.ForgetCursor(key)
		a.positions.Forget(key)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// flushJoined publishes joined events whose next line is overdue.
func (fs *fileSource) flushJoined(ctx context.Context) {
	for key, j := range fs.pending {
		if time.Since(j.at) >= fs.a.opts.MultilineTimeout {
			fs.publish(ctx, j.text, j.total, j.pos)
			delete(fs.pending, key)
		}
	}
}

// publish sends one line (or joined event) of a file, with the position
// after it as the spool cursor and for the positions file once acknowledged.
func (fs *fileSource) publish(ctx context.Context, text []byte, total int, pos tail.Position) error {
	cursor, _ := json.Marshal(pos)
	return fs.a.publishLine(ctx, fs.src, fs.parser, text, total, publisher.Mark{Key: pos.Key(), Cursor: cursor, Acked: fs.a.positions.Track(pos)})
}
