package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/positions"
	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/agent/tail"
	"github.com/zlog/zlog/schema"
)

// fileSource is one source's files: its tailer, and by file the joiner of
// container records and multiline events and the file's labels.
type fileSource struct {
	a       *Agent
	src     *Source
	tailer  *tail.Tailer
	parser  *parse.Parser
	joiners map[string]*parse.Joiner
	labels  map[string]schema.Labels // by path
	batch   batch
	cursors map[string]*tail.CursorJSON // by file key
}

func (fs *fileSource) Close() error { return nil }

// openFiles loads where each file was left and makes the tailers. A file's
// resume point is the cursor the spool holds for it (the position after the
// last event spooled, acknowledged or not: the spool resends the rest), or
// else the acknowledged position from the positions file.
func (a *Agent) openFiles(files []*fileSource) error {
	store := a.positions
	resume := store.Files()
	cursors := a.pub.Cursors()
	for k, c := range cursors {
		if strings.HasPrefix(k, journalKeyPrefix) {
			continue
		}
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
	firstStart := !a.positionsExisted && len(cursors) == 0
	var err error
	for i, fs := range files {
		fs.parser = fs.src.newParser(a.opts.MaxLineBytes)
		fs.joiners = map[string]*parse.Joiner{}
		fs.cursors = map[string]*tail.CursorJSON{}
		fs.labels = map[string]schema.Labels{}
		fs.batch = batch{a: a, track: store.Track}
		fs.tailer, err = tail.New(tail.Options{
			Globs: fs.src.Files, Resume: perSource[i], FirstStart: firstStart, FromBeginning: a.opts.FromBeginning,
			PollInterval: a.opts.PollInterval, MaxLineBytes: a.opts.MaxLineBytes,
			AfterPass: func(ctx context.Context) error {
				fs.flushJoined(ctx)
				// Errors are counted and logged per event.
				fs.batch.flush(ctx)
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

// openPositions opens the positions file file and journal sources keep
// their acknowledged cursors in.
func (a *Agent) openPositions() error {
	if a.opts.Positions == "" {
		return errors.New("following files or the journal needs a place to keep read positions: give --spool DIR (exactly once across restarts) or --positions FILE")
	}
	store, exists, err := positions.Open(a.opts.Positions, a.logger)
	if err != nil {
		return err
	}
	a.positions, a.positionsExisted = store, exists
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

// Run follows the source's files until ctx ends. Lines of an event still
// being joined are not published at the end: their file position was not
// advanced, so the next start reads them again.
func (fs *fileSource) Run(ctx context.Context) error {
	emit := func(l parse.Logical) error { return fs.publish(ctx, l) }
	err := fs.tailer.Run(ctx, func(l tail.Line) error {
		err := fs.joiner(l.Key).Add(l.Text, l.Total, fileMark{pos: l.Pos, key: l.Key}, time.Now(), emit)
		if err != nil && ctx.Err() != nil {
			return ctx.Err() // stopping: the rest is read again next time
		}
		return nil
	}, func(key string) {
		if j := fs.joiners[key]; j != nil {
			j.Flush(emit) // the file is gone: what waits is complete
			delete(fs.joiners, key)
		}
		delete(fs.cursors, key)
		fs.batch.flush(ctx) // before the cursor is forgotten
		fs.a.pub.ForgetCursor(key)
		fs.a.positions.Forget(key)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (fs *fileSource) cursor(key string) *tail.CursorJSON {
	c := fs.cursors[key]
	if c == nil {
		c = &tail.CursorJSON{}
		fs.cursors[key] = c
	}
	return c
}

func (fs *fileSource) joiner(key string) *parse.Joiner {
	j := fs.joiners[key]
	if j == nil {
		j = fs.src.newJoiner(fs.a.opts.MaxLineBytes)
		fs.joiners[key] = j
	}
	return j
}

// flushJoined publishes joined events whose next line is overdue.
func (fs *fileSource) flushJoined(ctx context.Context) {
	for _, j := range fs.joiners {
		if since, waiting := j.Waiting(); waiting && time.Since(since) >= fs.a.opts.MultilineTimeout {
			j.Flush(func(l parse.Logical) error { return fs.publish(ctx, l) })
		}
	}
}

// fileMark is where a line ends: the joiner hands it back with the
// logical event the line completes.
type fileMark struct {
	pos tail.Position
	key string
}

// publish sends one line (or joined event) of a file, with the position
// after it as the spool cursor and for the positions file once acknowledged.
// It is gathered in the source's batch.
func (fs *fileSource) publish(ctx context.Context, l parse.Logical) error {
	m := l.Mark.(fileMark)
	ev := fs.a.logicalEvent(fs.src, fs.parser, l, fs.fileLabels(m.pos.Path))
	return fs.batch.add(ctx, ev, publisher.Mark{Key: m.key, Cursor: fs.cursor(m.key).Append(make([]byte, 0, 160), m.pos)})
}

// fileLabels are the source's labels, with a Kubernetes container log's
// pod, namespace and container from its path.
func (fs *fileSource) fileLabels(path string) schema.Labels {
	if !fs.src.Format.IsContainer() {
		return fs.src.Labels
	}
	l, ok := fs.labels[path]
	if !ok {
		l = mergeLabels(fs.src.Labels, parse.KubernetesLabels(path))
		fs.labels[path] = l
	}
	return l
}
