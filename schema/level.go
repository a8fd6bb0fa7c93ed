package schema

import (
	"fmt"
	"strings"
)

// Level is an event's severity. The numeric values are stored in the index
// and ordered, so "--level warn" means warn and above.
type Level uint8

const (
	LevelTrace Level = 1 + iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelFatal
)

var levelNames = []string{"", "trace", "debug", "info", "warn", "error", "fatal"}

var levelByName = map[string]Level{
	"trace": LevelTrace, "debug": LevelDebug, "info": LevelInfo,
	"warn": LevelWarn, "error": LevelError, "fatal": LevelFatal,
}

// levelAliases are the spellings other systems use (syslog severities,
// logging libraries); they are accepted on input but never on the wire.
var levelAliases = map[string]Level{
	"trc": LevelTrace, "dbg": LevelDebug, "inf": LevelInfo, "information": LevelInfo,
	"informational": LevelInfo, "notice": LevelInfo, "wrn": LevelWarn, "warning": LevelWarn,
	"err": LevelError, "eror": LevelError, "crit": LevelFatal, "critical": LevelFatal,
	"alert": LevelFatal, "emerg": LevelFatal, "emergency": LevelFatal, "panic": LevelFatal,
	"fatal": LevelFatal, "ftl": LevelFatal,
}

func (l Level) String() string {
	if l >= LevelTrace && l <= LevelFatal {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// ParseLevel accepts the canonical names and common aliases, in any case.
func ParseLevel(s string) (Level, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	if l, ok := levelByName[k]; ok {
		return l, nil
	}
	if l, ok := levelAliases[k]; ok {
		return l, nil
	}
	return 0, fmt.Errorf("%w %q: want one of %s", ErrBadLevel, s, strings.Join(levelNames[1:], ", "))
}

// Levels lists the canonical levels in ascending order.
func Levels() []Level {
	return []Level{LevelTrace, LevelDebug, LevelInfo, LevelWarn, LevelError, LevelFatal}
}

// MarshalText writes the canonical name, so JSON shows "info", not 3.
func (l Level) MarshalText() ([]byte, error) {
	if l < LevelTrace || l > LevelFatal {
		return nil, fmt.Errorf("%w: %d", ErrBadLevel, l)
	}
	return []byte(levelNames[l]), nil
}

// UnmarshalText accepts what ParseLevel accepts.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
