package main

import (
	"flag"
	"fmt"
	"io"
)

// newFlagSet returns a client command's flag set: errors go to stderr, and
// -h prints usage (the synopsis and a description) followed by the flags.
func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}
