package parse

import (
	"errors"
	"time"
)

// Logical is one event's worth of text from a file or stream: a line, or
// the lines a multiline rule joined, taken out of its container record.
type Logical struct {
	Text   []byte
	Total  int       // the text's length before it was cut to the limit
	Time   time.Time // the container runtime's time of its first part; zero otherwise
	Stream string    // stdout or stderr, for container logs
	Mark   any       // the caller's mark of the last line in it (a file position)
	// Undecodable: the line was not a record of the container format; it
	// is passed on as it is.
	Undecodable bool
}

// JoinerOptions configure a Joiner.
type JoinerOptions struct {
	Container *ContainerDecoder // unwrap container records; nil for plain lines
	Start     StartFunc         // join continuation lines onto their event; nil for none
	MaxBytes  int               // keep at most this much of an event (and one byte more)
}

// Joiner turns the lines of one file or stream into Logicals: it unwraps
// container records and joins their partial records into lines, then
// joins continuation lines (stack traces) onto the event they belong to.
// An event is complete when the next one starts; Flush ends a waiting one
// (the caller does after a quiet while, and at the end of a stream).
type Joiner struct {
	o       JoinerOptions
	asm     *Assembler
	partial struct { // the line whose records are being assembled
		mark any
		at   time.Time
	}
	waiting bool // a multiline event waits for its next line
	event   Logical
	grew    time.Time
}

// NewJoiner returns a Joiner for one file or stream.
func NewJoiner(o JoinerOptions) *Joiner {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 10
	}
	j := &Joiner{o: o}
	if o.Container != nil {
		j.asm = NewAssembler(o.MaxBytes)
	}
	return j
}

// Emit receives a complete Logical; its Text is valid only during the
// call. An error stops Add or Flush and is returned by them.
type Emit func(Logical) error

// Add takes the next line (total is its full length, mark the caller's
// position after it) and emits what it completes, in order.
func (j *Joiner) Add(line []byte, total int, mark any, now time.Time, emit Emit) error {
	l := Logical{Text: line, Total: total, Mark: mark}
	if j.o.Container != nil {
		rec, err := j.o.Container.Decode(line)
		if errors.Is(err, ErrContainerRecord) {
			l.Undecodable = true
		} else {
			whole, n, done := j.asm.Add(rec)
			if !done {
				j.partial.mark, j.partial.at = mark, now
				return nil
			}
			l = Logical{Text: whole.Text, Total: n, Time: whole.Time, Stream: whole.Stream, Mark: mark}
		}
	}
	return j.logical(l, now, emit)
}

// logical joins a line onto the waiting event or starts the next one.
func (j *Joiner) logical(l Logical, now time.Time, emit Emit) error {
	if j.o.Start == nil {
		return emit(l)
	}
	if j.waiting && !j.o.Start(l.Text) {
		j.append(l)
		j.grew = now
		return nil
	}
	if err := j.flushEvent(emit); err != nil {
		return err
	}
	j.event = Logical{Text: append(j.event.Text[:0], l.Text[:min(len(l.Text), j.o.MaxBytes+1)]...),
		Total: l.Total, Time: l.Time, Stream: l.Stream, Mark: l.Mark, Undecodable: l.Undecodable}
	j.waiting, j.grew = true, now
	return nil
}

// append joins a continuation line onto the waiting event.
func (j *Joiner) append(l Logical) {
	e := &j.event
	if room := j.o.MaxBytes + 1 - len(e.Text); room > 0 {
		e.Text = append(e.Text, '\n')
		e.Text = append(e.Text, l.Text[:min(len(l.Text), room-1)]...)
	}
	e.Total += 1 + l.Total
	e.Mark = l.Mark
}

// Waiting reports whether something waits for its next line (a multiline
// event, or a container line whose last record has not come), and when it
// last grew.
func (j *Joiner) Waiting() (since time.Time, ok bool) {
	if j.asm != nil && j.asm.Pending() {
		if j.waiting && j.grew.After(j.partial.at) {
			return j.grew, true
		}
		return j.partial.at, true
	}
	return j.grew, j.waiting
}

// Flush emits what waits: a container line whose last record has not come
// (as far as it got), then the multiline event.
func (j *Joiner) Flush(emit Emit) error {
	if j.asm != nil && j.asm.Pending() {
		whole, n := j.asm.Cut()
		l := Logical{Text: whole.Text, Total: n, Time: whole.Time, Stream: whole.Stream, Mark: j.partial.mark}
		if err := j.logical(l, j.partial.at, emit); err != nil {
			return err
		}
	}
	return j.flushEvent(emit)
}

func (j *Joiner) flushEvent(emit Emit) error {
	if !j.waiting {
		return nil
	}
	j.waiting = false
	return emit(j.event)
}

// Logical parses a Logical: the text as a line, with the container's time
// when the text carries none, its stream as the field stream, and the
// length before cutting as truncated.
func (p *Parser) Logical(l Logical) Result {
	r := p.Line(l.Text)
	if r.Time.IsZero() {
		r.Time = l.Time
	}
	if l.Stream != "" {
		r.put("stream", l.Stream)
	}
	if r.Truncated {
		r.Fields["truncated"] = int64(l.Total)
	}
	return r
}
