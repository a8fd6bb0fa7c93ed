package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// enforceRetention removes whole partitions: every day that ended before
// now-Retain, then the oldest days while the index is over MaxBytes (never
// the newest day). Removing a file is quick, so ingestion does not stall;
// a reader that has a removed file open keeps reading it until it closes.
func (w *Writer) enforceRetention(now time.Time) error {
	if w.opts.Retain <= 0 && w.opts.MaxBytes <= 0 {
		return nil
	}
	parts, err := ListPartitions(w.opts.Dir)
	if err != nil {
		return err
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Day.Before(parts[j].Day) })
	sizes := make([]int64, len(parts))
	var total int64
	for i, p := range parts {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if st, err := os.Stat(p.Path + suffix); err == nil {
				sizes[i] += st.Size()
			}
		}
		total += sizes[i]
	}
	var oldest time.Time
	for i, p := range parts {
		end := p.Day.Add(24 * time.Hour)
		expired := w.opts.Retain > 0 && !end.After(now.Add(-w.opts.Retain))
		oversize := w.opts.MaxBytes > 0 && total > w.opts.MaxBytes && i < len(parts)-1
		if !expired && !oversize {
			break
		}
		if err := w.removePartition(p); err != nil {
			return err
		}
		total -= sizes[i]
		oldest = end
		reason := "older than --retain"
		if !expired {
			reason = "index over --max-index-bytes"
		}
		w.logger.Info("retention removed a partition", "day", p.Day.Format(time.DateOnly), "bytes", sizes[i], "reason", reason)
		w.removed.Inc()
	}
	if oldest.IsZero() {
		return nil
	}
	b, _ := json.Marshal(Retention{Oldest: oldest})
	tmp := filepath.Join(w.opts.Dir, RetentionFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(w.opts.Dir, RetentionFile))
}

func (w *Writer) removePartition(p Partition) error {
	day := p.Day.Unix()
	if open, ok := w.parts[day]; ok {
		open.close()
		delete(w.parts, day)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(p.Path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("retention: remove %q: %w", p.Path+suffix, err)
		}
	}
	return nil
}
