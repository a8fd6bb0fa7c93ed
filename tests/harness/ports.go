package harness

import (
	"net"
	"sync"
	"testing"
)

// handedOut holds every port FreePort returned in this process: the kernel
// may give the same free port to two probes in a row, and two servers of
// one test told the same port fail at start-up (the second bind).
var handedOut struct {
	sync.Mutex
	ports map[string]bool
}

// FreePort returns a TCP port nothing listens on, on any address (Docker
// publishes on 0.0.0.0 and [::]), and that no earlier call returned.
func FreePort(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[string]bool{}
	}
	for {
		ln, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
}
