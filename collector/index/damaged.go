package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/zlog/zlog/collector/index/block"
)

// A partition file can be damaged (a disk error, a truncated copy) or not
// SQLite at all (a foreign file named like a day). Neither may stop the
// collector or logq: the collector moves it aside (quarantine) and goes
// on, logq skips it with a warning. Its events are still in the log files.

// IsDamaged reports whether err says a partition file is corrupt or not a
// database, or holds a block that does not decode: a writer that had to
// merge such a block would fail every commit of its service.
func IsDamaged(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) ||
		errors.Is(err, block.ErrCorrupt)
}

// truncated reports whether a partition file is shorter than its own header
// says: cut by a full disk or a bad copy. SQLite itself notices only when a
// query reaches a missing page, which may be long after the collector
// started writing into the file again.
func truncated(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return false // empty (new) or too short to say: SQLite decides
	}
	st, err := f.Stat()
	if err != nil || string(h[:16]) != "SQLite format 3\x00" {
		return false
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	pages := int64(binary.BigEndian.Uint32(h[28:32]))
	// The size in the header is valid only when the change counter matches
	// the version-valid-for number (file format docs, section 1.3.7).
	valid := pages > 0 && binary.BigEndian.Uint32(h[24:28]) == binary.BigEndian.Uint32(h[92:96])
	return valid && pages*pageSize > st.Size()
}

// errTruncated is why a truncated partition is quarantined.
var errTruncated = errors.New("file shorter than its header says (truncated)")

// QuarantineSuffix ends the name of a partition moved aside as damaged.
const QuarantineSuffix = ".corrupt"

// quarantine renames a damaged partition (and its -wal and -shm) to
// <name>.corrupt, or <name>.<time>.corrupt when that exists, and returns
// the new name of the file.
func quarantine(path string) (string, error) {
	to := path + QuarantineSuffix
	if _, err := os.Stat(to); err == nil {
		to = fmt.Sprintf("%s.%d%s", path, time.Now().UnixNano(), QuarantineSuffix)
	}
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("quarantine damaged partition %q: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+suffix, to+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return to, fmt.Errorf("quarantine damaged partition %q: %w", path+suffix, err)
		}
	}
	return to, nil
}
