package parse

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/zlog/zlog/schema"
)

// Container runtimes wrap each line a container writes in a record of their
// own, and split long lines into several records:
//
//	docker (json-file):  {"log":"text\n","stream":"stdout","time":"2026-11-29T23:40:00.123456789Z"}
//	cri (containerd, CRI-O, Kubernetes):  2026-11-29T23:40:00.123456789Z stdout F text
//
// A docker record whose log does not end in a newline, and a CRI record
// tagged P, is part of a line that the next record continues.
const (
	Docker Format = "docker"
	CRI    Format = "cri"
)

// ContainerLine is one record of a container log: when and on which stream
// the container wrote Text (without its newline).
type ContainerLine struct {
	Time    time.Time
	Stream  string // stdout or stderr
	Text    []byte
	Partial bool // the next record continues this line
}

// ErrContainerRecord marks a line that is not a record of the format.
var ErrContainerRecord = errors.New("not a container log record")

// ContainerDecoder reads the records of one container log format. It is
// safe for concurrent use; Text refers to the decoder's or the line's
// memory only until the next call.
type ContainerDecoder struct {
	format Format
	json   fastjson.ParserPool
}

// NewContainerDecoder returns a decoder for docker or cri.
func NewContainerDecoder(f Format) (*ContainerDecoder, error) {
	if f != Docker && f != CRI {
		return nil, fmt.Errorf("container log format %q: want docker or cri", f)
	}
	return &ContainerDecoder{format: f}, nil
}

// Decode reads one record.
func (d *ContainerDecoder) Decode(b []byte) (ContainerLine, error) {
	if d.format == Docker {
		return d.docker(b)
	}
	return cri(b)
}

func (d *ContainerDecoder) docker(b []byte) (ContainerLine, error) {
	var l ContainerLine
	jp := d.json.Get()
	defer d.json.Put(jp)
	v, err := jp.ParseBytes(b)
	if err != nil {
		return l, fmt.Errorf("%w: %v", ErrContainerRecord, err)
	}
	logv := v.Get("log")
	if logv == nil || logv.Type() != fastjson.TypeString {
		return l, fmt.Errorf("%w: no \"log\" string", ErrContainerRecord)
	}
	text := logv.GetStringBytes()
	l.Text = append([]byte(nil), text...)
	if bytes.HasSuffix(l.Text, []byte("\n")) {
		l.Text = l.Text[:len(l.Text)-1]
	} else {
		l.Partial = true
	}
	l.Stream = string(v.GetStringBytes("stream"))
	if t, err := time.Parse(time.RFC3339Nano, string(v.GetStringBytes("time"))); err == nil {
		l.Time = t
	}
	return l, nil
}

func cri(b []byte) (ContainerLine, error) {
	var l ContainerLine
	stamp, rest, ok1 := bytes.Cut(b, []byte{' '})
	stream, rest, ok2 := bytes.Cut(rest, []byte{' '})
	tag, text, ok3 := bytes.Cut(rest, []byte{' '})
	if !ok3 && ok2 && len(rest) == 1 { // "… stdout F" with an empty line
		tag, text, ok3 = rest, nil, true
	}
	if !(ok1 && ok2 && ok3) || len(tag) == 0 {
		return l, fmt.Errorf("%w: want TIME STREAM P|F TEXT", ErrContainerRecord)
	}
	t, err := time.Parse(time.RFC3339Nano, string(stamp))
	if err != nil {
		return l, fmt.Errorf("%w: time %q", ErrContainerRecord, stamp)
	}
	// The tag is P or F, or P/F followed by ":"-separated extras.
	switch tag[0] {
	case 'P':
		l.Partial = true
	case 'F':
	default:
		return l, fmt.Errorf("%w: tag %q is not P or F", ErrContainerRecord, tag)
	}
	l.Time, l.Stream, l.Text = t, string(stream), text
	return l, nil
}

// Assembler joins the partial records of one file into whole lines,
// keeping at most max bytes of a line (Total counts them all).
type Assembler struct {
	max   int
	line  ContainerLine
	total int
	open  bool
}

// NewAssembler keeps at most max bytes of a line (and one more, so the
// parser sees that it was cut).
func NewAssembler(max int) *Assembler { return &Assembler{max: max} }

// Add takes the next record; when it ends a line, Add returns the line
// (with the time and stream of its first part) and its full length.
func (a *Assembler) Add(l ContainerLine) (whole ContainerLine, total int, done bool) {
	if !a.open {
		a.line = ContainerLine{Time: l.Time, Stream: l.Stream, Text: a.line.Text[:0]}
		a.total, a.open = 0, true
	}
	a.total += len(l.Text)
	if room := a.max + 1 - len(a.line.Text); room > 0 {
		a.line.Text = append(a.line.Text, l.Text[:min(len(l.Text), room)]...)
	}
	if l.Partial {
		return ContainerLine{}, 0, false
	}
	a.open = false
	return a.line, a.total, true
}

// Cut ends the open line where it got to (its last record never came).
func (a *Assembler) Cut() (line ContainerLine, total int) {
	a.open = false
	return a.line, a.total
}

// Pending reports whether a line has begun and not ended.
func (a *Assembler) Pending() bool { return a.open }

// containerID is the 64 hex digits a runtime names a container by.
var containerID = regexp.MustCompile(`^(.+)-([0-9a-f]{64})$`)

// KubernetesLabels names the pod, namespace and container of a Kubernetes
// node's container log file by its path:
//
//	/var/log/containers/<pod>_<namespace>_<container>-<id>.log
//	/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log
//
// and nil for other paths.
func KubernetesLabels(path string) schema.Labels {
	dir, base := filepath.Split(path)
	if name, ok := strings.CutSuffix(base, ".log"); ok {
		parts := strings.Split(name, "_")
		if m := containerID.FindStringSubmatch(name); len(parts) == 3 && m != nil {
			c := strings.TrimPrefix(m[1], parts[0]+"_"+parts[1]+"_")
			return schema.Labels{"pod": parts[0], "namespace": parts[1], "container": c}
		}
	}
	container := filepath.Base(dir)
	podDir := filepath.Base(filepath.Dir(filepath.Clean(dir)))
	if parts := strings.Split(podDir, "_"); len(parts) == 3 && filepath.Base(filepath.Dir(filepath.Dir(filepath.Clean(dir)))) == "pods" {
		return schema.Labels{"namespace": parts[0], "pod": parts[1], "container": container}
	}
	return nil
}
