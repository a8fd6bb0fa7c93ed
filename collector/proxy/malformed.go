package proxy

import (
	"errors"

	"github.com/zlog/zlog/schema"
)

var malformedReasons = []struct {
	err   error
	label string
}{
	{schema.ErrFrameCount, "frame_count"},
	{schema.ErrBadVersion, "version"},
	{schema.ErrBadEnvelope, "envelope"},
	{schema.ErrBadTopic, "topic"},
	{schema.ErrBadUTF8, "utf8"},
	{schema.ErrBadField, "field"},
	{schema.ErrTooLarge, "too_large"},
}

func malformedReason(err error) string {
	for _, r := range malformedReasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}
