package schema

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Wire format, version 3 (see README.md for the byte-level description).
//
//	frame 0  topic     "<service>.<level>", UTF-8
//	frame 1  envelope  "ZLG" 0x03 | int64 time ns | uint64 seq | uint64 prev | u8 len publisher | u8 len host
//	frame 2  message   UTF-8 text
//	frame 3  fields    optional (present, maybe empty, when labels follow): typed values (fieldsframe.go)
//	frame 4  labels    optional: strings
//
// Version 2 is the same with string fields only and no labels; version 1
// also lacks prev (it is then PrevUnknown). Both are still decoded. The
// topic comes first because ZeroMQ matches subscriptions against the first
// frame, so XPUB/XSUB prefix filtering works on "<service>.<level>".
const (
	WireVersion     = 3
	wireVersion2    = 2
	wireVersion1    = 1
	envelopeMagic   = "ZLG"
	envelopeFixedV1 = 4 + 8 + 8 // magic+version, time, seq
	envelopeFixed   = envelopeFixedV1 + 8
	prevOffset      = envelopeFixedV1
	DefaultMaxEvent = 256 << 10 // default limit on the sum of all frame sizes
)

// PrevUnknown is the Prev of an event whose publisher did not say (wire
// version 1): the collector then accepts a stream it does not know from
// whatever sequence number comes first.
const PrevUnknown = math.MaxUint64

// EncodedSize is the sum of the frame sizes Encode produces for ev: what
// the collector compares with its --max-event-bytes. Publishers check the
// same number, so both sides agree on what is too large.
func EncodedSize(ev *Event) int {
	n := len(ev.Service) + 1 + len(ev.Level.String()) // topic
	n += envelopeFixed + 2 + len(ev.Publisher) + len(ev.Host)
	n += len(ev.Message)
	n += typedSize(ev.Fields) + stringsSize(ev.Labels)
	return n
}

// Encode returns the frames of ev, appending into dst (which may be reused
// across calls). It validates the topic parts but not the whole event; the
// collector validates everything on receipt.
func Encode(dst [][]byte, ev *Event) ([][]byte, error) {
	if err := ValidateService(ev.Service); err != nil {
		return dst, err
	}
	if ev.Level < LevelTrace || ev.Level > LevelFatal {
		return dst, fmt.Errorf("%w: %d", ErrBadLevel, ev.Level)
	}
	if len(ev.Publisher) > MaxPublisherLen || len(ev.Host) > MaxHostLen {
		return dst, fmt.Errorf("%w: publisher id over %d or host over %d bytes", ErrBadEnvelope, MaxPublisherLen, MaxHostLen)
	}
	// One allocation holds every frame: the spool and the socket only read them.
	buf := make([]byte, 0, EncodedSize(ev))
	frame := func(from int) []byte { return buf[from:len(buf):len(buf)] }
	if dst == nil {
		dst = make([][]byte, 0, 5)
	}
	dst = dst[:0]
	buf = append(buf, ev.Service...)
	buf = append(buf, '.')
	buf = append(buf, ev.Level.String()...)
	dst = append(dst, frame(0))

	at := len(buf)
	buf = append(buf, envelopeMagic...)
	buf = append(buf, WireVersion)
	var ns int64
	if !ev.Time.IsZero() {
		ns = ev.Time.UnixNano()
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(ns))
	buf = binary.BigEndian.AppendUint64(buf, ev.Seq)
	buf = binary.BigEndian.AppendUint64(buf, ev.Prev)
	buf = append(buf, byte(len(ev.Publisher)))
	buf = append(buf, ev.Publisher...)
	buf = append(buf, byte(len(ev.Host)))
	buf = append(buf, ev.Host...)
	dst = append(dst, frame(at))

	at = len(buf)
	buf = append(buf, ev.Message...)
	dst = append(dst, frame(at))

	if len(ev.Fields) > 0 || len(ev.Labels) > 0 {
		at = len(buf)
		var err error
		if buf, err = appendTyped(buf, ev.Fields); err != nil {
			return dst[:0], err
		}
		dst = append(dst, frame(at))
	}
	if len(ev.Labels) > 0 {
		at = len(buf)
		buf = appendStrings(buf, ev.Labels)
		dst = append(dst, frame(at))
	}
	return dst, nil
}

// SetPrev rewrites the prev of frames Encode made, in place. A publisher
// knows an event's prev (the previous event of its stream it still holds)
// only when it sends it, while the frames were encoded (and spooled) when
// the event was published.
func SetPrev(frames [][]byte, prev uint64) {
	if len(frames) > 1 && len(frames[1]) >= envelopeFixed && frames[1][3] >= wireVersion2 {
		binary.BigEndian.PutUint64(frames[1][prevOffset:], prev)
	}
}

// Header is what identifies an event in its stream, readable even when the
// rest of the event is not valid: the collector then still knows whose
// turn it was and can tell the publisher it refused it.
type Header struct {
	Topic     string
	Publisher string
	Seq, Prev uint64
}

// DecodeHeader reads the topic and the envelope's stream position. ok is
// false when even these cannot be read (then nobody can be told).
func DecodeHeader(frames [][]byte) (h Header, ok bool) {
	if len(frames) < 2 || len(frames[0]) > 255 {
		return h, false
	}
	if _, _, err := ParseTopic(string(frames[0])); err != nil {
		return h, false
	}
	env := frames[1]
	if len(env) < envelopeFixedV1+2 || string(env[:3]) != envelopeMagic {
		return h, false
	}
	h.Topic = string(frames[0])
	h.Seq = binary.BigEndian.Uint64(env[12:20])
	rest := env[envelopeFixedV1:]
	switch env[3] {
	case wireVersion1:
		h.Prev = PrevUnknown
	case wireVersion2, WireVersion:
		if len(env) < envelopeFixed+2 {
			return h, false
		}
		h.Prev = binary.BigEndian.Uint64(env[prevOffset:])
		rest = env[envelopeFixed:]
	default:
		return h, false
	}
	pub, _, err := shortString(rest, "publisher id")
	if err != nil || !utf8.Valid(pub) || len(pub) > MaxPublisherLen {
		return h, false
	}
	h.Publisher = string(pub)
	return h, true
}

// Decode parses and validates the frames of one message. maxBytes limits the
// sum of frame sizes (0 means DefaultMaxEvent). A zero time on the wire is
// returned as the zero time.Time; the caller decides how to stamp it.
func Decode(frames [][]byte, maxBytes int) (Event, error) {
	var ev Event
	if len(frames) < 3 || len(frames) > 5 {
		return ev, fmt.Errorf("%w: got %d, want 3 to 5", ErrFrameCount, len(frames))
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxEvent
	}
	total := 0
	for _, f := range frames {
		total += len(f)
	}
	if total > maxBytes {
		return ev, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, total, maxBytes)
	}
	svc, lvl, err := ParseTopic(string(frames[0]))
	if err != nil {
		return ev, err
	}
	ev.Service, ev.Level = svc, lvl

	env := frames[1]
	if len(env) < 4 || string(env[:3]) != envelopeMagic {
		return ev, fmt.Errorf("%w: missing %q marker", ErrBadEnvelope, envelopeMagic)
	}
	fixed := envelopeFixed
	switch env[3] {
	case WireVersion, wireVersion2:
	case wireVersion1:
		fixed = envelopeFixedV1
	default:
		return ev, fmt.Errorf("%w %d (this collector speaks 1 to %d)", ErrBadVersion, env[3], WireVersion)
	}
	if len(frames) == 5 && env[3] != WireVersion {
		return ev, fmt.Errorf("%w: got 5, and version %d has no labels frame", ErrFrameCount, env[3])
	}
	if len(env) < fixed+2 {
		return ev, fmt.Errorf("%w: %d bytes, want at least %d", ErrBadEnvelope, len(env), fixed+2)
	}
	if ns := int64(binary.BigEndian.Uint64(env[4:12])); ns != 0 {
		ev.Time = time.Unix(0, ns).UTC()
	}
	ev.Seq = binary.BigEndian.Uint64(env[12:20])
	ev.Prev = PrevUnknown
	if fixed == envelopeFixed {
		ev.Prev = binary.BigEndian.Uint64(env[prevOffset:])
		if ev.Prev != PrevUnknown && (ev.Prev >= ev.Seq && ev.Seq != 0 || ev.Seq == 0 && ev.Prev != 0) {
			return ev, fmt.Errorf("%w: prev %d must be below seq %d", ErrBadEnvelope, ev.Prev, ev.Seq)
		}
	}
	rest := env[fixed:]
	var pub, host []byte
	if pub, rest, err = shortString(rest, "publisher id"); err != nil {
		return ev, err
	}
	if host, rest, err = shortString(rest, "host"); err != nil {
		return ev, err
	}
	if len(rest) != 0 {
		return ev, fmt.Errorf("%w: %d trailing bytes", ErrBadEnvelope, len(rest))
	}
	if !utf8.Valid(pub) || !utf8.Valid(host) {
		return ev, fmt.Errorf("%w in publisher id or host", ErrBadUTF8)
	}
	ev.Publisher, ev.Host = string(pub), string(host)

	if !utf8.Valid(frames[2]) {
		return ev, fmt.Errorf("%w in message", ErrBadUTF8)
	}
	ev.Message = string(frames[2])

	if len(frames) >= 4 {
		if ev.Fields, err = decodeFieldsFrame(frames[3], env[3]); err != nil {
			return ev, err
		}
	}
	if len(frames) == 5 {
		if ev.Labels, err = decodeStrings(frames[4], "label", MaxLabels); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

// decodeFieldsFrame reads the fields of a given wire version; an empty
// frame (before labels) is no fields.
func decodeFieldsFrame(b []byte, version byte) (Fields, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if version == WireVersion {
		return decodeTyped(b)
	}
	m, err := decodeStrings(b, "field", MaxFields)
	if err != nil {
		return nil, err
	}
	f := make(Fields, len(m))
	for k, v := range m {
		f[k] = v
	}
	return f, nil
}

func shortString(b []byte, what string) (s, rest []byte, err error) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, fmt.Errorf("%w: %s length runs past the end", ErrBadEnvelope, what)
	}
	n := int(b[0])
	return b[1 : 1+n], b[1+n:], nil
}
