// Package dirlock keeps two processes from using one directory at once: a
// collector's data directory, a publisher's spool. Two writers on one
// directory would each believe they own its state and silently lose half of
// what they were given.
//
// The lock is an exclusive flock(2) on DIR/LOCK, which also holds the
// holder's pid so the refusal can name it. The kernel drops the lock when
// the process dies, so a crash never leaves a stale lock behind.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/zlog/zlog/schema/atomicfile"
)

// FileName is the lock file inside a locked directory.
const FileName = "LOCK"

// ErrLocked means another live process holds the directory.
var ErrLocked = errors.New("directory in use by another process")

// Lock is a held directory lock.
type Lock struct {
	dir string
	f   *os.File
}

// Acquire creates dir if needed and locks it, or fails with ErrLocked
// naming the holder's pid.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create %q: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock %q: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %q is locked by pid %s (%s)", ErrLocked, dir, holder(path), path)
		}
		return nil, fmt.Errorf("lock %q: %w", path, err)
	}
	// The pid is only for the message; a full disk must not stop the lock.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{dir: dir, f: f}, nil
}

func holder(path string) string {
	b, err := os.ReadFile(path)
	if pid := strings.TrimSpace(string(b)); err == nil && pid != "" {
		return pid
	}
	return "unknown"
}

// Dir is the locked directory.
func (l *Lock) Dir() string { return l.dir }

// Intact reports whether the lock file at the path is still the one this
// lock holds: false once the directory was deleted or replaced under the
// running process, when another process could take it.
func (l *Lock) Intact() bool { return atomicfile.StillAt(l.f, filepath.Join(l.dir, FileName)) }

// Release unlocks and closes the lock file. The file stays: removing it
// could let a third process lock a new file while a second waits on this one.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing drops the flock
	l.f = nil
	return err
}
