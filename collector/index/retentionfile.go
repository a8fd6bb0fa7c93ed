package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RetentionFile, in the index directory, records the oldest time the index
// still answers for once retention has removed a partition, so logq can say
// so when asked about earlier times.
const RetentionFile = "retention.json"

// Retention is what RetentionFile holds.
type Retention struct {
	Oldest time.Time `json:"oldest"` // events before this were removed
}

// ReadRetention reads dir's RetentionFile; ok is false when retention has
// never removed anything.
func ReadRetention(dir string) (r Retention, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, RetentionFile))
	if errors.Is(err, os.ErrNotExist) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, false, fmt.Errorf("read %s: %w", RetentionFile, err)
	}
	return r, true, nil
}
