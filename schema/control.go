package schema

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Control frames travel upstream, from the collector's XSUB socket to every
// connected publisher (ZeroMQ delivers a non-subscription message sent on
// an XSUB to all its connections); each publisher keeps those naming
// itself. Each is one frame starting with a 3-byte magic and a version:
//
//	ack        "ZLA" 0x01 | u8 len, publisher | repeated (u8 len, topic | uint64 hwm)
//	reject     "ZLR" 0x01 | u8 len, publisher | u8 len, topic | uint64 seq | u16 len, reason
//	nack       "ZLN" 0x01 | u8 len, publisher | u8 len, topic | uint64 hwm
//	heartbeat  "ZLH" 0x01 | uint64 backlog
//
// Publishers ignore frames they do not know, so new kinds can be added
// without breaking older publishers.

// Stream identifies a sequence of events: one publisher's events on one topic.
type Stream struct {
	Publisher string
	Topic     string
}

// Ack tells one publisher, per topic, the highest sequence number the
// collector has stored durably (files written and index committed).
type Ack struct {
	Publisher string
	HWM       map[string]uint64 // topic -> highest durable seq
}

// Reject tells a publisher the collector will never store one event (over
// its size limit, invalid UTF-8, bad fields): the stream moves past it, and
// the publisher drops it and counts it with Reason.
type Reject struct {
	Publisher string
	Topic     string
	Seq       uint64
	Reason    string
}

// Nack tells a publisher the collector dropped an event of a stream because
// an earlier one is missing: it holds the stream up to HWM, and what follows
// must be sent again from there.
type Nack struct {
	Publisher string
	Topic     string
	HWM       uint64
}

// Heartbeat is the collector saying, once a second, that it is alive and
// how many events it has received and not yet stored. While that backlog is
// not empty, a publisher's unacknowledged events are waiting in it and
// resending them would only add load.
type Heartbeat struct {
	Backlog uint64
}

const (
	ackMagic       = "ZLA"
	rejectMagic    = "ZLR"
	nackMagic      = "ZLN"
	heartbeatMagic = "ZLH"
	controlVersion = 1
	maxReasonLen   = 1024
)

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
	b := append([]byte(ackMagic), controlVersion, byte(len(a.Publisher)))
	b = append(b, a.Publisher...)
	for _, t := range topics {
		b = append(b, byte(len(t)))
		b = append(b, t...)
		b = binary.BigEndian.AppendUint64(b, a.HWM[t])
	}
	return b, nil
}

// EncodeReject returns the reject frame; a reason longer than 1 KiB is cut.
func EncodeReject(r Reject) ([]byte, error) {
	b, err := streamFrame(rejectMagic, r.Publisher, r.Topic)
	if err != nil {
		return nil, err
	}
	reason := r.Reason
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint16(b, uint16(len(reason)))
	return append(b, reason...), nil
}

// EncodeNack returns the nack frame.
func EncodeNack(n Nack) ([]byte, error) {
	b, err := streamFrame(nackMagic, n.Publisher, n.Topic)
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint64(b, n.HWM), nil
}

// EncodeHeartbeat returns the heartbeat frame.
func EncodeHeartbeat(h Heartbeat) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(heartbeatMagic), controlVersion), h.Backlog)
}

func streamFrame(magic, publisher, topic string) ([]byte, error) {
	if len(publisher) == 0 || len(publisher) > MaxPublisherLen || len(topic) > 255 {
		return nil, fmt.Errorf("%w: publisher id of %d bytes or topic of %d", ErrBadEnvelope, len(publisher), len(topic))
	}
	b := append([]byte(magic), controlVersion, byte(len(publisher)))
	b = append(b, publisher...)
	b = append(b, byte(len(topic)))
	return append(b, topic...), nil
}

// IsAck reports whether a frame received by a publisher is an ack (rather
// than a ZeroMQ subscription message, whose first byte is 0 or 1).
func IsAck(frame []byte) bool { return len(frame) >= 4 && string(frame[:3]) == ackMagic }

// IsControl reports whether a frame is any control frame; subscription
// messages start with 0 or 1 and never match.
func IsControl(frame []byte) bool {
	if len(frame) < 4 {
		return false
	}
	switch string(frame[:3]) {
	case ackMagic, rejectMagic, nackMagic, heartbeatMagic:
		return true
	}
	return false
}

// DecodeControl parses a control frame into an Ack, Reject, Nack or
// Heartbeat.
func DecodeControl(frame []byte) (any, error) {
	if !IsControl(frame) {
		return nil, fmt.Errorf("%w: not a control frame", ErrBadEnvelope)
	}
	if frame[3] != controlVersion {
		return nil, fmt.Errorf("%w %d in a %q frame", ErrBadVersion, frame[3], frame[:3])
	}
	switch string(frame[:3]) {
	case ackMagic:
		return DecodeAck(frame)
	case heartbeatMagic:
		if len(frame) != 12 {
			return nil, fmt.Errorf("%w: heartbeat of %d bytes", ErrBadEnvelope, len(frame))
		}
		return Heartbeat{Backlog: binary.BigEndian.Uint64(frame[4:])}, nil
	}
	pub, rest, err := shortString(frame[4:], "publisher id")
	if err != nil {
		return nil, err
	}
	topic, rest, err := shortString(rest, "topic")
	if err != nil {
		return nil, err
	}
	if len(rest) < 8 {
		return nil, fmt.Errorf("%w: sequence number runs past the end", ErrBadEnvelope)
	}
	seq := binary.BigEndian.Uint64(rest)
	rest = rest[8:]
	if string(frame[:3]) == nackMagic {
		if len(rest) != 0 {
			return nil, fmt.Errorf("%w: %d trailing bytes in a nack", ErrBadEnvelope, len(rest))
		}
		return Nack{Publisher: string(pub), Topic: string(topic), HWM: seq}, nil
	}
	if len(rest) < 2 || len(rest)-2 != int(binary.BigEndian.Uint16(rest)) {
		return nil, fmt.Errorf("%w: reject reason length", ErrBadEnvelope)
	}
	return Reject{Publisher: string(pub), Topic: string(topic), Seq: seq, Reason: string(rest[2:])}, nil
}

// DecodeAck parses an ack frame.
func DecodeAck(frame []byte) (Ack, error) {
	var a Ack
	if !IsAck(frame) {
		return a, fmt.Errorf("%w: missing %q marker", ErrBadEnvelope, ackMagic)
	}
	if frame[3] != controlVersion {
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
