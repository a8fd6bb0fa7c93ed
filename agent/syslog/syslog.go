// Package syslog receives syslog messages over UDP and TCP and parses RFC
// 5424 and RFC 3164 (BSD) formats. On TCP a frame is either octet-counted
// ("LEN SP MSG", RFC 6587) or ends at a newline, decided per frame by its
// first byte. Frames over the size limit and unparseable messages are counted
// and skipped; the connection goes on.
package syslog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zlog/zlog/schema"
)

// Message is a parsed syslog message.
type Message struct {
	Time     time.Time // zero when the message had none
	Level    schema.Level
	Host     string
	AppName  string // APP-NAME (5424) or TAG (3164)
	ProcID   string
	MsgID    string
	Text     string
	Facility int
}

// ErrMalformed is wrapped by Parse errors.
var ErrMalformed = errors.New("malformed syslog message")

// severityLevel maps syslog severities 0-7 to levels.
var severityLevel = [8]schema.Level{schema.LevelFatal, schema.LevelFatal, schema.LevelFatal, schema.LevelError,
	schema.LevelWarn, schema.LevelInfo, schema.LevelInfo, schema.LevelDebug}

// Parse reads one message in RFC 5424 or RFC 3164 form; now supplies the
// year (and zone) that RFC 3164 timestamps lack.
func Parse(b []byte, now time.Time) (Message, error) {
	var m Message
	b = bytes.TrimRight(b, "\r\n\x00")
	if len(b) < 3 || b[0] != '<' {
		return m, fmt.Errorf("%w: no <PRI>", ErrMalformed)
	}
	end := bytes.IndexByte(b[:min(len(b), 5)], '>')
	if end < 2 {
		return m, fmt.Errorf("%w: bad <PRI>", ErrMalformed)
	}
	pri, err := strconv.Atoi(string(b[1:end]))
	if err != nil || pri < 0 || pri > 191 {
		return m, fmt.Errorf("%w: PRI %q out of range", ErrMalformed, b[1:end])
	}
	m.Facility, m.Level = pri/8, severityLevel[pri%8]
	rest := b[end+1:]
	if len(rest) >= 2 && rest[0] == '1' && rest[1] == ' ' {
		return parse5424(m, rest[2:])
	}
	return parse3164(m, rest, now)
}

func nilValue(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func parse5424(m Message, b []byte) (Message, error) {
	parts := strings.SplitN(string(b), " ", 6)
	if len(parts) < 6 {
		if len(parts) == 5 { // no STRUCTURED-DATA or MSG at all
			parts = append(parts, "-")
		} else {
			return m, fmt.Errorf("%w: RFC 5424 header has %d of 6 fields", ErrMalformed, len(parts))
		}
	}
	if parts[0] != "-" {
		t, err := time.Parse(time.RFC3339Nano, parts[0])
		if err != nil {
			return m, fmt.Errorf("%w: timestamp %q", ErrMalformed, parts[0])
		}
		m.Time = t
	}
	m.Host, m.AppName, m.ProcID, m.MsgID = nilValue(parts[1]), nilValue(parts[2]), nilValue(parts[3]), nilValue(parts[4])
	sdAndMsg := parts[5]
	switch {
	case strings.HasPrefix(sdAndMsg, "-"):
		sdAndMsg = sdAndMsg[1:]
	case strings.HasPrefix(sdAndMsg, "["):
		// Skip structured data elements, honouring escaped ] inside values.
		i, inQuote := 0, false
		for i < len(sdAndMsg) {
			c := sdAndMsg[i]
			switch {
			case c == '\\' && inQuote:
				i++
			case c == '"':
				inQuote = !inQuote
			case c == ']' && !inQuote:
				if i+1 >= len(sdAndMsg) || sdAndMsg[i+1] != '[' {
					i++
					goto done
				}
			}
			i++
		}
		return m, fmt.Errorf("%w: unterminated structured data", ErrMalformed)
	done:
		sdAndMsg = sdAndMsg[i:]
	default:
		return m, fmt.Errorf("%w: structured data must be - or [...]", ErrMalformed)
	}
	m.Text = strings.TrimPrefix(strings.TrimPrefix(sdAndMsg, " "), "\ufeff") // BOM
	return m, nil
}

// parse3164: "Mmm dd hh:mm:ss HOST TAG[PID]: MSG", leniently.
func parse3164(m Message, b []byte, now time.Time) (Message, error) {
	s := string(b)
	if len(s) >= 15 {
		if t, err := time.ParseInLocation(time.Stamp, s[:15], now.Location()); err == nil {
			t = t.AddDate(now.Year(), 0, 0)
			if t.After(now.Add(24 * time.Hour)) { // December message read in January
				t = t.AddDate(-1, 0, 0)
			}
			m.Time = t
			s = strings.TrimPrefix(s[15:], " ")
			if host, after, ok := strings.Cut(s, " "); ok && !strings.HasSuffix(host, ":") {
				m.Host, s = host, after
			}
		}
	}
	// TAG: up to ':' or '[' within the first 48 characters.
	if i := strings.IndexAny(s, ":["); i > 0 && i <= 48 && !strings.ContainsAny(s[:i], " ") {
		m.AppName = s[:i]
		s = s[i:]
		if strings.HasPrefix(s, "[") {
			if j := strings.IndexByte(s, ']'); j > 0 {
				m.ProcID, s = s[1:j], s[j+1:]
			}
		}
		s = strings.TrimPrefix(s, ":")
	}
	m.Text = strings.TrimPrefix(s, " ")
	return m, nil
}

// Handler receives each parsed message with the peer's address.
type Handler func(m Message, peer string)

// Options configure a Server.
type Options struct {
	MaxFrameBytes int // larger frames are skipped and counted; 64 KiB
}

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
}

// Listen binds "tcp://ADDR" or "udp://ADDR".
func Listen(url string, opts Options, logger *slog.Logger, handle Handler) (*Server, error) {
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = 64 << 10
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
		go func() { <-ctx.Done(); s.udp.Close() }()
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
			s.message(buf[:n], peer.String())
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

func (s *Server) message(b []byte, peer string) {
	m, err := Parse(b, time.Now())
	if err != nil {
		s.Invalid.Add(1)
		s.logger.Debug("skipped malformed syslog message", "peer", peer, "err", err)
		return
	}
	s.Frames.Add(1)
	s.handle(m, peer)
}

// serveConn reads frames: octet-counted when a frame starts with a digit,
// newline-terminated otherwise.
func (s *Server) serveConn(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	peer := c.RemoteAddr().String()
	max := s.opts.MaxFrameBytes
	for {
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
		line, tooLong, err := readLine(r, max)
		if tooLong {
			s.TooLong.Add(1)
		} else if len(bytes.TrimSpace(line)) > 0 {
			s.message(line, peer)
		}
		if err != nil {
			return
		}
	}
}

// readLine reads up to '\n'; a line over max is consumed and reported.
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			tooLong = true
		} else {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			line = nil
		}
		return line, tooLong, err
	}
}

// Close releases the listener of a server that will not Run.
func (s *Server) Close() error {
	if s.tcp != nil {
		return s.tcp.Close()
	}
	return s.udp.Close()
}
