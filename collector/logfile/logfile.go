// Package logfile writes events as human-readable lines into one rotating
// file per service, <dir>/<service>.log, rotated by lumberjack.
//
// The sink appends to each file through its own O_APPEND descriptor and
// asks lumberjack to rotate when a write would take the file over its size:
// lumberjack renames the full file to <service>-<time>.log, creates a new
// one, and prunes and compresses the service's backups. It does not write
// through lumberjack: every lumberjack.Logger starts a goroutine that lives
// as long as the process and scans the whole directory each time it opens
// a file, so one Logger per service, reopened as files are closed to bound
// the open descriptors, leaked a goroutine per reopen and made 10,000
// services quadratic. Here a service gets a Logger only when its file first
// rotates, and opening a file costs one open(2).
//
// Lines of a batch are written with few large Writes, each holding whole
// lines only, and a rotation happens between two Writes, so a line is never
// split across two files; `tail -F` follows the rename.
package logfile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/zlog/zlog/schema/atomicfile"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/zlog/zlog/schema"
)

// Options configure rotation; they map onto lumberjack's fields.
type Options struct {
	Dir        string
	MaxSizeMB  int  // rotate when a file would exceed this; 100
	MaxBackups int  // rotated files kept per service; 10 (0 keeps all)
	MaxAgeDays int  // delete rotated files older than this; 0 keeps them
	Compress   bool // gzip rotated files
	MaxOpen    int  // open files at once; least recently used are closed; 256
}

const maxChunk = 256 << 10 // bytes per Write; must stay below MaxSizeMB

// Sink is not safe for concurrent use; the collector calls it from one goroutine.
type Sink struct {
	opts     Options
	logger   *slog.Logger
	files    map[string]*openFile          // open descriptors, at most MaxOpen
	rotators map[string]*lumberjack.Logger // services whose file has rotated
	lines    prometheus.Counter
	bytes    prometheus.Counter
	errs     prometheus.Counter
	reopened prometheus.Counter
	// bufs are the lines of a Write per service, kept for the next: lines
	// grown from nothing each batch were a twentieth of the collector's
	// CPU (measured). Dropped when they are many (see keptBufs).
	bufs map[string][]byte
	dir  dirState
	gen  uint64 // the directory's generation for this batch
}

// keptBufs bounds how many services' line buffers a Sink keeps between
// writes.
const keptBufs = 256

type openFile struct {
	f        *os.File
	path     string
	size     int64
	lastUsed time.Time
	gen      uint64 // the directory's generation when last found at path
}

// New creates the directory; files are opened on first use.
func New(opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	if opts.MaxSizeMB <= 0 {
		opts.MaxSizeMB = 100
	}
	if opts.MaxOpen <= 0 {
		opts.MaxOpen = 256
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create log directory %q: %w", opts.Dir, err)
	}
	s := &Sink{
		opts: opts, logger: logger.With("component", "logfile"),
		files: make(map[string]*openFile), rotators: make(map[string]*lumberjack.Logger),
		lines: prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_collector_file_lines_total", Help: "Lines written to service log files."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_collector_file_bytes_total", Help: "Bytes written to service log files."}),
		errs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_collector_file_write_errors_total", Help: "Failed writes to service log files (retried)."}),
		reopened: prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_collector_file_reopened_total",
			Help: "Log files found removed or replaced under the collector (e.g. the data directory deleted) and created again."}),
	}
	if reg != nil {
		reg.MustRegister(s.lines, s.bytes, s.errs, s.reopened)
	}
	return s, nil
}

// Path is the live file of a service.
func Path(dir, service string) string { return filepath.Join(dir, service+".log") }

// Write appends one line per event. On error nothing is known about which
// lines landed; the caller retries the batch (files are at-least-once).
func (s *Sink) Write(_ context.Context, batch []schema.Event) error {
	if s.bufs == nil || len(s.bufs) > keptBufs {
		s.bufs = make(map[string][]byte)
	}
	bufs := s.bufs
	s.gen = s.dir.generation(s.opts.Dir)
	for svc, b := range bufs {
		bufs[svc] = b[:0]
	}
	for i := range batch {
		ev := &batch[i]
		bufs[ev.Service] = schema.AppendLine(bufs[ev.Service], ev)
	}
	services := make([]string, 0, len(bufs))
	for svc, b := range bufs {
		if len(b) > 0 {
			services = append(services, svc)
		}
	}
	sort.Strings(services)
	for _, svc := range services {
		if err := s.writeService(svc, bufs[svc]); err != nil {
			s.errs.Inc()
			return err
		}
	}
	s.lines.Add(float64(len(batch)))
	return nil
}

func (s *Sink) writeService(service string, data []byte) error {
	f, err := s.file(service)
	if err != nil {
		return err
	}
	max := int64(s.opts.MaxSizeMB) << 20
	for len(data) > 0 {
		n := len(data)
		if n > maxChunk {
			n = lastLineEnd(data[:maxChunk])
			if n == 0 { // one line longer than a chunk: write it whole
				n = firstLineEnd(data)
			}
		}
		if f.size > 0 && f.size+int64(n) > max {
			if f, err = s.rotate(service, f); err != nil {
				return err
			}
		}
		if _, err := f.f.Write(data[:n]); err != nil {
			// A disk that filled mid-write leaves part of a line: cut it
			// off, so the retry does not append after a torn line.
			f.f.Truncate(f.size)
			return fmt.Errorf("write %q: %w", f.path, err)
		}
		f.size += int64(n)
		s.bytes.Add(float64(n))
		data = data[n:]
	}
	return nil
}

// rotate has lumberjack move the full file aside and start a new one, and
// reopens it for appending.
func (s *Sink) rotate(service string, f *openFile) (*openFile, error) {
	r := s.rotators[service]
	if r == nil {
		r = &lumberjack.Logger{Filename: f.path, MaxSize: s.opts.MaxSizeMB, MaxBackups: s.opts.MaxBackups,
			MaxAge: s.opts.MaxAgeDays, Compress: s.opts.Compress}
		s.rotators[service] = r
	}
	s.closeFile(service)
	err := r.Rotate()
	if cerr := r.Close(); err == nil { // the sink writes the new file itself
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("rotate %q: %w", f.path, err)
	}
	return s.file(service)
}

func lastLineEnd(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i + 1
		}
	}
	return 0
}

func firstLineEnd(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i + 1
		}
	}
	return len(b)
}

// file returns the service's open file, opening it if needed. A file that
// is no longer at its path (deleted, or the directory removed) is closed
// and created again, so lines do not go on into a file nobody can read.
func (s *Sink) file(service string) (*openFile, error) {
	now := time.Now()
	if f, ok := s.files[service]; ok {
		if f.gen == s.gen || f.stillThere() {
			f.lastUsed, f.gen = now, s.gen
			return f, nil
		}
		s.logger.Warn("log file removed or replaced under the collector; creating it again", "file", f.path)
		s.reopened.Inc()
		s.closeFile(service)
	}
	if len(s.files) >= s.opts.MaxOpen {
		s.closeLeastRecent()
	}
	path := Path(s.opts.Dir, service)
	if err := os.MkdirAll(s.opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create log directory %q: %w", s.opts.Dir, err)
	}
	// 0640: group-readable for log shippers and nobody else; lumberjack
	// gives rotated and new files the mode of the old one.
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", path, err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("open %q: %w", path, err)
	}
	f := &openFile{f: fh, path: path, size: st.Size(), lastUsed: now, gen: s.gen}
	s.files[service] = f
	return f, nil
}

// stillThere reports whether the path names the file the descriptor holds.
func (f *openFile) stillThere() bool { return atomicfile.StillAt(f.f, f.path) }

func (s *Sink) closeFile(service string) {
	if f, ok := s.files[service]; ok {
		if err := f.f.Close(); err != nil {
			s.logger.Warn("close log file", "file", f.path, "err", err)
		}
		delete(s.files, service)
	}
}

func (s *Sink) closeLeastRecent() {
	var oldest string
	var at time.Time
	for svc, f := range s.files {
		if oldest == "" || f.lastUsed.Before(at) {
			oldest, at = svc, f.lastUsed
		}
	}
	s.closeFile(oldest)
}

// Close closes every open file. Writes go straight to the files, so there
// is nothing buffered to flush.
func (s *Sink) Close() error {
	var errs []error
	for svc, f := range s.files {
		if err := f.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close log file of %q: %w", svc, err))
		}
	}
	s.files = map[string]*openFile{}
	return errors.Join(errs...)
}
