package query

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/zlog/zlog/collector/index"
)

// ConnPool keeps partitions' read-only connections open between the
// searches of a long-lived process (the collector's query API), each
// handed to one search at a time: a partition's own connection, and the
// workers' readers of its sealed blocks (index.SealedReader). Opening a
// partition, and warming its page cache again, was a quarter to a third
// of a rare word's or a count by service's answer (measured on a 2-core
// VM: 19 -> 13 ms and 3.6 -> 1.9 ms).
//
// A connection idle longer than CloseIdle is given is closed: one whose
// partition retention removed holds its disk space until then. One whose
// file was replaced under its name is never handed out again.
type ConnPool struct {
	mu     sync.Mutex
	conns  idleSet[*sql.DB]
	sealed idleSet[*index.SealedReader]
	closed bool
	opened int // connections opened, for tests
}

// maxIdlePerPartition bounds the connections of each kind kept per
// partition: each keeps up to 1 MiB of page cache (index.OpenReadOnly).
const maxIdlePerPartition = 2

// NewConnPool returns an empty pool; Close it when done.
func NewConnPool() *ConnPool { return &ConnPool{} }

// open returns an idle connection to the partition at path, or opens
// one. Pooled connections read through a memory map (index.Map): their
// pages stay mapped from one search to the next.
func (p *ConnPool) open(path string) (*sql.DB, os.FileInfo, error) {
	return take(p, &p.conns, path, func(path string) (*sql.DB, error) {
		db, err := index.OpenReadOnly(path)
		if err == nil {
			if err = index.Map(context.Background(), db); err != nil {
				db.Close()
				return nil, err
			}
		}
		return db, err
	})
}

// put gives a connection back once its search is done with it.
func (p *ConnPool) put(path string, db *sql.DB, file os.FileInfo) { give(p, &p.conns, path, db, file) }

// openSealed and putSealed are open and put for readers of sealed blocks.
func (p *ConnPool) openSealed(ctx context.Context, path string) (*index.SealedReader, os.FileInfo, error) {
	return take(p, &p.sealed, path, func(path string) (*index.SealedReader, error) { return index.OpenSealedReader(ctx, path, true) })
}

func (p *ConnPool) putSealed(path string, r *index.SealedReader, file os.FileInfo) {
	give(p, &p.sealed, path, r, file)
}

// CloseIdle closes the connections idle for longer than d.
func (p *ConnPool) CloseIdle(d time.Duration) {
	cutoff := time.Now().Add(-d)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns.closeIdle(cutoff)
	p.sealed.closeIdle(cutoff)
}

// Close closes every idle connection; those in use are closed when
// their searches give them back.
func (p *ConnPool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return errors.Join(p.conns.closeIdle(time.Now()), p.sealed.closeIdle(time.Now()))
}

// idleSet holds idle connections of one kind, by partition path.
type idleSet[T interface{ Close() error }] map[string][]pooled[T]

type pooled[T any] struct {
	c    T
	file os.FileInfo // the file it opened, told apart from one made again under its name
	at   time.Time   // given back
}

// take returns an idle connection of set to the file at path, or one
// made by open.
func take[T interface{ Close() error }](p *ConnPool, set *idleSet[T], path string, open func(string) (T, error)) (T, os.FileInfo, error) {
	var zero T
	now, err := os.Stat(path)
	if err != nil {
		return zero, nil, err
	}
	p.mu.Lock()
	for list := (*set)[path]; len(list) > 0; list = (*set)[path] {
		c := list[len(list)-1]
		(*set)[path] = list[:len(list)-1]
		if os.SameFile(c.file, now) {
			p.mu.Unlock()
			return c.c, c.file, nil
		}
		c.c.Close() // the file was replaced
	}
	p.opened++
	p.mu.Unlock()
	c, err := open(path)
	return c, now, err
}

// give puts a connection back into set, or closes it when the set has
// enough or the pool is closed.
func give[T interface{ Close() error }](p *ConnPool, set *idleSet[T], path string, c T, file os.FileInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len((*set)[path]) >= maxIdlePerPartition {
		c.Close()
		return
	}
	if *set == nil {
		*set = idleSet[T]{}
	}
	(*set)[path] = append((*set)[path], pooled[T]{c: c, file: file, at: time.Now()})
}

// closeIdle closes the connections given back before cutoff.
func (s idleSet[T]) closeIdle(cutoff time.Time) error {
	var errs []error
	for path, list := range s {
		kept := list[:0]
		for _, c := range list {
			if c.at.After(cutoff) {
				kept = append(kept, c)
			} else {
				errs = append(errs, c.c.Close())
			}
		}
		if len(kept) == 0 {
			delete(s, path)
		} else {
			s[path] = kept
		}
	}
	return errors.Join(errs...)
}
