package syslog

import (
	"errors"
	"testing"
	"time"

	"github.com/zlog/zlog/schema"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want Message
	}{
		{`<13>1 2026-11-25T00:50:01.123456+00:00 web-1 myapp 4242 ID47 [timeQuality tzKnown="1" isSynced="0"] hello 5424`,
			Message{Time: time.Date(2026, 11, 25, 0, 50, 1, 123456000, time.UTC), Level: schema.LevelInfo, Host: "web-1", AppName: "myapp", ProcID: "4242", MsgID: "ID47", Text: "hello 5424", Facility: 1}},
		{`<11>1 - - - - - -`, Message{Level: schema.LevelError, Facility: 1}},
		{`<12>1 2026-11-25T00:00:00Z h app - - [a x="q\]"][b y="2"] after sd`,
			Message{Time: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Level: schema.LevelWarn, Host: "h", AppName: "app", Text: "after sd", Facility: 1}},
		{`<27>Nov 25 00:50:01 db-2 postgres[77]: connection reset`,
			Message{Time: time.Date(2026, 11, 25, 0, 50, 1, 0, time.UTC), Level: schema.LevelError, Host: "db-2", AppName: "postgres", ProcID: "77", Text: "connection reset", Facility: 3}},
		{`<15>Nov 25 00:50:01 host cron: job done`,
			Message{Time: time.Date(2026, 11, 25, 0, 50, 1, 0, time.UTC), Level: schema.LevelDebug, Host: "host", AppName: "cron", Text: "job done", Facility: 1}},
		{`<14>no header at all`, Message{Level: schema.LevelInfo, Text: "no header at all", Facility: 1}},
		{`<8>Dec 31 23:59:59 h k: last year`,
			Message{Time: time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), Level: schema.LevelFatal, Host: "h", AppName: "k", Text: "last year", Facility: 1}},
	}
	for _, c := range cases {
		got, err := Parse([]byte(c.in), now)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !got.Time.Equal(c.want.Time) {
			t.Errorf("%q: time %v, want %v", c.in, got.Time, c.want.Time)
		}
		got.Time, c.want.Time = time.Time{}, time.Time{}
		if got != c.want {
			t.Errorf("%q:\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "hello", "<>x", "<999>x", "<abc>x", "<13>1 notatime h a p m - x", "<13>1 2026-11-25T00:00:00Z h", "<13>1 - h a p m [unterminated"} {
		if _, err := Parse([]byte(bad), now); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", bad, err)
		}
	}
}
