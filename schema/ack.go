package schema

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Stream identifies a sequence of events: one publisher's events on one topic.
type Stream struct {
	Publisher string
	Topic     string
}

// Ack tells one publisher, per topic, the highest sequence number the
// collector has stored durably (files written and index committed). The
// collector sends it upstream on its XSUB socket, which ZeroMQ delivers to
// every connected publisher; each keeps only those naming itself.
//
//	"ZLA" 0x01 | u8 len, publisher | repeated (u8 len, topic | uint64 hwm)
type Ack struct {
	Publisher string
	HWM       map[string]uint64 // topic -> highest durable seq
}

const ackMagic = "ZLA"

// EncodeAck returns the single ack frame; topics are sorted so the bytes are
// deterministic.
func EncodeAck(a Ack) ([]byte, error) {
	if len(a.Publisher) == 0 || len(a.Publisher) > MaxPublisherLen {
		return nil, fmt.Errorf("%w: ack publisher id of %d bytes", ErrBadEnvelope, len(a.Publisher))
	}
	topics := make([]string, 0, len(a.HWM))
	for t := range a.HWM {
		if len(t) > 255 {
			return nil, fmt.Errorf("%w: topic %q too long", ErrBadTopic, truncate(t, 80))
		}
		topics = append(topics, t)
	}
	sort.Strings(topics)
	b := append([]byte(ackMagic), WireVersion, byte(len(a.Publisher)))
	b = append(b, a.Publisher...)
	for _, t := range topics {
		b = append(b, byte(len(t)))
		b = append(b, t...)
		b = binary.BigEndian.AppendUint64(b, a.HWM[t])
	}
	return b, nil
}

// IsAck reports whether a frame received by a publisher is an ack (rather
// than a ZeroMQ subscription message, whose first byte is 0 or 1).
func IsAck(frame []byte) bool { return len(frame) >= 4 && string(frame[:3]) == ackMagic }

// DecodeAck parses an ack frame.
func DecodeAck(frame []byte) (Ack, error) {
	var a Ack
	if !IsAck(frame) {
		return a, fmt.Errorf("%w: missing %q marker", ErrBadEnvelope, ackMagic)
	}
	if frame[3] != WireVersion {
		return a, fmt.Errorf("%w %d in ack", ErrBadVersion, frame[3])
	}
	pub, rest, err := shortString(frame[4:], "ack publisher id")
	if err != nil {
		return a, err
	}
	a.Publisher = string(pub)
	a.HWM = make(map[string]uint64)
	for len(rest) > 0 {
		var topic []byte
		if topic, rest, err = shortString(rest, "ack topic"); err != nil {
			return a, err
		}
		if len(rest) < 8 {
			return a, fmt.Errorf("%w: ack sequence number runs past the end", ErrBadEnvelope)
		}
		a.HWM[string(topic)] = binary.BigEndian.Uint64(rest)
		rest = rest[8:]
	}
	return a, nil
}
