// Command zlog-tcpsend sends a deterministic workload as LF-framed lines
// (RFC 5424 syslog by default) over TCP as fast as the receiver takes them:
// the fast sender for benchmarking rsyslog and syslog-ng against zlog. With
// --file it writes the lines to a file instead, for tailing benchmarks.
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
	format := flag.String("format", "rfc5424", "line format: rfc5424, json, logfmt or logback")
	file := flag.String("file", "", "write the lines to this file instead of sending them")
	flag.Parse()
	render, ok := workload.Renderers[*format]
	if !ok {
		fmt.Fprintf(os.Stderr, "zlog-tcpsend: unknown --format %q\n", *format)
		os.Exit(2)
	}

	gen := workload.New(workload.Options{Seed: *seed, Count: *count, Window: *window, Start: time.Now().Add(-*window)})
	var data []byte
	for !gen.Done() {
		ev, _ := gen.Next()
		data = render(data, &ev)
	}
	if *file != "" {
		if err := os.WriteFile(*file, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "zlog-tcpsend:", err)
			os.Exit(1)
		}
		return
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
