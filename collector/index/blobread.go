package index

/*
#include <stdlib.h>

// SQLite's own functions, compiled into the binary by go-sqlite3.
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
extern int sqlite3_prepare_v2(sqlite3*, const char*, int, sqlite3_stmt**, const char**);
extern int sqlite3_bind_int64(sqlite3_stmt*, int, long long);
extern int sqlite3_step(sqlite3_stmt*);
extern const void *sqlite3_column_blob(sqlite3_stmt*, int);
extern int sqlite3_column_bytes(sqlite3_stmt*, int);
extern int sqlite3_reset(sqlite3_stmt*);
extern int sqlite3_finalize(sqlite3_stmt*);
extern const char *sqlite3_errmsg(sqlite3*);

// zlog_read_blobs binds id and steps: on SQLITE_ROW (100), the row's two
// blobs (NULL and 0 for NULL), valid until the statement is reset.
static int zlog_read_blobs(sqlite3_stmt *s, long long id, const void **a, int *an, const void **b, int *bn) {
	int rc = sqlite3_bind_int64(s, 1, id);
	if (rc != 0) return rc;
	rc = sqlite3_step(s);
	if (rc != 100) {
		sqlite3_reset(s);
		return rc;
	}
	*a = sqlite3_column_blob(s, 0);
	*an = sqlite3_column_bytes(s, 0);
	*b = sqlite3_column_blob(s, 1);
	*bn = sqlite3_column_bytes(s, 1);
	return rc;
}
*/
import "C"

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"unsafe"
)

// errNoHandle means go-sqlite3's connection no longer has the field its
// sqlite3 handle is read from: blocks are then read through database/sql.
var errNoHandle = errors.New("cannot reach the sqlite3 handle inside go-sqlite3's connection")

// blobReader reads a block's data and messages through SQLite's C API,
// straight into the caller's buffers. go-sqlite3 copies every blob into
// a fresh Go slice (C.GoBytes), which database/sql then hands over to be
// copied again: for a top by user over 10M events, 56 MB of fresh memory,
// whose copying and page faults were 15 % of the query (measured).
type blobReader struct {
	conn *sql.Conn // this reader's alone, for the handle's sake
	db   *C.sqlite3
	stmt [2]*C.sqlite3_stmt // blockDataSQL, blockBothSQL
}

func openBlobReader(ctx context.Context, db *sql.DB) (*blobReader, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	r := &blobReader{conn: conn}
	err = conn.Raw(func(dc any) error {
		h, err := sqliteHandle(dc)
		r.db = (*C.sqlite3)(h)
		return err
	})
	for i, q := range []string{blockDataSQL, blockBothSQL} {
		if err != nil {
			break
		}
		cq := C.CString(q)
		if rc := C.sqlite3_prepare_v2(r.db, cq, -1, &r.stmt[i], nil); rc != 0 {
			err = fmt.Errorf("prepare %q: %s", q, C.GoString(C.sqlite3_errmsg(r.db)))
		}
		C.free(unsafe.Pointer(cq))
	}
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// sqliteHandle reads go-sqlite3's unexported sqlite3 pointer from a
// driver connection; name and type are checked, so a go-sqlite3 that
// changed gives errNoHandle instead of a crash.
func sqliteHandle(dc any) (unsafe.Pointer, error) {
	v := reflect.ValueOf(dc)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, errNoHandle
	}
	f := v.Elem().FieldByName("db")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.Type().Elem().Name() != "_Ctype_struct_sqlite3" || f.IsNil() {
		return nil, errNoHandle
	}
	return f.UnsafePointer(), nil
}

// appendBlock is AppendBlock through the C API.
func (r *blobReader) appendBlock(id int64, withMessages bool, data, messages []byte) ([]byte, []byte, error) {
	s := r.stmt[0]
	if withMessages {
		s = r.stmt[1]
	}
	var a, b unsafe.Pointer
	var an, bn C.int
	switch rc := C.zlog_read_blobs(s, C.longlong(id), &a, &an, &b, &bn); rc {
	case 100: // SQLITE_ROW
	case 101: // SQLITE_DONE
		return nil, nil, fmt.Errorf("read block %d: %w", id, sql.ErrNoRows)
	default:
		return nil, nil, fmt.Errorf("read block %d: %s (%d)", id, C.GoString(C.sqlite3_errmsg(r.db)), rc)
	}
	defer C.sqlite3_reset(s) // ends the read transaction the step began
	data = append(data[:0], unsafe.Slice((*byte)(a), int(an))...)
	if b == nil {
		return data, nil, nil
	}
	return data, append(messages[:0], unsafe.Slice((*byte)(b), int(bn))...), nil
}

func (r *blobReader) close() {
	for _, s := range r.stmt {
		if s != nil {
			C.sqlite3_finalize(s)
		}
	}
	r.conn.Close()
}
