package main

import (
	"errors"
	"fmt"
	"os"

	flag "github.com/spf13/pflag"

	"github.com/zlog/zlog/schema/keys"
)

const keygenUsage = `Usage: zlog-collector keygen [--force] NAME

Writes a new CURVE keypair: NAME.key (the secret key, mode 0600) and
NAME.pub (the public key). Make one for the collector and one per client;
give clients the collector's .pub, and list the clients' .pub files in the
collector's --authorized-keys.

Flags:
`

func runKeygen(args []string) int {
	fs := flag.NewFlagSet("zlog-collector keygen", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), keygenUsage); fs.PrintDefaults() }
	force := fs.Bool("force", false, "replace existing key files")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(fs.Output(), "zlog-collector keygen: %v (see --help)\n", err)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "zlog-collector keygen: want one NAME (writes NAME.key and NAME.pub)")
		return 2
	}
	pair, err := keys.Generate()
	if err == nil {
		err = keys.Write(fs.Arg(0), pair, *force)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "zlog-collector keygen: %v\n", err)
		return 1
	}
	fmt.Printf("wrote %s.key (secret, mode 0600) and %s.pub (public key %s)\n", fs.Arg(0), fs.Arg(0), pair.Public)
	return 0
}
