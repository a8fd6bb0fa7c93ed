package api

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zlog/zlog/query/live"

	"github.com/zlog/zlog/query"
	"github.com/zlog/zlog/schema"
)

// A query survives the trip through URL parameters unchanged.
func TestQueryRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 123, time.UTC)
	q := query.Query{Words: []string{"timeout", `"a b"`, "item:1"}, FTS: "x* NOT y", Since: now.Add(-time.Hour), Until: now,
		Services: []string{"api", "web"}, TopicPrefix: "api.w", Host: "h-1", MinLevel: schema.LevelWarn, Limit: 7, OldestFirst: true}
	got, err := decodeQuery(EncodeQuery(q), searchParams, now)
	if err != nil {
		t.Fatal(err)
	}
	got.Since, got.Until = got.Since.UTC(), got.Until.UTC()
	if !reflect.DeepEqual(got, q) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, q)
	}
}

// What the client sends for tail is what the tail endpoint takes.
func TestTailRequestIsAccepted(t *testing.T) {
	f := live.Filter{Words: []string{"x"}, Services: []string{"api"}, Topic: "api.", Host: "h", MinLevel: schema.LevelWarn}
	q, err := decodeQuery(tailValues(f), tailParams, time.Now())
	if err != nil {
		t.Fatalf("tail request refused: %v", err)
	}
	if q.Host != "h" || q.MinLevel != schema.LevelWarn || q.TopicPrefix != "api." {
		t.Fatalf("decoded %+v", q)
	}
}

func TestDecodeQueryErrors(t *testing.T) {
	for _, tc := range []struct{ params, allowed, want string }{
		{"colour=red", "search", `unknown parameter "colour"`},
		{"by=level", "search", `unknown parameter "by"`},
		{"since=yesterday-ish", "search", "parameter since: invalid time"},
		{"until=2026-13-01", "search", "parameter until"},
		{"level=loud", "search", "parameter level"},
		{"service=Bad%20Name", "search", "parameter service"},
		{"limit=-3", "search", "parameter limit"},
		{"limit=ten", "search", "parameter limit"},
		{"order=random", "search", "parameter order"},
		{"host=a&host=b", "search", `parameter "host" given 2 times`},
		{"limit=5", "tail", `unknown parameter "limit"`},
		{"tz=Mars/Olympus", "search", "parameter tz"},
		{"tz=%2B25:99", "search", "parameter tz"},
		{"tz=Local", "search", "parameter tz"},
	} {
		v, _ := url.ParseQuery(tc.params)
		allowed := map[string][]string{"search": searchParams, "tail": tailParams}[tc.allowed]
		_, err := decodeQuery(v, allowed, time.Now())
		if !errors.Is(err, query.ErrBadQuery) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrBadQuery and %q", tc.params, err, tc.want)
		}
	}
}

// A query's zone travels as a name a collector elsewhere can load: $TZ's
// zone rather than "Local", an offset when no name is known.
func TestZoneTravels(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no tzdata")
	}
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	t.Setenv("TZ", "Asia/Tokyo")
	for _, tc := range []struct {
		loc  *time.Location
		want string
	}{
		{nil, ""}, {time.UTC, ""}, {tokyo, "Asia/Tokyo"}, {time.FixedZone("x", -(3*3600 + 1800)), "-03:30"},
	} {
		if got := ZoneName(tc.loc, now); got != tc.want {
			t.Errorf("ZoneName(%v) = %q, want %q", tc.loc, got, tc.want)
		}
	}
	for _, tz := range []string{"Asia/Tokyo", "-03:30", "+09:00"} {
		loc, err := ParseZone(tz)
		if err != nil {
			t.Fatalf("%s: %v", tz, err)
		}
		if got := ZoneName(loc, now); got != tz {
			t.Errorf("ParseZone(%q) names itself %q", tz, got)
		}
	}
	// A zone Go knows only as "Local" (time.Local when /etc/localtime
	// set it) is named by $TZ; TZ set empty means UTC.
	local := time.FixedZone("Local", 9*3600)
	if got := ZoneName(local, now); got != "Asia/Tokyo" {
		t.Errorf("ZoneName(Local) with TZ=Asia/Tokyo = %q", got)
	}
	t.Setenv("TZ", "")
	if got := ZoneName(local, now); got != "" {
		t.Errorf("ZoneName(Local) with TZ empty (UTC) = %q", got)
	}
}
