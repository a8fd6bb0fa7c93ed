package schema

import (
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenEvents are encoded to testdata/wire/<name>.hex: one frame per line,
// hex-encoded. The files are the reference for publishers in other languages.
var goldenEvents = map[string]Event{
	"minimal": {Service: "downcase", Level: LevelInfo, Message: "lower case of X is x"},
	"full": {
		Time: time.Date(2026, 11, 24, 23, 1, 40, 123456789, time.UTC), Service: "downcase",
		Level: LevelInfo, Host: "web-1", Message: "lower case of X is x",
		Fields: Fields{"param": "X", "answer": "x"}, Publisher: "p-1a2b", Seq: 42, Prev: 41,
	},
	"unicode": {
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Service: "api-gw_2", Level: LevelError,
		Host: "höst", Message: "ÀÉÎ → àéî\nsecond line", Fields: Fields{"user.id": "ünï"},
	},
	"typed": {
		Time: time.Date(2026, 11, 29, 23, 40, 0, 123000000, time.UTC), Service: "überwacher", Level: LevelWarn,
		Host: "web-1", Message: "slow request", Publisher: "p-1a2b", Seq: 7, Prev: 0,
		Fields: Fields{"duration_ms": int64(512), "ratio": 0.25, "cached": false, "path": "/api/v1"},
		Labels: Labels{"env": "prod", "cluster": "eu-1"},
	},
}

func frameFile(frames [][]byte) string {
	var b strings.Builder
	for _, f := range frames {
		b.WriteString(hex.EncodeToString(f))
		b.WriteByte('\n')
	}
	return b.String()
}

func readFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		f, err := hex.DecodeString(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		frames = append(frames, f)
	}
	return frames
}

func TestWireGolden(t *testing.T) {
	for name, ev := range goldenEvents {
		t.Run(name, func(t *testing.T) {
			frames, err := Encode(nil, &ev)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "wire", name+".hex")
			if *update {
				if err := os.WriteFile(path, []byte(frameFile(frames)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readFrames(t, path)
			if !reflect.DeepEqual(frames, want) {
				t.Fatalf("encoding changed:\ngot\n%swant\n%s", frameFile(frames), frameFile(want))
			}
			got, err := Decode(want, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ev.Fields) == 0 {
				ev.Fields = nil
			}
			if !got.Time.Equal(ev.Time) {
				t.Fatalf("time: got %v want %v", got.Time, ev.Time)
			}
			got.Time = ev.Time
			if !reflect.DeepEqual(got, ev) {
				t.Fatalf("decode mismatch:\ngot  %+v\nwant %+v", got, ev)
			}
			if size := EncodedSize(&ev); size != frameBytes(frames) {
				t.Fatalf("EncodedSize = %d, frames hold %d bytes", size, frameBytes(frames))
			}
		})
	}
}

func frameBytes(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return n
}

// Publishers of wire versions 1 (no prev) and 2 (string fields, no labels)
// are still understood: their events decode as before.
func TestOlderWireVersionsStillDecode(t *testing.T) {
	for _, version := range []string{"v1", "v2"} {
		for _, name := range []string{"full", "minimal", "unicode"} {
			ev := goldenEvents[name]
			frames := readFrames(t, filepath.Join("testdata", "wire", version, name+".hex"))
			got, err := Decode(frames, 0)
			if err != nil {
				t.Fatalf("%s/%s: %v", version, name, err)
			}
			wantPrev := ev.Prev
			if version == "v1" {
				wantPrev = PrevUnknown
			}
			if got.Prev != wantPrev || got.Seq != ev.Seq || got.Message != ev.Message || got.Publisher != ev.Publisher || !got.Time.Equal(ev.Time) {
				t.Fatalf("%s/%s: decoded %+v", version, name, got)
			}
			if len(ev.Fields) > 0 && !reflect.DeepEqual(got.Fields, ev.Fields) {
				t.Fatalf("%s/%s: fields %v, want %v", version, name, got.Fields, ev.Fields)
			}
			h, ok := DecodeHeader(frames)
			if !ok || h.Seq != ev.Seq || h.Prev != wantPrev || h.Publisher != ev.Publisher || h.Topic != ev.Topic() {
				t.Fatalf("%s/%s: header %+v %v", version, name, h, ok)
			}
		}
	}
}

// SetPrev patches what a publisher learns at send time into frames encoded
// earlier, and DecodeHeader reads it back even from an event that is
// otherwise invalid (the collector must know whose turn it refuses).
func TestSetPrevAndHeader(t *testing.T) {
	ev := goldenEvents["full"]
	frames, err := Encode(nil, &ev)
	if err != nil {
		t.Fatal(err)
	}
	SetPrev(frames, 0)
	frames[2] = []byte{0xff} // invalid UTF-8: Decode refuses the event
	if _, err := Decode(frames, 0); !errors.Is(err, ErrBadUTF8) {
		t.Fatalf("Decode: %v", err)
	}
	h, ok := DecodeHeader(frames)
	if !ok || h != (Header{Topic: "downcase.info", Publisher: "p-1a2b", Seq: 42, Prev: 0}) {
		t.Fatalf("header %+v %v", h, ok)
	}
	if _, ok := DecodeHeader([][]byte{[]byte("Bad.topic"), frames[1]}); ok {
		t.Fatal("header of a bad topic decoded")
	}
}

// TestWireMalformed decodes the bad vectors in testdata/wire/bad; the file
// name says which error is expected.
func TestWireMalformed(t *testing.T) {
	good := readFrames(t, filepath.Join("testdata", "wire", "full.hex"))
	clone := func() [][]byte {
		out := make([][]byte, len(good))
		for i := range good {
			out[i] = append([]byte(nil), good[i]...)
		}
		return out
	}
	cases := []struct {
		name   string
		frames func() [][]byte
		want   error
	}{
		{"two frames", func() [][]byte { return clone()[:2] }, ErrFrameCount},
		{"six frames", func() [][]byte { return append(clone(), []byte("x"), []byte("y")) }, ErrFrameCount},
		{"topic without level", func() [][]byte { f := clone(); f[0] = []byte("downcase"); return f }, ErrBadTopic},
		{"topic unknown level", func() [][]byte { f := clone(); f[0] = []byte("downcase.loud"); return f }, ErrBadTopic},
		{"topic upper case", func() [][]byte { f := clone(); f[0] = []byte("Downcase.info"); return f }, ErrBadTopic},
		{"no magic", func() [][]byte { f := clone(); f[1][0] = 'X'; return f }, ErrBadEnvelope},
		{"version 4", func() [][]byte { f := clone(); f[1][3] = 4; return f }, ErrBadVersion},
		{"labels after version 2", func() [][]byte { f := clone(); f[1][3] = 2; return append(f, []byte{}) }, ErrFrameCount},
		{"prev not below seq", func() [][]byte { f := clone(); SetPrev(f, 42); return f }, ErrBadEnvelope},
		{"short envelope", func() [][]byte { f := clone(); f[1] = f[1][:10]; return f }, ErrBadEnvelope},
		{"host past end", func() [][]byte { f := clone(); f[1] = f[1][:len(f[1])-1]; return f }, ErrBadEnvelope},
		{"trailing envelope", func() [][]byte { f := clone(); f[1] = append(f[1], 0); return f }, ErrBadEnvelope},
		{"message not utf8", func() [][]byte { f := clone(); f[2] = []byte{0xff, 0xfe}; return f }, ErrBadUTF8},
		{"field truncated", func() [][]byte { f := clone(); f[3] = f[3][:len(f[3])-1]; return f }, ErrBadField},
		{"field key bad", func() [][]byte { f := clone(); f[3] = []byte{0, 1, ' ', 0, 0, 0, 0}; return f }, ErrBadField},
		{"field value not utf8", func() [][]byte { f := clone(); f[3] = []byte{0, 1, 'k', kindString, 0, 0, 0, 1, 0xff}; return f }, ErrBadUTF8},
		{"field kind unknown", func() [][]byte { f := clone(); f[3] = []byte{0, 1, 'k', 9, 0}; return f }, ErrBadField},
		{"field bool byte", func() [][]byte { f := clone(); f[3] = []byte{0, 1, 'k', kindBool, 2}; return f }, ErrBadField},
		{"too large", func() [][]byte { f := clone(); f[2] = make([]byte, DefaultMaxEvent); return f }, ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.frames(), 0)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestTopic(t *testing.T) {
	cases := []struct {
		topic   string
		service string
		level   Level
		ok      bool
	}{
		{"downcase.info", "downcase", LevelInfo, true},
		{"a.fatal", "a", LevelFatal, true},
		{"api-gw_2.warn", "api-gw_2", LevelWarn, true},
		{"0day.debug", "0day", LevelDebug, true},
		{"downcase.warning", "", 0, false}, // aliases are input-only
		{"down.case.info", "", 0, false},
		{".info", "", 0, false},
		{"-x.info", "", 0, false},
		{"Downcase.info", "", 0, false},
		{"down case.info", "", 0, false},
		{strings.Repeat("a", 63) + ".info", strings.Repeat("a", 63), LevelInfo, true},
		{strings.Repeat("a", 64) + ".info", "", 0, false},
		{"downcase.", "", 0, false},
		{"", "", 0, false},
		{"_x.info", "", 0, false},
		{"a_.info", "a_", LevelInfo, true},
		{"a\x00b.info", "", 0, false},
		{"überwacher.info", "überwacher", LevelInfo, true},
		{"e\u0301te.info", "", 0, false}, // not in normal form C
		{"\u00e9te.info", "\u00e9te", LevelInfo, true},
		{"\xff.info", "", 0, false},
	}
	for _, c := range cases {
		svc, lvl, err := ParseTopic(c.topic)
		if (err == nil) != c.ok || svc != c.service || lvl != c.level {
			t.Errorf("ParseTopic(%q) = %q, %v, %v; want %q, %v, ok=%v", c.topic, svc, lvl, err, c.service, c.level, c.ok)
		}
	}
}

func TestParseLevel(t *testing.T) {
	cases := map[string]Level{"info": LevelInfo, "WARNING": LevelWarn, "err": LevelError, "crit": LevelFatal, " debug ": LevelDebug, "notice": LevelInfo}
	for in, want := range cases {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("loud"); !errors.Is(err, ErrBadLevel) {
		t.Errorf("ParseLevel(loud) = %v, want ErrBadLevel", err)
	}
}

func TestSanitizeService(t *testing.T) {
	cases := map[string]string{"CRON": "cron", "my app[123]": "my-app-123", "///": "unknown", "nginx": "nginx", "Äpp": "äpp",
		"Überwacher": "überwacher", "日本語": "日本語", "Cafe\u0301": "café", "a.b": "a-b", "web_1": "web_1", "-x-": "x"}
	for in, want := range cases {
		got := SanitizeService(in)
		if got != want {
			t.Errorf("SanitizeService(%q) = %q, want %q", in, got, want)
		}
		if err := ValidateService(got); err != nil {
			t.Errorf("SanitizeService(%q) = %q is not valid: %v", in, got, err)
		}
	}
}

func TestAppendLineGolden(t *testing.T) {
	var b strings.Builder
	for _, name := range []string{"full", "minimal", "unicode", "typed"} {
		ev := goldenEvents[name]
		b.Write(AppendLine(nil, &ev))
	}
	path := filepath.Join("testdata", "lines.golden")
	if *update {
		os.WriteFile(path, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("line format changed:\ngot\n%s\nwant\n%s", b.String(), want)
	}
	if n := strings.Count(b.String(), "\n"); n != 4 {
		t.Fatalf("want one line per event, got %d lines", n)
	}
}

// Fault 14: nothing in an event can steer the terminal of whoever reads the
// log files or logq's text: every control character is escaped.
func TestAppendLineEscapesControls(t *testing.T) {
	cases := []struct{ msg, want string }{
		{"plain text", "plain text"},
		{"X\x1b[31mRED", `X\x1b[31mRED`},
		{"a\tb\bc\x00d\x7f", `a\tb\x08c\x00d\x7f`},
		{"two\nlines\r", `two\nlines\r`},
		{`C:\new`, `C:\\new`},
		{"csi \u009b31m and \u0085", `csi \u009b31m and \u0085`},
		{"bidi \u202eevil\u202c", `bidi \u202eevil\u202c`},
		{"é → ü", "é → ü"},
	}
	for _, c := range cases {
		ev := Event{Service: "s", Level: LevelInfo, Host: "h\x1bx", Message: c.msg, Fields: Fields{"f": c.msg}}
		line := string(AppendLine(nil, &ev))
		wantPrefix := "0001-01-01T00:00:00.000000000Z info  s h\\x1bx: " + c.want + " f="
		if !strings.HasPrefix(line, wantPrefix) {
			t.Errorf("message %q:\n got %q\nwant prefix %q", c.msg, line, wantPrefix)
		}
		for _, r := range line[:len(line)-1] {
			if unsafeRune(r) {
				t.Errorf("message %q: line holds %U: %q", c.msg, r, line)
			}
		}
	}
	if got := string(AppendTerminal(nil, "trace:\n\tat x\x1b[2J")); got != "trace:\n\tat x\\x1b[2J" {
		t.Errorf("AppendTerminal = %q", got)
	}
}

func TestAckGolden(t *testing.T) {
	a := Ack{Publisher: "p-1a2b", HWM: map[string]uint64{"downcase.info": 42, "api.error": 7}}
	frame, err := EncodeAck(a)
	if err != nil {
		t.Fatal(err)
	}
	checkControlGolden(t, "ack", frame, a)
	if !IsAck(frame) || IsAck([]byte{1}) || IsAck([]byte{0, 'x'}) {
		t.Fatal("IsAck confuses acks and subscriptions")
	}
	for name, bad := range map[string][]byte{
		"truncated hwm":   frame[:len(frame)-1],
		"version":         append([]byte("ZLA\x02"), frame[4:]...),
		"publisher short": []byte("ZLA\x01\x09ab"),
	} {
		if _, err := DecodeAck(bad); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestControlGolden(t *testing.T) {
	r := Reject{Publisher: "p-1a2b", Topic: "downcase.info", Seq: 43, Reason: "event too large: 3045 bytes, limit 2000"}
	frame, err := EncodeReject(r)
	if err != nil {
		t.Fatal(err)
	}
	checkControlGolden(t, "reject", frame, r)
	n := Nack{Publisher: "p-1a2b", Topic: "downcase.info", HWM: 41}
	if frame, err = EncodeNack(n); err != nil {
		t.Fatal(err)
	}
	checkControlGolden(t, "nack", frame, n)
	checkControlGolden(t, "heartbeat", EncodeHeartbeat(Heartbeat{Backlog: 1500}), Heartbeat{Backlog: 1500})
	for name, bad := range map[string][]byte{
		"subscription":    {1, 'a'},
		"short heartbeat": []byte("ZLH\x01\x00"),
		"version":         []byte("ZLN\x02\x01p\x01t\x00\x00\x00\x00\x00\x00\x00\x01"),
		"reason too long": []byte("ZLR\x01\x01p\x01t\x00\x00\x00\x00\x00\x00\x00\x01\x00\x09abc"),
		"nack trailing":   []byte("ZLN\x01\x01p\x01t\x00\x00\x00\x00\x00\x00\x00\x01x"),
		"topic past end":  []byte("ZLN\x01\x01p\x09t"),
		"unknown kind":    []byte("ZLQ\x01"),
	} {
		if _, err := DecodeControl(bad); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// checkControlGolden compares frame with testdata/wire/<name>.hex and
// decodes it back to want.
func checkControlGolden(t *testing.T, name string, frame []byte, want any) {
	t.Helper()
	path := filepath.Join("testdata", "wire", name+".hex")
	if *update {
		os.WriteFile(path, []byte(frameFile([][]byte{frame})), 0o644)
	}
	golden := readFrames(t, path)
	if len(golden) != 1 || !reflect.DeepEqual(frame, golden[0]) {
		t.Fatalf("%s encoding changed:\ngot  %x\nwant %x", name, frame, golden)
	}
	got, err := DecodeControl(frame)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeControl(%s) = %+v, %v", name, got, err)
	}
}
