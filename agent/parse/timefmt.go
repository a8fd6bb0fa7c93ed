package parse

import (
	"strconv"
	"time"
)

// Timestamps come in many shapes; these readers are hand-written because a
// log line is parsed in a few microseconds, and time.Parse with a list of
// layouts would take most of them.

// digits reads n ASCII digits at b[i:].
func digits(b string, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// isoPrefix reads "YYYY-MM-DD[T ]HH:MM:SS[.,frac][zone]" (or with '/' as
// the date separator) at the start of b; a stamp without a zone is in loc.
// Zones: Z, ±HH:MM, ±HHMM, ±HH, " UTC", " GMT". n is how many bytes it
// took; zoned says whether the stamp had a zone.
func isoPrefix(b string, loc *time.Location) (t time.Time, n int, zoned, ok bool) {
	if len(b) < 19 || b[4] != b[7] || (b[4] != '-' && b[4] != '/') || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return t, 0, false, false
	}
	year, ok1 := digits(b, 0, 4)
	mon, ok2 := digits(b, 5, 2)
	day, ok3 := digits(b, 8, 2)
	hh, ok4 := digits(b, 11, 2)
	mm, ok5 := digits(b, 14, 2)
	ss, ok6 := digits(b, 17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return t, 0, false, false
	}
	n = 19
	nsec, used := fraction(b[n:])
	n += used
	zone, used := zonePrefix(b[n:], loc)
	n += used
	return time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, zone), n, used > 0, true
}

// fraction reads ".123" or ",123456789" as nanoseconds.
func fraction(b string) (nsec, n int) {
	if len(b) < 2 || (b[0] != '.' && b[0] != ',') || b[1] < '0' || b[1] > '9' {
		return 0, 0
	}
	scale := 100_000_000
	n = 1
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		nsec += int(b[n]-'0') * scale
		scale /= 10
		n++
	}
	return nsec, n
}

// zonePrefix reads a zone after a time; loc when there is none.
func zonePrefix(b string, loc *time.Location) (*time.Location, int) {
	switch {
	case len(b) >= 1 && (b[0] == 'Z' || b[0] == 'z'):
		return time.UTC, 1
	case len(b) >= 4 && (b[:4] == " UTC" || b[:4] == " GMT") && (len(b) == 4 || b[4] == ' ' || b[4] == ']'):
		return time.UTC, 4
	case len(b) >= 3 && (b[0] == '+' || b[0] == '-'):
		hh, ok := digits(b, 1, 2)
		if !ok {
			return loc, 0
		}
		n, mm := 3, 0
		if len(b) >= 6 && b[3] == ':' {
			mm, ok = digits(b, 4, 2)
			n = 6
		} else if m, ok2 := digits(b, 3, 2); ok2 {
			mm, n = m, 5
		}
		if !ok || hh > 14 || mm > 59 {
			return loc, 0
		}
		off := (hh*60 + mm) * 60
		if b[0] == '-' {
			off = -off
		}
		if off == 0 {
			return time.UTC, n
		}
		return time.FixedZone("", off), n
	}
	return loc, 0
}

var monthNames = map[string]time.Month{
	"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}

// stampPrefix reads syslog's "Mmm dd hh:mm:ss" (the day may be space
// padded), with the year inferred around now.
func stampPrefix(b string, loc *time.Location, now time.Time) (t time.Time, n int, ok bool) {
	c, n, ok := stampParts(b)
	if !ok {
		return t, 0, false
	}
	return inferYear(c.mon, c.day, c.hh, c.mm, c.ss, c.nsec, loc, now), n, true
}

type clock struct {
	mon             time.Month
	day, hh, mm, ss int
	nsec            int
}

// stampParts reads "Mmm dd hh:mm:ss[.frac]".
func stampParts(b string) (c clock, n int, ok bool) {
	if len(b) < 15 || b[3] != ' ' || b[9] != ':' || b[12] != ':' {
		return c, 0, false
	}
	if c.mon, ok = monthNames[b[:3]]; !ok {
		return c, 0, false
	}
	okDay := false
	if c.day, okDay = digits(b, 4, 2); !okDay && b[4] == ' ' {
		c.day, okDay = digits(b, 5, 1)
	}
	var ok1, ok2, ok3 bool
	c.hh, ok1 = digits(b, 7, 2)
	c.mm, ok2 = digits(b, 10, 2)
	c.ss, ok3 = digits(b, 13, 2)
	if !(okDay && ok1 && ok2 && ok3) || c.day < 1 || c.day > 31 || c.hh > 23 || c.mm > 59 || c.ss > 60 {
		return c, 0, false
	}
	var used int
	c.nsec, used = fraction(b[15:])
	return c, 15 + used, true
}

// inferYear dates a stamp without a year in the year around now: a stamp
// more than a day ahead (a December line read in January) is last year's.
func inferYear(mon time.Month, day, hh, mm, ss, nsec int, loc *time.Location, now time.Time) time.Time {
	t := time.Date(now.Year(), mon, day, hh, mm, ss, nsec, loc)
	if t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t
}

// dayMonthYearClock reads "DD?Mon?YYYY?hh?mm?ss" (the separators already
// checked by the caller), the shape Apache's and Redis's stamps share.
func dayMonthYearClock(b string, nsec int, loc *time.Location) (time.Time, bool) {
	day, ok1 := digits(b, 0, 2)
	mon, ok2 := monthNames[b[3:6]]
	year, ok3 := digits(b, 7, 4)
	hh, ok4 := digits(b, 12, 2)
	mm, ok5 := digits(b, 15, 2)
	ss, ok6 := digits(b, 18, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	return time.Date(year, mon, day, hh, mm, ss, nsec, loc), true
}

// clfTime reads Apache's "29/Nov/2026:23:40:00 +0000".
func clfTime(b string) (time.Time, bool) {
	if len(b) < 26 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[20] != ' ' {
		return time.Time{}, false
	}
	zone, used := zonePrefix(b[21:], nil)
	if used == 0 {
		return time.Time{}, false
	}
	return dayMonthYearClock(b, 0, zone)
}

// epoch dates a Unix timestamp by its magnitude: seconds, milliseconds,
// microseconds or nanoseconds.
func epoch(v float64) (time.Time, bool) {
	switch {
	case v <= 0 || v >= 1e19:
		return time.Time{}, false
	case v < 1e11:
		sec := int64(v)
		return time.Unix(sec, int64((v-float64(sec))*1e9)), true
	case v < 1e14:
		return time.UnixMicro(int64(v * 1e3)), true
	case v < 1e17:
		return time.UnixMicro(int64(v)), true
	}
	return time.Unix(0, int64(v)), true
}

// epochInt is epoch for integers, exact at every magnitude (a float64
// cannot hold nanoseconds since 1970 exactly).
func epochInt(v int64) (time.Time, bool) {
	switch {
	case v <= 0:
		return time.Time{}, false
	case v < 1e11:
		return time.Unix(v, 0), true
	case v < 1e14:
		return time.UnixMilli(v), true
	case v < 1e17:
		return time.UnixMicro(v), true
	}
	return time.Unix(0, v), true
}

// timeValue reads a time from a record's value: a string in ISO or
// Apache form or an epoch number (also as a string), or a number.
func timeValue(v any, loc *time.Location) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		if len(v) == 0 {
			break
		}
		if c := v[0]; c >= '0' && c <= '9' {
			if t, n, _, ok := isoPrefix(v, loc); ok && n == len(v) {
				return t, true
			}
			if i, err := strconv.ParseInt(v, 10, 64); err == nil {
				return epochInt(i)
			}
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return epoch(f)
			}
			if t, ok := clfTime(v); ok && len(v) == 26 {
				return t, true
			}
		}
		if t, err := time.Parse(time.RFC1123Z, v); err == nil {
			return t, true
		}
	case int64:
		return epochInt(v)
	case float64:
		return epoch(v)
	}
	return time.Time{}, false
}

// ctimePrefix reads "Sun Nov 29 23:40:00[.frac] 2026" (Apache's error log,
// C's ctime), the day maybe space padded.
func ctimePrefix(b string, loc *time.Location) (t time.Time, n int, ok bool) {
	if len(b) < 24 || b[3] != ' ' || weekday(b[:3]) < 0 {
		return t, 0, false
	}
	c, n, ok := stampParts(b[4:])
	if !ok || len(b) < 4+n+5 || b[4+n] != ' ' {
		return t, 0, false
	}
	year, ok := digits(b, 4+n+1, 4)
	if !ok {
		return t, 0, false
	}
	return time.Date(year, c.mon, c.day, c.hh, c.mm, c.ss, c.nsec, loc), 4 + n + 5, true
}

func weekday(s string) int {
	for i, d := range [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"} {
		if s == d {
			return i
		}
	}
	return -1
}

// dmyPrefix reads Redis's "29 Nov 2026 23:40:00.123".
func dmyPrefix(b string, loc *time.Location) (t time.Time, n int, ok bool) {
	if len(b) < 20 || b[2] != ' ' || b[6] != ' ' || b[11] != ' ' || b[14] != ':' || b[17] != ':' {
		return t, 0, false
	}
	nsec, used := fraction(b[20:])
	if t, ok = dayMonthYearClock(b, nsec, loc); !ok {
		return t, 0, false
	}
	return t, 20 + used, true
}
