package api

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ZoneName names loc so that a collector elsewhere reads a query's
// zoneless times as the user meant them: an IANA name when one is known
// (time.Local is only "Local": $TZ or /etc/localtime's link say which),
// else the offset loc has at now. "" for UTC or nil.
func ZoneName(loc *time.Location, now time.Time) string {
	if loc == nil || loc == time.UTC {
		return ""
	}
	if name := loc.String(); name != "Local" {
		if _, err := time.LoadLocation(name); err == nil {
			return name
		}
		_, offset := now.In(loc).Zone()
		return formatOffset(offset)
	}
	if tz, ok := os.LookupEnv("TZ"); ok {
		if tz = strings.TrimPrefix(tz, ":"); tz == "" {
			return "" // TZ set empty is UTC
		}
		if _, err := time.LoadLocation(tz); err == nil {
			return tz
		}
	} else if link, err := os.Readlink("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(filepath.ToSlash(link), "zoneinfo/"); ok {
			if _, err := time.LoadLocation(name); err == nil {
				return name
			}
		}
	}
	_, offset := now.In(loc).Zone()
	return formatOffset(offset)
}

func formatOffset(seconds int) string {
	sign := '+'
	if seconds < 0 {
		sign, seconds = '-', -seconds
	}
	return fmt.Sprintf("%c%02d:%02d", sign, seconds/3600, seconds%3600/60)
}

var errBadZone = errors.New("want an IANA zone name (Europe/Paris) or an offset (+09:00)")

// ParseZone reads what ZoneName writes.
func ParseZone(s string) (*time.Location, error) {
	if len(s) == 6 && (s[0] == '+' || s[0] == '-') && s[3] == ':' {
		t, err := time.Parse("-07:00", s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, errBadZone)
		}
		_, offset := t.Zone()
		return time.FixedZone(s, offset), nil
	}
	loc, err := time.LoadLocation(s)
	if err != nil || s == "" || s == "Local" {
		return nil, fmt.Errorf("%q: %w", s, errBadZone)
	}
	return loc, nil
}
