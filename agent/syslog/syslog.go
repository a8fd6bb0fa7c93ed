// Package syslog receives syslog messages over UDP and TCP; the handler
// parses them (agent/parse reads RFC 5424 and RFC 3164). On TCP a frame is
// either octet-counted ("LEN SP MSG", RFC 6587) or ends at a newline or a
// NUL (Python's SysLogHandler ends each message with NUL and nothing
// else), decided per frame by its first byte. Frames over the size limit
// and messages the handler refuses are counted and skipped; the connection
// goes on.
package syslog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Handler receives what the listener reads. Frames of several connections
// may arrive concurrently.
type Handler interface {
	// Frame receives one frame with the peer's address; the frame's memory
	// is reused after it returns. An error counts the frame as invalid.
	Frame(frame []byte, peer string) error
	// Flush says a connection has nothing more buffered (its next read may
	// block): frames gathered so far should be published now.
	Flush()
}

// HandlerFunc is a Handler that handles each frame at once.
type HandlerFunc func(frame []byte, peer string) error

func (f HandlerFunc) Frame(frame []byte, peer string) error { return f(frame, peer) }
func (f HandlerFunc) Flush()                                {}

// Options configure a Server.
type Options struct {
	MaxFrameBytes int // larger frames are skipped and counted; 64 KiB
	// ReceiveBuffer is the UDP socket's kernel receive buffer; 8 MiB.
	// Bursts beyond it are dropped by the kernel (KernelDrops counts them).
	ReceiveBuffer int
}

// DefaultReceiveBuffer is Options.ReceiveBuffer's default: at 5,000
// messages a second the kernel's default (about 200 KiB) overflows while
// the agent is busy for a few tens of milliseconds.
const DefaultReceiveBuffer = 8 << 20

// Server listens on one UDP or TCP address.
type Server struct {
	opts    Options
	logger  *slog.Logger
	handle  Handler
	tcp     net.Listener
	udp     net.PacketConn
	Addr    string
	Frames  atomic.Uint64 // messages handled
	Invalid atomic.Uint64 // unparseable messages skipped
	TooLong atomic.Uint64 // frames over MaxFrameBytes skipped

	lastDrops atomic.Uint64 // KernelDrops when last read
}

// Listen binds "tcp://ADDR" or "udp://ADDR".
func Listen(url string, opts Options, logger *slog.Logger, handle Handler) (*Server, error) {
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = 64 << 10
	}
	if opts.ReceiveBuffer <= 0 {
		opts.ReceiveBuffer = DefaultReceiveBuffer
	}
	s := &Server{opts: opts, logger: logger.With("component", "syslog", "listen", url), handle: handle}
	scheme, addr, ok := strings.Cut(url, "://")
	var err error
	switch {
	case ok && scheme == "tcp":
		s.tcp, err = net.Listen("tcp", addr)
		if err == nil {
			s.Addr = "tcp://" + s.tcp.Addr().String()
		}
	case ok && scheme == "udp":
		s.udp, err = net.ListenPacket("udp", addr)
		if err == nil {
			s.Addr = "udp://" + s.udp.LocalAddr().String()
			s.sizeReceiveBuffer()
		}
	default:
		return nil, fmt.Errorf("syslog address %q: want tcp://HOST:PORT or udp://HOST:PORT", url)
	}
	if err != nil {
		return nil, fmt.Errorf("syslog listen %q: %w", url, err)
	}
	return s, nil
}

// Run serves until ctx ends, then closes the listener and every connection
// and waits for them.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	if s.udp != nil {
		go func() {
			<-ctx.Done()
			s.KernelDrops() // the last count, while the socket still exists
			s.udp.Close()
		}()
		buf := make([]byte, 65536)
		for {
			n, peer, err := s.udp.ReadFrom(buf)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("syslog udp: %w", err)
			}
			if n > s.opts.MaxFrameBytes {
				s.TooLong.Add(1)
				continue
			}
			s.message(stripOctetCount(buf[:n]), peer.String())
			s.handle.Flush()
		}
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	go func() {
		<-ctx.Done()
		s.tcp.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("syslog tcp: %w", err)
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		}()
	}
}

// stripOctetCount drops an RFC 6587 length prefix from a datagram: loggen
// -P frames UDP messages as it frames TCP ones ("256 <38>1 …").
func stripOctetCount(b []byte) []byte {
	i := 0
	for i < len(b) && i < 6 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > 0 && i+1 < len(b) && b[i] == ' ' && b[i+1] == '<' {
		return b[i+1:]
	}
	return b
}

func (s *Server) message(b []byte, peer string) {
	if err := s.handle.Frame(b, peer); err != nil {
		s.Invalid.Add(1)
		s.logger.Debug("skipped malformed syslog message", "peer", peer, "err", err)
		return
	}
	s.Frames.Add(1)
}

// serveConn reads frames: octet-counted when a frame starts with a digit,
// ended by a newline or a NUL otherwise.
func (s *Server) serveConn(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	peer := c.RemoteAddr().String()
	max := s.opts.MaxFrameBytes
	defer s.handle.Flush()
	for {
		if r.Buffered() == 0 {
			s.handle.Flush()
		}
		first, err := r.Peek(1)
		if err != nil {
			return
		}
		if first[0] >= '1' && first[0] <= '9' {
			lenStr, err := r.ReadString(' ')
			if err != nil {
				return
			}
			n, err := strconv.Atoi(strings.TrimSpace(lenStr))
			if err != nil || n <= 0 {
				s.Invalid.Add(1)
				if _, err := r.ReadSlice('\n'); err != nil && err != bufio.ErrBufferFull {
					return
				}
				continue
			}
			if n > max {
				s.TooLong.Add(1)
				if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
					return
				}
				continue
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			s.message(buf, peer)
			continue
		}
		line, tooLong, err := readFrame(r, max)
		if tooLong {
			s.TooLong.Add(1)
		} else if len(bytes.Trim(line, " \t\r\n\x00")) > 0 {
			s.message(line, peer)
		}
		if err != nil {
			return
		}
	}
}

// readFrame reads up to a newline or a NUL; a frame over max is consumed
// and reported.
func readFrame(r *bufio.Reader, limit int) (frame []byte, tooLong bool, err error) {
	for {
		buffered, peekErr := r.Peek(max(r.Buffered(), 1))
		if i := bytes.IndexAny(buffered, "\n\x00"); i >= 0 {
			if len(frame)+i > limit {
				tooLong = true
			} else {
				frame = append(frame, buffered[:i]...)
			}
			r.Discard(i + 1)
			if tooLong {
				frame = nil
			}
			return frame, tooLong, nil
		}
		if len(buffered) > 0 {
			if len(frame)+len(buffered) > limit {
				tooLong = true
			} else {
				frame = append(frame, buffered...)
			}
			r.Discard(len(buffered))
		}
		if peekErr != nil {
			if tooLong {
				frame = nil
			}
			return frame, tooLong, peekErr
		}
	}
}

// Close releases the listener of a server that will not Run.
func (s *Server) Close() error {
	if s.tcp != nil {
		return s.tcp.Close()
	}
	return s.udp.Close()
}
