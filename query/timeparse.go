package query

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadTime is wrapped by ParseTime and ParseDuration errors.
var ErrBadTime = errors.New("invalid time")

// ParseDuration accepts Go durations plus d (24h) and w (7d): "90m", "2d",
// "1w", "1d12h". Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty duration", ErrBadTime)
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%w %q: want a number before each unit, like 1h30m, 2d, 1w", ErrBadTime, s)
		}
		num := rest[:i]
		rest = rest[i:]
		j := 0
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		var mult time.Duration
		switch unit {
		case "w":
			mult = 7 * 24 * time.Hour
		case "d":
			mult = 24 * time.Hour
		case "h", "m", "s", "ms", "us", "µs", "ns":
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, fmt.Errorf("%w %q: %v", ErrBadTime, s, err)
			}
			total += d
			continue
		default:
			return 0, fmt.Errorf("%w %q: unknown unit %q (use ns, us, ms, s, m, h, d, w)", ErrBadTime, s, unit)
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("%w %q: %v", ErrBadTime, s, err)
		}
		total += time.Duration(f * float64(mult))
	}
	return total, nil
}

// zoneless layouts are read in the caller's location.
var zoneless = []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"}

// ParseTime reads a point in time for --since/--until: "now", a duration
// back from now ("1h", "2d", "1w"), an RFC 3339 time, or a local date or
// date-time without zone ("2026-11-24", "2026-11-24 15:04") read in loc.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return now, nil
	}
	if s == "" {
		return time.Time{}, fmt.Errorf("%w: empty", ErrBadTime)
	}
	if s[0] >= '0' && s[0] <= '9' && !strings.Contains(s, "-") {
		d, err := ParseDuration(s)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range zoneless {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w %q: want \"now\", a duration back from now (30m, 1h, 2d, 1w), an RFC 3339 time (2026-11-24T15:04:05Z) or a local date (2026-11-24, 2026-11-24 15:04)", ErrBadTime, s)
}
