package spool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
)

type checkpoint struct {
	Seq     map[string]uint64 `json:"seq"`
	Cursors map[string][]byte `json:"cursors,omitempty"`
	// Acked: per topic, every event at or below is settled; a restart
	// does not resend those. Written by Ack at most once a second and at
	// Close, so a clean stop leaves nothing to resend.
	Acked map[string]uint64 `json:"acked,omitempty"`
}

type decoded struct {
	Record
	checkpoint checkpoint
}

// decodePayload returns the record and its kind, with the older kinds
// reported as their current equivalents.
func decodePayload(p []byte) (decoded, byte, error) {
	var d decoded
	switch p[0] {
	case kindCheckpointV1:
		if err := json.Unmarshal(p[1:], &d.checkpoint.Seq); err != nil {
			return d, 0, err
		}
		return d, kindCheckpoint, nil
	case kindCheckpoint:
		if err := json.Unmarshal(p[1:], &d.checkpoint); err != nil {
			return d, 0, err
		}
		return d, kindCheckpoint, nil
	case kindEventV1, kindEvent:
		b := p[1:]
		if len(b) < 9 {
			return d, 0, errors.New("short event record")
		}
		d.Seq = binary.BigEndian.Uint64(b)
		tl := int(b[8])
		b = b[9:]
		if len(b) < tl {
			return d, 0, errors.New("topic runs past the record")
		}
		d.Topic = string(b[:tl])
		b = b[tl:]
		if p[0] == kindEvent {
			if len(b) < 1 || len(b) < 1+int(b[0]) {
				return d, 0, errors.New("cursor key runs past the record")
			}
			d.Key = string(b[1 : 1+int(b[0])])
			b = b[1+int(b[0]):]
			if len(b) < 4 || uint64(len(b)-4) < uint64(binary.BigEndian.Uint32(b)) {
				return d, 0, errors.New("cursor runs past the record")
			}
			cl := int(binary.BigEndian.Uint32(b))
			d.Cursor = b[4 : 4+cl]
			b = b[4+cl:]
		}
		for len(b) > 0 {
			if len(b) < 4 {
				return d, 0, errors.New("frame length runs past the record")
			}
			fl := int(binary.BigEndian.Uint32(b))
			b = b[4:]
			if fl > len(b) {
				return d, 0, errors.New("frame runs past the record")
			}
			d.Frames = append(d.Frames, b[:fl])
			b = b[fl:]
		}
		return d, kindEvent, nil
	}
	return d, 0, fmt.Errorf("unknown record kind %d", p[0])
}

// eventRecordSize is the length appendEventRecord adds for r.
func eventRecordSize(r *Record) int {
	n := headerLen + 1 + 8 + 1 + len(r.Topic) + 1 + len(r.Key) + 4 + len(r.Cursor)
	for _, f := range r.Frames {
		n += 4 + len(f)
	}
	return n
}

// appendEventRecord appends r as a framed event record (kind 3): the
// header, then the payload, encoded in place.
func appendEventRecord(b []byte, r *Record) []byte {
	start := len(b)
	b = append(b, make([]byte, headerLen)...)
	b = append(b, kindEvent)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = append(b, byte(len(r.Topic)))
	b = append(b, r.Topic...)
	b = append(b, byte(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Cursor)))
	b = append(b, r.Cursor...)
	for _, f := range r.Frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	payload := b[start+headerLen:]
	binary.BigEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

// frameRecord puts the length and checksum header before a payload.
func frameRecord(payload []byte) []byte {
	buf := make([]byte, headerLen, headerLen+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[4:], crc32.Checksum(payload, castagnoli))
	return append(buf, payload...)
}

// parseRecord reads the record at the start of b: its decoded payload, kind
// and total length; ok is false when no valid record starts there.
func parseRecord(b []byte) (d decoded, kind byte, size int, ok bool) {
	if len(b) < headerLen {
		return d, 0, 0, false
	}
	n := binary.BigEndian.Uint32(b[:4])
	if n == 0 || n > maxRecord || uint64(len(b)-headerLen) < uint64(n) {
		return d, 0, 0, false
	}
	payload := b[headerLen : headerLen+int(n)]
	if k := payload[0]; k < kindEventV1 || k > kindCheckpoint {
		return d, 0, 0, false
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return d, 0, 0, false
	}
	d, kind, err := decodePayload(payload)
	if err != nil {
		return d, 0, 0, false
	}
	return d, kind, headerLen + int(n), true
}
