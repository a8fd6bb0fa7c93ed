package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/schema"
)

const tailUsage = `Usage: logq tail [flags] [words...]

Prints events live as the collector receives them. It subscribes on the
collector's XPUB socket with topic prefixes, so --service (and --level with
--service) filter at the collector; --topic subscribes to its prefix; other
filters and words (case-insensitive, all must appear in the message or a
field) apply here. It reconnects by itself when the collector restarts.

Examples:
  logq tail --service api --level warn
  logq tail --topic downcase timeout -o json

Flags:
`

func runTail(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logq tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, `run "logq tail --help" for usage`) }
	xpub := fs.String("xpub", "tcp://127.0.0.1:4445", "collector XPUB endpoint")
	var services listFlag
	fs.Var(&services, "service", "only this service (repeatable)")
	topic := fs.String("topic", "", "only topics (<service>.<level>) starting with this prefix")
	host := fs.String("host", "", "only this host")
	level := fs.String("level", "", "minimum level: trace, debug, info, warn, error, fatal")
	output := fs.String("output", "text", "text, json or raw")
	fs.StringVar(output, "o", "text", "shorthand for --output")
	limit := fs.Int("limit", 0, "exit after this many events (0: until interrupted)")
	words, code, done := parseCommand(fs, args, stdout, tailUsage)
	if done {
		return code
	}
	fail := failer(stderr)
	var err error
	minLevel := schema.LevelTrace
	if *level != "" {
		if minLevel, err = schema.ParseLevel(*level); err != nil {
			return fail("flag --level: %v", err)
		}
	}
	for _, s := range services {
		if err := schema.ValidateService(s); err != nil {
			return fail("flag --service: %v", err)
		}
	}
	write, err := eventWriter(*output)
	if err != nil {
		return fail("%v", err)
	}
	if *limit < 0 {
		return fail("flag --limit: %d is negative", *limit)
	}
	sub, err := subscribe(*xpub, subscriptions(services, *topic, minLevel))
	if err != nil {
		return fail("%v", err)
	}
	defer sub.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lowered := make([]string, len(words))
	for i, w := range words {
		lowered[i] = strings.ToLower(w)
	}
	keep := func(ev *schema.Event) bool {
		if ev.Level < minLevel || (*host != "" && ev.Host != *host) || !strings.HasPrefix(ev.Topic(), *topic) {
			return false
		}
		if len(services) > 0 && !slices.Contains(services, ev.Service) {
			return false
		}
		return containsWords(ev, lowered)
	}
	out := bufio.NewWriter(stdout)
	poller := zmq.NewPoller()
	poller.Add(sub, zmq.POLLIN)
	n := 0
	for ctx.Err() == nil {
		polled, err := poller.Poll(200 * time.Millisecond)
		if err != nil || len(polled) == 0 {
			continue // EINTR on a signal, or nothing yet
		}
		frames, err := sub.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			continue
		}
		ev, err := schema.Decode(frames, schema.DefaultMaxEvent)
		if err != nil || !keep(&ev) {
			continue // only the collector publishes here, and it forwards only valid events
		}
		if err := write(out, &ev); err != nil {
			return fail("write output: %v", err)
		}
		if err := out.Flush(); err != nil {
			return exitMatch // the reader went away (e.g. | head)
		}
		if n++; *limit > 0 && n >= *limit {
			break
		}
	}
	return exitMatch
}

// subscriptions are the topic prefixes to subscribe to: per service, with a
// level its exact topics; else the --topic prefix; else everything.
func subscriptions(services []string, topic string, minLevel schema.Level) []string {
	if len(services) == 0 {
		return []string{topic}
	}
	var subs []string
	for _, s := range services {
		if minLevel <= schema.LevelTrace {
			subs = append(subs, s+".")
			continue
		}
		for _, l := range schema.Levels() {
			if l >= minLevel {
				subs = append(subs, s+"."+l.String())
			}
		}
	}
	return subs
}

func subscribe(endpoint string, prefixes []string) (*zmq.Socket, error) {
	sock, err := zmq.NewSocket(zmq.SUB)
	if err != nil {
		return nil, fmt.Errorf("zeromq socket: %w", err)
	}
	for _, set := range []error{
		sock.SetReconnectIvl(100 * time.Millisecond),
		sock.SetReconnectIvlMax(2 * time.Second),
		// Heartbeats notice a collector that vanished without closing the
		// connection, so the socket reconnects instead of waiting forever.
		sock.SetHeartbeatIvl(2 * time.Second),
		sock.SetHeartbeatTimeout(6 * time.Second),
		sock.SetLinger(0),
	} {
		if set != nil {
			sock.Close()
			return nil, fmt.Errorf("configure socket: %w", set)
		}
	}
	for _, p := range prefixes {
		if err := sock.SetSubscribe(p); err != nil {
			sock.Close()
			return nil, fmt.Errorf("subscribe %q: %w", p, err)
		}
	}
	if err := sock.Connect(endpoint); err != nil {
		sock.Close()
		return nil, fmt.Errorf("flag --xpub: connect %q: %w", endpoint, err)
	}
	return sock, nil
}

// containsWords reports whether every lowered word appears in the message
// or a field value, ignoring case.
func containsWords(ev *schema.Event, lowered []string) bool {
	if len(lowered) == 0 {
		return true
	}
	text := strings.ToLower(ev.Message)
	for _, v := range ev.Fields {
		text += "\n" + strings.ToLower(v)
	}
	for _, w := range lowered {
		if !strings.Contains(text, strings.Trim(w, `"`)) {
			return false
		}
	}
	return true
}
