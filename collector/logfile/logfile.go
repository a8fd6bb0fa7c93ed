// Package logfile writes events as human-readable lines into one rotating
// file per service, <dir>/<service>.log, using lumberjack.
//
// Lines of a batch are written with few large Writes, each holding whole
// lines only. lumberjack rotates before a Write that would overflow the
// file, so a line is never split across two files; rotation renames the file
// and creates a new one, which `tail -F` follows.
package logfile

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

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
	opts   Options
	logger *slog.Logger
	files  map[string]*openFile
	bufs   map[string][]byte
	lines  prometheus.Counter
	bytes  prometheus.Counter
	errs   prometheus.Counter
}

type openFile struct {
	w        *lumberjack.Logger
	lastUsed time.Time
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
		files: make(map[string]*openFile), bufs: make(map[string][]byte),
		lines: prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_collector_file_lines_total", Help: "Lines written to service log files."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_collector_file_bytes_total", Help: "Bytes written to service log files."}),
		errs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "zlog_collector_file_write_errors_total", Help: "Failed writes to service log files (retried)."}),
	}
	if reg != nil {
		reg.MustRegister(s.lines, s.bytes, s.errs)
	}
	return s, nil
}

// Path is the live file of a service.
func Path(dir, service string) string { return filepath.Join(dir, service+".log") }

// Write appends one line per event. On error nothing is known about which
// lines landed; the caller retries the batch (files are at-least-once).
func (s *Sink) Write(batch []schema.Event) error {
	for k, b := range s.bufs {
		s.bufs[k] = b[:0]
	}
	for i := range batch {
		ev := &batch[i]
		s.bufs[ev.Service] = schema.AppendLine(s.bufs[ev.Service], ev)
	}
	services := make([]string, 0, len(s.bufs))
	for svc, b := range s.bufs {
		if len(b) > 0 {
			services = append(services, svc)
		}
	}
	sort.Strings(services)
	for _, svc := range services {
		if err := s.writeService(svc, s.bufs[svc]); err != nil {
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
	for len(data) > 0 {
		n := len(data)
		if n > maxChunk {
			n = lastLineEnd(data[:maxChunk])
			if n == 0 { // one line longer than a chunk: write it whole
				n = firstLineEnd(data)
			}
		}
		before, statErr := os.Stat(f.w.Filename)
		if _, err := f.w.Write(data[:n]); err != nil {
			if statErr == nil {
				unwrite(f.w.Filename, before)
			}
			// lumberjack opens files it creates at rotation without O_APPEND;
			// closing makes the retry reopen at the (truncated) end.
			f.w.Close()
			return fmt.Errorf("write %q: %w", f.w.Filename, err)
		}
		s.bytes.Add(float64(n))
		data = data[n:]
	}
	return nil
}

// unwrite removes what a failed Write left (a disk that filled mid-write
// leaves part of a line), so the retry does not append after a torn line.
// If lumberjack rotated inside the Write, the new file holds only the
// partial chunk.
func unwrite(path string, before os.FileInfo) {
	after, err := os.Stat(path)
	if err != nil {
		return
	}
	size := before.Size()
	if !os.SameFile(before, after) {
		size = 0
	}
	if after.Size() > size {
		os.Truncate(path, size)
	}
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

func (s *Sink) file(service string) (*openFile, error) {
	now := time.Now()
	if f, ok := s.files[service]; ok {
		f.lastUsed = now
		return f, nil
	}
	if len(s.files) >= s.opts.MaxOpen {
		s.closeLeastRecent()
	}
	path := Path(s.opts.Dir, service)
	// lumberjack keeps the mode of an existing file; create it 0640 so rotated
	// files are group-readable for log shippers and nobody else.
	if fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640); err != nil {
		return nil, fmt.Errorf("open %q: %w", path, err)
	} else {
		fh.Close()
	}
	f := &openFile{w: &lumberjack.Logger{
		Filename: path, MaxSize: s.opts.MaxSizeMB, MaxBackups: s.opts.MaxBackups,
		MaxAge: s.opts.MaxAgeDays, Compress: s.opts.Compress,
	}, lastUsed: now}
	s.files[service] = f
	return f, nil
}

func (s *Sink) closeLeastRecent() {
	var oldest string
	var at time.Time
	for svc, f := range s.files {
		if oldest == "" || f.lastUsed.Before(at) {
			oldest, at = svc, f.lastUsed
		}
	}
	if f, ok := s.files[oldest]; ok {
		if err := f.w.Close(); err != nil {
			s.logger.Warn("close log file", "file", f.w.Filename, "err", err)
		}
		delete(s.files, oldest)
		delete(s.bufs, oldest)
	}
}

// Close closes every open file. lumberjack writes straight to the file, so
// there is nothing buffered to flush.
func (s *Sink) Close() error {
	var first error
	for svc, f := range s.files {
		if err := f.w.Close(); err != nil && first == nil {
			first = fmt.Errorf("close log file of %q: %w", svc, err)
		}
	}
	s.files = map[string]*openFile{}
	return first
}
