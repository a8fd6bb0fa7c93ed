package schema

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"time"
	"unicode/utf8"
)

// Wire format, version 2 (see README.md for the byte-level description).
//
//	frame 0  topic     "<service>.<level>", ASCII
//	frame 1  envelope  "ZLG" 0x02 | int64 time ns | uint64 seq | uint64 prev | u8 len publisher | u8 len host
//	frame 2  message   UTF-8 text
//	frame 3  fields    optional: repeated (u16 key len, key, u32 value len, value)
//
// Version 1 is the same without prev; it is still decoded (prev is then
// PrevUnknown). The topic comes first because ZeroMQ matches subscriptions
// against the first frame, so XPUB/XSUB prefix filtering works on
// "<service>.<level>".
const (
	WireVersion     = 2
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
	for k, v := range ev.Fields {
		n += 6 + len(k) + len(v)
	}
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
	dst = dst[:0]
	dst = append(dst, []byte(ev.Topic()))

	env := make([]byte, 0, envelopeFixed+2+len(ev.Publisher)+len(ev.Host))
	env = append(env, envelopeMagic...)
	env = append(env, WireVersion)
	var ns int64
	if !ev.Time.IsZero() {
		ns = ev.Time.UnixNano()
	}
	env = binary.BigEndian.AppendUint64(env, uint64(ns))
	env = binary.BigEndian.AppendUint64(env, ev.Seq)
	env = binary.BigEndian.AppendUint64(env, ev.Prev)
	env = append(env, byte(len(ev.Publisher)))
	env = append(env, ev.Publisher...)
	env = append(env, byte(len(ev.Host)))
	env = append(env, ev.Host...)
	dst = append(dst, env, []byte(ev.Message))

	if len(ev.Fields) > 0 {
		keys := make([]string, 0, len(ev.Fields))
		size := 0
		for k, v := range ev.Fields {
			if len(k) > MaxFieldKeyLen || len(v) > 1<<31 {
				return dst[:0], fmt.Errorf("%w: key %q or its value too long", ErrBadField, truncate(k, 80))
			}
			keys = append(keys, k)
			size += 6 + len(k) + len(v)
		}
		sort.Strings(keys) // deterministic bytes: golden vectors, dedup
		f := make([]byte, 0, size)
		for _, k := range keys {
			v := ev.Fields[k]
			f = binary.BigEndian.AppendUint16(f, uint16(len(k)))
			f = append(f, k...)
			f = binary.BigEndian.AppendUint32(f, uint32(len(v)))
			f = append(f, v...)
		}
		dst = append(dst, f)
	}
	return dst, nil
}

// SetPrev rewrites the prev of frames Encode made, in place. A publisher
// knows an event's prev (the previous event of its stream it still holds)
// only when it sends it, while the frames were encoded (and spooled) when
// the event was published.
func SetPrev(frames [][]byte, prev uint64) {
	if len(frames) > 1 && len(frames[1]) >= envelopeFixed && frames[1][3] == WireVersion {
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
	case WireVersion:
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
	if len(frames) != 3 && len(frames) != 4 {
		return ev, fmt.Errorf("%w: got %d, want 3 or 4", ErrFrameCount, len(frames))
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
	case WireVersion:
	case wireVersion1:
		fixed = envelopeFixedV1
	default:
		return ev, fmt.Errorf("%w %d (this collector speaks 1 and %d)", ErrBadVersion, env[3], WireVersion)
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

	if len(frames) == 4 {
		if ev.Fields, err = decodeFields(frames[3]); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

func shortString(b []byte, what string) (s, rest []byte, err error) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, fmt.Errorf("%w: %s length runs past the end", ErrBadEnvelope, what)
	}
	n := int(b[0])
	return b[1 : 1+n], b[1+n:], nil
}

func decodeFields(b []byte) (map[string]string, error) {
	fields := make(map[string]string)
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: truncated key length", ErrBadField)
		}
		kl := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if len(b) < kl+4 {
			return nil, fmt.Errorf("%w: key runs past the end", ErrBadField)
		}
		key := string(b[:kl])
		if err := validateFieldKey(key); err != nil {
			return nil, err
		}
		b = b[kl:]
		vl := int(binary.BigEndian.Uint32(b))
		b = b[4:]
		if vl < 0 || len(b) < vl {
			return nil, fmt.Errorf("%w: value of %q runs past the end", ErrBadField, key)
		}
		if !utf8.Valid(b[:vl]) {
			return nil, fmt.Errorf("%w in value of field %q", ErrBadUTF8, key)
		}
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("%w: key %q repeated", ErrBadField, key)
		}
		if len(fields) == MaxFields {
			return nil, fmt.Errorf("%w: more than %d fields", ErrBadField, MaxFields)
		}
		fields[key] = string(b[:vl])
		b = b[vl:]
	}
	return fields, nil
}
