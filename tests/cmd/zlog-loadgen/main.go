// Command zlog-loadgen publishes a deterministic workload to a collector
// through the publisher library, for end-to-end tests and benchmarks.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/zlog/zlog/agent/publisher"
	"github.com/zlog/zlog/schema"
	"github.com/zlog/zlog/tests/workload"
)

func main() { os.Exit(run(os.Args[1:])) }

// awaitStart says the events are ready and waits for SIGUSR1. The signal
// is caught before saying so: its default would end the process.
func awaitStart() {
	start := make(chan os.Signal, 1)
	signal.Notify(start, syscall.SIGUSR1)
	defer signal.Stop(start)
	fmt.Println("zlog-loadgen: ready")
	<-start
}

func run(args []string) int {
	fs := flag.NewFlagSet("zlog-loadgen", flag.ContinueOnError)
	var po publisher.Options
	var wo workload.Options
	fs.StringVar(&po.Endpoint, "collector", "tcp://127.0.0.1:4444", "collector XSUB endpoint")
	fs.StringVar(&po.Publisher, "publisher-id", "", "publisher id")
	fs.IntVar(&po.QueueSize, "queue-size", 10000, "publisher queue size")
	fs.IntVar(&wo.Count, "count", 1000, "events in the whole stream (all parts)")
	fs.IntVar(&wo.Partition, "part", 0, "which part of the stream this process sends (0-based)")
	fs.IntVar(&wo.Parts, "parts", 1, "number of processes sharing the stream")
	fs.Uint64Var(&wo.Seed, "seed", 1, "random seed")
	fs.DurationVar(&wo.Window, "window", 24*time.Hour, "timestamps spread over this window, ending now")
	rate := fs.Int("rate", 0, "events per second for this process; 0 = as fast as possible")
	service := fs.String("service", "", "send every event as this service with message \"event <i>\" (tests)")
	services := fs.Int("services", 0, "with --service S, spread events round robin over services S-0 … S-<n-1>")
	stamp := fs.Bool("now", false, "stamp events with the send time instead of the workload's")
	firstAt := fs.String("start", "", "RFC 3339 time of the first event (default: now minus --window), so a test can generate the same events")
	fixed := fs.String("fixed-time", "", "stamp every event with this RFC 3339 time (many events sharing one timestamp)")
	timeout := fs.Duration("close-timeout", 30*time.Second, "how long Close may take to deliver the queue")
	pregen := fs.Bool("pregenerate", true, "generate all events before sending (keeps generation out of the measurement)")
	fs.StringVar(&po.Spool.Dir, "spool", "", "spool directory; with --service, a restart resumes after the last event spooled")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the sending (generation excluded) to this file")
	hold := fs.Bool("hold", false, "once the events are generated, print \"zlog-loadgen: ready\" and wait for SIGUSR1 before sending, so that several start together")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var fixedTime time.Time
	if *fixed != "" {
		var err error
		if fixedTime, err = time.Parse(time.RFC3339Nano, *fixed); err != nil {
			fmt.Fprintln(os.Stderr, "zlog-loadgen: --fixed-time:", err)
			return 2
		}
	}
	wo.Start = time.Now().Add(-wo.Window)
	if *firstAt != "" {
		var err error
		if wo.Start, err = time.Parse(time.RFC3339Nano, *firstAt); err != nil {
			fmt.Fprintln(os.Stderr, "zlog-loadgen: --start:", err)
			return 2
		}
	}
	pub, err := publisher.New(po, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "zlog-loadgen:", err)
		return 1
	}
	// Generate before the clock starts, so the measurement is of zlog and
	// not of fmt.Sprintf.
	gen := workload.New(wo)
	// With --service every event is "<service>.info", numbered i+1 in that
	// stream, so a restart with a spool knows which events it already took.
	skip := 0
	if *service != "" {
		skip = int(pub.LastSeq(*service + ".info"))
	}
	next := func() (schema.Event, bool) {
		for {
			if gen.Done() {
				return schema.Event{}, false
			}
			ev, i := gen.Next()
			if *service != "" {
				ev.Service, ev.Level, ev.Message, ev.Fields = *service, schema.LevelInfo, "event "+strconv.Itoa(i), nil
				if *services > 0 {
					ev.Service += "-" + strconv.Itoa(i%*services)
				}
				if i < skip {
					continue
				}
			}
			return ev, true
		}
	}
	if *pregen {
		var evs []schema.Event
		for ev, ok := next(); ok; ev, ok = next() {
			evs = append(evs, ev)
		}
		next = func() (schema.Event, bool) {
			if len(evs) == 0 {
				return schema.Event{}, false
			}
			ev := evs[0]
			evs = evs[1:]
			return ev, true
		}
	}
	if *hold {
		awaitStart()
	}
	ctx := context.Background()
	cpu0 := cpuSeconds()
	if *cpuProfile != "" {
		stop, err := profileCPU(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "zlog-loadgen: --cpuprofile:", err)
			return 2
		}
		defer stop()
	}
	start := time.Now()
	sent := 0
	for ev, ok := next(); ok; ev, ok = next() {
		switch {
		case !fixedTime.IsZero():
			ev.Time = fixedTime
		case *stamp:
			ev.Time = time.Now()
		}
		if err := pub.Publish(ctx, ev); err != nil {
			fmt.Fprintln(os.Stderr, "zlog-loadgen: publish:", err)
			return 1
		}
		sent++
		if *rate > 0 && sent%100 == 0 {
			if ahead := time.Duration(float64(sent)/float64(*rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	published := time.Since(start) // all handed to the publisher; Close waits for the acks
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	closeErr := pub.Close(cctx)
	elapsed := time.Since(start)
	st := pub.Stats()
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"published": sent, "sent": st.Sent, "acked": st.Acked, "resent": st.Resent, "dropped": st.Dropped,
		"start_unix_nano": start.UnixNano(), "seconds": elapsed.Seconds(), "publish_seconds": published.Seconds(),
		"events_per_second": float64(sent) / elapsed.Seconds(), "cpu_seconds": cpuSeconds() - cpu0,
	})
	if closeErr != nil {
		fmt.Fprintln(os.Stderr, "zlog-loadgen:", closeErr)
		return 1
	}
	return 0
}

// profileCPU starts a CPU profile into path; stop ends and writes it.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// cpuSeconds is this process's user+system CPU time so far: the output's
// cpu_seconds is what sending cost, generation excluded.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
