// Command zlog-plainhttp is the benchmark baseline for zlog-downcase: a plain
// net/http handler doing the same lowercasing, publishing nothing.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "HTTP listen address")
	flag.Parse()
	http.HandleFunc("GET /downcase/", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !q.Has("param") {
			http.Error(w, `missing query parameter "param"`, http.StatusBadRequest)
			return
		}
		p := q.Get("param")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("lower case of " + p + " is " + strings.ToLower(p)))
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("plainhttp ready addr=%s\n", ln.Addr())
	http.Serve(ln, nil)
}
