package query

import (
	"errors"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{
		"1h": time.Hour, "90m": 90 * time.Minute, "2d": 48 * time.Hour, "1w": 7 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "1.5h": 90 * time.Minute, "500ms": 500 * time.Millisecond, "0.5d": 12 * time.Hour,
	}
	for in, want := range cases {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "h", "1x", "1y", "-1h", "1h-", "d1"} {
		if _, err := ParseDuration(bad); !errors.Is(err, ErrBadTime) {
			t.Errorf("ParseDuration(%q) = %v, want ErrBadTime", bad, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Time{
		"now":                           now,
		"1h":                            now.Add(-time.Hour),
		"2d":                            now.Add(-48 * time.Hour),
		"1w":                            now.Add(-7 * 24 * time.Hour),
		"2026-11-24T10:00:00Z":          time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		"2026-11-24T10:00:00.5+01:00":   time.Date(2026, 11, 24, 9, 0, 0, 5e8, time.UTC),
		"2026-11-24":                    time.Date(2026, 11, 24, 0, 0, 0, 0, loc),
		"2026-11-24 15:04":              time.Date(2026, 11, 24, 15, 4, 0, 0, loc),
		"2026-11-24T15:04:05":           time.Date(2026, 11, 24, 15, 4, 5, 0, loc),
		"2026-11-24 15:04:05.123456789": time.Date(2026, 11, 24, 15, 4, 5, 123456789, loc),
		" 30m ":                         now.Add(-30 * time.Minute),
		"-1h":                           now.Add(-time.Hour),
		"1 hour ago":                    now.Add(-time.Hour),
		"90 minutes ago":                now.Add(-90 * time.Minute),
		"an hour ago":                   now.Add(-time.Hour),
		"2 Days ago":                    now.Add(-48 * time.Hour),
		"1h ago":                        now.Add(-time.Hour),
		"today":                         time.Date(2026, 11, 24, 0, 0, 0, 0, loc),
		"yesterday":                     time.Date(2026, 11, 23, 0, 0, 0, 0, loc),
		"@1732900000":                   time.Unix(1732900000, 0),
		"@1732900000.25":                time.Unix(1732900000, 25e7),
	}
	for in, want := range cases {
		got, err := ParseTime(in, now, loc)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterdayish", "2026-13-01", "24/11/2026", "1 fortnight ago", "ago", "1 2 3 ago", "@soon", "@", "--1h",
		"2026-11-24T25:00:00Z"} {
		if _, err := ParseTime(bad, now, loc); !errors.Is(err, ErrBadTime) {
			t.Errorf("ParseTime(%q) = %v, want ErrBadTime", bad, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5m", 90 * time.Minute: "1h30m", 48 * time.Hour: "2d", 7 * 24 * time.Hour: "1w",
		time.Second: "1s", 1500 * time.Millisecond: "1.5s", 26*time.Hour + time.Second: "1d2h1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
