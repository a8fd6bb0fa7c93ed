package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SealedReader reads the data of sealed blocks through a connection of
// its own, for one of a query's workers: the workers of a query share
// one read transaction, whose connection serialises their block reads
// (a fifth of a top by user over a day of 10M events went to waiting on
// it, measured). A sealed block is never changed or deleted, and its id
// never reused (only unsealed blocks, of fewer than FullBlock events, are
// merged away), so any snapshot taken after the shared transaction's
// reads it as that transaction would. Unsealed blocks must be read
// through the transaction.
type SealedReader struct {
	db         *sql.DB
	blobs      *blobReader
	data, both *sql.Stmt // without blobs: through database/sql
}

// OpenSealedReader opens a partition for reading sealed blocks, through
// a memory map when mapped (see Map).
func OpenSealedReader(ctx context.Context, path string, mapped bool) (*SealedReader, error) {
	db, err := OpenReadOnly(path)
	if err != nil {
		return nil, err
	}
	r := &SealedReader{db: db}
	if mapped {
		if err := Map(ctx, db); err != nil {
			r.Close()
			return nil, fmt.Errorf("open index %q: %w", path, err)
		}
	}
	if r.blobs, err = openBlobReader(ctx, db); err == nil {
		return r, nil
	}
	if !errors.Is(err, errNoHandle) {
		r.Close()
		return nil, fmt.Errorf("open index %q: %w", path, err)
	}
	if r.data, err = db.PrepareContext(ctx, blockDataSQL); err == nil {
		r.both, err = db.PrepareContext(ctx, blockBothSQL)
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("open index %q: %w", path, err)
	}
	return r, nil
}

// Sealed reports whether a block of rows events is sealed, and so may be
// read by a SealedReader.
func Sealed(rows int) bool { return rows >= FullBlock }

// AppendBlock is AppendBlock for a sealed block.
func (r *SealedReader) AppendBlock(ctx context.Context, id int64, withMessages bool, data, messages []byte) ([]byte, []byte, error) {
	if r.blobs != nil {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		return r.blobs.appendBlock(id, withMessages, data, messages)
	}
	stmt := r.data
	if withMessages {
		stmt = r.both
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	rows, err := stmt.QueryContext(context.WithoutCancel(ctx), id) // see AppendBlock
	if err != nil {
		return nil, nil, fmt.Errorf("read block %d: %w", id, err)
	}
	return appendBlockRow(rows, id, data, messages)
}

// Close closes the reader's connection.
func (r *SealedReader) Close() error {
	if r.blobs != nil {
		r.blobs.close()
	}
	for _, s := range []*sql.Stmt{r.data, r.both} {
		if s != nil {
			s.Close()
		}
	}
	return r.db.Close()
}
