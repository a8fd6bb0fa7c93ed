package sidecar

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/zlog/zlog/agent/parse"
	"github.com/zlog/zlog/agent/publisher"
)

// stdinSource reads the agent's standard input. Its Run returns at the
// end of the input; the other sources go on.
type stdinSource struct {
	a   *Agent
	src *Source
}

func (s *stdinSource) Close() error { return nil }

// Run publishes each line of stdin until its end; lines over the limit are
// cut (the event says so) and the rest of the line is skipped. Container
// records are unwrapped and, with a multiline start pattern, continuation
// lines joined first; an event still waiting at the end is published.
func (s *stdinSource) Run(ctx context.Context) error {
	a, src := s.a, s.src
	parser, joiner := src.newParser(a.opts.MaxLineBytes), src.newJoiner(a.opts.MaxLineBytes)
	emit := func(l parse.Logical) error {
		a.publishLogical(ctx, src, parser, l, src.Labels, publisher.Mark{})
		return nil
	}
	if src.Multiline == nil {
		err := scanLines(ctx, src.Stdin, a.opts.MaxLineBytes, func(line []byte, total int) { joiner.Add(line, total, nil, time.Now(), emit) })
		joiner.Flush(emit)
		return err
	}
	type line struct {
		b     []byte
		total int
	}
	lines := make(chan line, 1024)
	errc := make(chan error, 1)
	go func() {
		errc <- scanLines(ctx, src.Stdin, a.opts.MaxLineBytes, func(b []byte, total int) { lines <- line{append([]byte(nil), b...), total} })
		close(lines)
	}()
	timer := time.NewTimer(a.opts.MultilineTimeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				joiner.Flush(emit)
				return <-errc
			}
			joiner.Add(l.b, l.total, nil, time.Now(), emit)
			timer.Reset(a.opts.MultilineTimeout)
		case <-timer.C:
			joiner.Flush(emit) // no continuation came: the event is complete
		}
	}
}

// scanLines calls emit for each line of r (without its newline) with the
// line's full length, keeping at most limit+1 bytes of it.
func scanLines(ctx context.Context, r io.Reader, limit int, emit func(line []byte, total int)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	total := 0 // the line's true length, however much of it is kept
	for {
		chunk, err := br.ReadSlice('\n')
		total += len(chunk)
		if room := limit + 1 - len(line); room > 0 {
			// Keep at most one byte past the limit: enough for the parser
			// to see the line is too long and cut it cleanly.
			line = append(line, chunk[:min(len(chunk), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil { // the line ended with a newline, kept or not
			total--
			if len(line) > 0 && line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
		}
		if total > 0 {
			emit(line, total)
		}
		line, total = line[:0], 0
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}
