package query

import (
	"errors"
	"fmt"
	"math"
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
	if s[0] == '-' {
		return 0, fmt.Errorf("%w %q: a length cannot be negative; want one such as 1h, 30m, 2d", ErrBadTime, s)
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

// ParseTime reads a point in time for --since/--until: "now", "today" and
// "yesterday" (midnight in loc), a duration back from now ("1h", "-1h",
// "2d", "1w", "1 hour ago", "90 minutes ago"), "@" and Unix seconds
// ("@1732900000"), an RFC 3339 time, or a local date or date-time without
// zone ("2026-11-24", "2026-11-24 15:04") read in loc.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "now":
		return now, nil
	case "today", "yesterday":
		y, m, d := now.In(loc).Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, loc)
		if s == "yesterday" {
			day = day.AddDate(0, 0, -1)
		}
		return day, nil
	case "":
		return time.Time{}, fmt.Errorf("%w: empty", ErrBadTime)
	}
	if secs, ok := strings.CutPrefix(s, "@"); ok {
		f, err := strconv.ParseFloat(secs, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return time.Time{}, fmt.Errorf("%w %q: want @ and Unix seconds, like @1732900000", ErrBadTime, s)
		}
		whole := math.Floor(f)
		return time.Unix(int64(whole), int64((f-whole)*1e9)), nil
	}
	if back, ok := strings.CutSuffix(s, " ago"); ok {
		d, err := parseSpokenDuration(back)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-d), nil
	}
	if d := strings.TrimPrefix(s, "-"); d[0] >= '0' && d[0] <= '9' && !strings.Contains(d, "-") {
		d, err := ParseDuration(d)
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
	return time.Time{}, fmt.Errorf("%w %q: want \"now\", \"today\", \"yesterday\", a duration back from now (30m, -1h, 2d, 1w, \"1 hour ago\"), @ and Unix seconds (@1732900000), an RFC 3339 time (2026-11-24T15:04:05Z) or a local date (2026-11-24, 2026-11-24 15:04)", ErrBadTime, s)
}

// spokenUnits are the units "1 hour ago" may name, as ParseDuration's.
var spokenUnits = map[string]string{
	"s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
	"m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
	"h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
	"d": "d", "day": "d", "days": "d", "w": "w", "week": "w", "weeks": "w",
}

// parseSpokenDuration reads "1 hour", "90 minutes", "an hour", "2d".
func parseSpokenDuration(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) == 1 {
		return ParseDuration(f[0])
	}
	if len(f) != 2 {
		return 0, fmt.Errorf("%w %q: want a number and a unit before \"ago\", like \"1 hour ago\"", ErrBadTime, s+" ago")
	}
	num, unit := f[0], spokenUnits[strings.ToLower(f[1])]
	if num == "a" || num == "an" {
		num = "1"
	}
	if unit == "" {
		return 0, fmt.Errorf("%w %q: unknown unit %q (seconds, minutes, hours, days, weeks)", ErrBadTime, s+" ago", f[1])
	}
	return ParseDuration(num + unit)
}

// FormatDuration writes a duration as people do: 5m, 1h30m, 2d, not
// 5m0s or 48h0m0s.
func FormatDuration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return b.String()
}
