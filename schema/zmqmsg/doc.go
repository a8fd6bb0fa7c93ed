// Package zmqmsg moves whole ZeroMQ multipart messages across cgo in one
// call where zmq4 makes several per frame: the collector receives a batch
// of events per call and publishers send an event per call.
package zmqmsg

import (
	"errors"
	"reflect"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
)

// ErrNoSocket means the zmq4 socket's libzmq handle could not be found:
// zmq4 changed its layout, and callers fall back to zmq4 frame by frame.
var ErrNoSocket = errors.New("zmqmsg: cannot reach the libzmq socket inside zmq4.Socket")

// handle reads zmq4.Socket's unexported libzmq pointer. zmq4 offers no
// accessor; the field's name and type are checked so a zmq4 that changed
// gives ErrNoSocket instead of a crash.
func handle(sock *zmq.Socket) (unsafe.Pointer, error) {
	if sock == nil {
		return nil, ErrNoSocket
	}
	f := reflect.ValueOf(sock).Elem().FieldByName("soc")
	if !f.IsValid() || f.Kind() != reflect.UnsafePointer || f.UnsafePointer() == nil {
		return nil, ErrNoSocket
	}
	return f.UnsafePointer(), nil
}
