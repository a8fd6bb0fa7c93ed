// Command zlog-tcpsend sends a deterministic workload as LF-framed syslog
// (RFC 5424) lines over TCP as fast as the receiver takes them: the fast
// sender for benchmarking rsyslog and syslog-ng against zlog.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/zlog/zlog/tests/workload"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:514", "receiver TCP address")
	count := flag.Int("count", 1000000, "lines to send")
	seed := flag.Uint64("seed", 1, "workload seed")
	window := flag.Duration("window", 24*time.Hour, "timestamps spread over this window, ending now")
	flag.Parse()

	gen := workload.New(workload.Options{Seed: *seed, Count: *count, Window: *window, Start: time.Now().Add(-*window)})
	var data []byte
	for !gen.Done() {
		ev, _ := gen.Next()
		data = workload.RFC5424(data, &ev)
	}
	conn, err := net.Dial("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zlog-tcpsend:", err)
		os.Exit(1)
	}
	start := time.Now()
	w := bufio.NewWriterSize(conn, 1<<20)
	_, err = w.Write(data)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "zlog-tcpsend:", err)
		os.Exit(1)
	}
	conn.Close()
	json.NewEncoder(os.Stdout).Encode(map[string]any{"lines": *count, "bytes": len(data), "send_seconds": time.Since(start).Seconds(), "start_unix_nano": start.UnixNano()})
}
