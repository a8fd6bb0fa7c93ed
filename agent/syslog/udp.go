package syslog

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// sizeReceiveBuffer asks for Options.ReceiveBuffer on the UDP socket.
// Linux caps the request at net.core.rmem_max unless the process may force
// it (as root); the size the kernel gives is logged either way.
func (s *Server) sizeReceiveBuffer() {
	conn, ok := s.udp.(*net.UDPConn)
	if !ok {
		return
	}
	want := s.opts.ReceiveBuffer
	if err := conn.SetReadBuffer(want); err != nil {
		s.logger.Warn("udp receive buffer not set", "err", err)
	}
	got, err := s.receiveBuffer()
	if err == nil && got/2 < want && os.Geteuid() == 0 {
		s.control(func(fd int) { syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, want) })
		got, err = s.receiveBuffer()
	}
	if err != nil {
		s.logger.Warn("udp receive buffer size unknown", "err", err)
		return
	}
	// Linux reports twice what it grants for data: the rest is its
	// bookkeeping.
	if got/2 < want {
		s.logger.Warn("udp receive buffer smaller than asked: bursts may be dropped by the kernel; raise net.core.rmem_max or run as root",
			"asked_bytes", want, "kernel_bytes", got)
		return
	}
	s.logger.Info("udp receive buffer", "asked_bytes", want, "kernel_bytes", got)
}

func (s *Server) control(f func(fd int)) error {
	raw, err := s.udp.(*net.UDPConn).SyscallConn()
	if err != nil {
		return err
	}
	return raw.Control(func(fd uintptr) { f(int(fd)) })
}

func (s *Server) receiveBuffer() (size int, err error) {
	cerr := s.control(func(fd int) { size, err = syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF) })
	if cerr != nil {
		return 0, cerr
	}
	return size, err
}

// KernelDrops is how many datagrams the kernel dropped for this UDP
// listener because its receive buffer was full, from /proc/net/udp (or
// udp6); 0 for TCP listeners. After the socket closed it is the last count
// read, which Run reads as it closes the socket.
func (s *Server) KernelDrops() (uint64, error) {
	if s.udp == nil {
		return 0, nil
	}
	n, err := s.readKernelDrops()
	if err != nil {
		return s.lastDrops.Load(), err
	}
	s.lastDrops.Store(n)
	return n, nil
}

func (s *Server) readKernelDrops() (uint64, error) {
	var inode uint64
	var statErr error
	if err := s.control(func(fd int) {
		var st syscall.Stat_t
		statErr = syscall.Fstat(fd, &st)
		inode = st.Ino
	}); err != nil {
		return 0, err
	}
	if statErr != nil {
		return 0, statErr
	}
	for _, table := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		if drops, found, err := socketDrops(table, inode); err != nil || found {
			return drops, err
		}
	}
	return 0, fmt.Errorf("socket inode %d not in /proc/net/udp", inode)
}

// socketDrops reads the drops column of a socket's row in a /proc/net/udp
// table: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops.
func socketDrops(table string, inode uint64) (drops uint64, found bool, err error) {
	f, err := os.Open(table)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	want := strconv.FormatUint(inode, 10)
	for sc.Scan() {
		cols := strings.Fields(sc.Text())
		if len(cols) >= 13 && cols[9] == want {
			drops, err = strconv.ParseUint(cols[12], 10, 64)
			return drops, true, err
		}
	}
	return 0, false, sc.Err()
}
