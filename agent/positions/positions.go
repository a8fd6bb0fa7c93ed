// Package positions keeps, for every source the agent reads with a cursor
// (each followed file, the journal), the cursor up to which the collector
// has acknowledged its events, and writes them to a file (atomic write,
// fsync, rename, directory fsync) at most once a second and once more when
// it is closed. A cursor is the source's own JSON (a tail.Position, a
// journal cursor string), by key.
//
// A cursor advances only when every earlier event of its source has been
// acknowledged, so after a crash the agent never skips an event it had not
// delivered. With a spool, the spool's cursors say where reading resumes
// and this file is the fallback; without one it is the only record.
package positions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/zlog/zlog/agent/tail"
	"github.com/zlog/zlog/schema/atomicfile"
)

// fileFormat is what the positions file holds. "files" keeps its name
// from when files were the only sources; version 1 readers decode a
// file's entry as a tail.Position and skip the others.
type fileFormat struct {
	Version int                        `json:"version"`
	Files   map[string]json.RawMessage `json:"files"`
}

// Store is safe for concurrent use: acknowledgements arrive on the
// publisher's goroutine, positions of newly opened files on the tailers'.
type Store struct {
	path   string
	logger *slog.Logger

	mu       sync.Mutex
	acked    map[string]json.RawMessage
	inflight map[string][]*inflight // by key, in publish order
	dirty    bool
	saved    bool

	stop chan struct{}
	done chan struct{}
	err  error // of the final save
}

type inflight struct {
	cursor json.RawMessage
	done   bool
}

// Open reads path; existed is false when there was none yet (a first start).
func Open(path string, logger *slog.Logger) (s *Store, existed bool, err error) {
	acked, existed, err := load(path)
	if err != nil {
		return nil, false, err
	}
	return &Store{path: path, logger: logger, acked: acked, inflight: map[string][]*inflight{}, dirty: !existed}, existed, nil
}

func load(path string) (map[string]json.RawMessage, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]json.RawMessage{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read positions %q: %w", path, err)
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		// Written atomically, so only another program can have made it bad.
		return nil, false, fmt.Errorf("positions file %q is not a zlog-agent positions file (version 1): %v; move it away to start over", path, err)
	}
	if f.Files == nil {
		f.Files = map[string]json.RawMessage{}
	}
	return f.Files, true, nil
}

// Acked is a copy of the acknowledged cursors, by key.
func (s *Store) Acked() map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.acked)
}

// Files is Acked's entries that are file positions.
func (s *Store) Files() map[string]tail.Position {
	out := map[string]tail.Position{}
	for k, raw := range s.Acked() {
		var p tail.Position
		if json.Unmarshal(raw, &p) == nil && p.Path != "" {
			out[k] = p
		}
	}
	return out
}

// Opened records where a newly opened file's reading starts, unless events
// of it are in flight.
func (s *Store) Opened(pos tail.Position) {
	raw, _ := json.Marshal(pos)
	s.mu.Lock()
	defer s.mu.Unlock()
	if key := pos.Key(); len(s.inflight[key]) == 0 && !bytes.Equal(s.acked[key], raw) {
		s.acked[key] = raw
		s.dirty = true
	}
}

// Track registers an event about to be published after which its source's
// cursor is cursor, and returns the callback for its acknowledgement.
func (s *Store) Track(key string, cursor json.RawMessage) func() {
	e := &inflight{cursor: cursor}
	s.mu.Lock()
	s.inflight[key] = append(s.inflight[key], e)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		e.done = true
		q := s.inflight[key]
		i := 0
		for i < len(q) && q[i].done {
			s.acked[key] = q[i].cursor
			s.dirty = true
			i++
		}
		if i == len(q) {
			delete(s.inflight, key)
		} else {
			s.inflight[key] = q[i:]
		}
	}
}

// Forget drops a source (a file) that is finished and gone.
func (s *Store) Forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.acked, key)
	delete(s.inflight, key)
	s.dirty = true
}

// SaveFirst saves once, right after the first pass over the files, so the
// starting positions are on disk before anything else happens.
func (s *Store) SaveFirst() error {
	s.mu.Lock()
	saved := s.saved
	s.saved = true
	s.mu.Unlock()
	if saved {
		return nil
	}
	return s.save()
}

// Start begins saving every second. Close stops it and saves a last time.
func (s *Store) Start() {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.run()
}

func (s *Store) run() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.err = s.save() // the exit path saves: acks that came last are kept
			return
		case <-t.C:
			if err := s.save(); err != nil { // a full disk, say: retried
				s.logger.Warn("positions not saved; will retry", "path", s.path, "err", err)
			}
		}
	}
}

// Close stops the saver and returns the error of its last save. Call it
// after the publisher has closed, so the last acknowledgements are in.
func (s *Store) Close() error {
	if s.stop == nil {
		return s.save()
	}
	close(s.stop)
	<-s.done
	return s.err
}

func (s *Store) save() error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	b, err := json.MarshalIndent(fileFormat{Version: 1, Files: s.acked}, "", "  ")
	s.dirty = false
	s.mu.Unlock()
	if err == nil {
		err = atomicfile.Write(s.path, append(b, '\n'), 0o640)
	}
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("save positions %q: %w", s.path, err)
	}
	return nil
}
