package schema

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"
)

// joinFrames packs frames as (u32 length, bytes)… so one fuzz input can hold
// a whole multipart message; splitFrames is its inverse for arbitrary input.
func joinFrames(frames [][]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func splitFrames(b []byte) [][]byte {
	var frames [][]byte
	for len(b) >= 4 && len(frames) < 8 {
		n := int(binary.BigEndian.Uint32(b))
		b = b[4:]
		if n > len(b) {
			n = len(b)
		}
		frames = append(frames, b[:n])
		b = b[n:]
	}
	return frames
}

// FuzzDecode: no input makes Decode panic, and whatever it accepts encodes
// back to frames that decode to the same event.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"minimal", "full", "unicode"} {
		f.Add(joinFrames(readFrames(f, filepath.Join("testdata", "wire", name+".hex"))))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		frames := splitFrames(data)
		ev, err := Decode(frames, 0)
		if err != nil {
			return
		}
		again, err := Encode(nil, &ev)
		if err != nil {
			t.Fatalf("decoded event does not encode: %v (%+v)", err, ev)
		}
		ev2, err := Decode(again, 0)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if ev2.Message != ev.Message || ev2.Seq != ev.Seq || ev2.Host != ev.Host || !ev2.Time.Equal(ev.Time) || len(ev2.Fields) != len(ev.Fields) {
			t.Fatalf("round trip changed the event: %+v vs %+v", ev, ev2)
		}
	})
}

// FuzzDecodeAck: no input makes DecodeAck panic; accepted acks round-trip.
func FuzzDecodeAck(f *testing.F) {
	f.Add(readFrames(f, filepath.Join("testdata", "wire", "ack.hex"))[0])
	f.Add([]byte("ZLA\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeAck(data)
		if err != nil || a.Publisher == "" {
			return
		}
		frame, err := EncodeAck(a)
		if err != nil {
			return // e.g. a topic repeated in the input collapses in the map
		}
		b, err := DecodeAck(frame)
		if err != nil || len(b.HWM) != len(a.HWM) || !bytes.Equal([]byte(b.Publisher), []byte(a.Publisher)) {
			t.Fatalf("ack round trip: %+v vs %+v (%v)", a, b, err)
		}
	})
}
