package syslog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

var errBad = errors.New("bad")

type collected struct {
	mu     sync.Mutex
	frames []string
}

func (c *collected) handle(frame []byte, peer string) error {
	if strings.HasPrefix(string(frame), "bad") {
		return errBad
	}
	c.mu.Lock()
	c.frames = append(c.frames, string(frame))
	c.mu.Unlock()
	return nil
}

func (c *collected) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := append([]string(nil), c.frames...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("got %d frames, want %d", len(c.frames), n)
	return nil
}

func serve(t *testing.T, url string, opts Options) (*Server, *collected) {
	t.Helper()
	c := &collected{}
	s, err := Listen(url, opts, slog.New(slog.NewTextHandler(io.Discard, nil)), HandlerFunc(c.handle))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, c
}

// TCP frames end at a newline, CR LF or NUL (Python's SysLogHandler), or
// are octet-counted; oversized and refused frames are counted, and the
// connection goes on.
func TestTCPFraming(t *testing.T) {
	s, c := serve(t, "tcp://127.0.0.1:0", Options{MaxFrameBytes: 64})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.Addr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	stream := "<14>one\x00<14>two\x00<14>three\r\n" + "9 <14>four!" + "<14>" + strings.Repeat("x", 100) + "\n" +
		"bad frame\n" + "\x00\n" + "<14>five\n<14>six"
	if _, err := conn.Write([]byte(stream)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	got := c.wait(t, 6)
	want := []string{"<14>one", "<14>two", "<14>three\r", "<14>four!", "<14>five", "<14>six"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("frames %q, want %q", got, want)
	}
	if s.TooLong.Load() != 1 || s.Invalid.Load() != 1 || s.Frames.Load() != 6 {
		t.Errorf("too long %d, invalid %d, frames %d; want 1, 1, 6", s.TooLong.Load(), s.Invalid.Load(), s.Frames.Load())
	}
}

// A UDP listener gets a large receive buffer and reads its kernel drop
// counter from /proc/net/udp.
func TestUDPReceiveBufferAndDrops(t *testing.T) {
	s, c := serve(t, "udp://127.0.0.1:0", Options{})
	size, err := s.receiveBuffer()
	if err != nil {
		t.Fatal(err)
	}
	if size < 2*212992 { // above Linux's usual default either way
		t.Errorf("receive buffer %d bytes, want it raised", size)
	}
	conn, err := net.Dial("udp", strings.TrimPrefix(s.Addr, "udp://"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("<14>hello\x00"))
	conn.Write([]byte("18 <14>1 - - - - - - x")) // loggen -P frames datagrams too
	if got := c.wait(t, 2); got[1] != "<14>1 - - - - - - x" {
		t.Errorf("octet-counted datagram read as %q", got[1])
	}
	if _, err := s.KernelDrops(); err != nil {
		t.Errorf("kernel drops: %v", err)
	}
}
