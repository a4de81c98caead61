// Command tabula is the one Tabula binary: the log server and its tools.
//
//	tabula serve         run the log (embedded SQLite by default, PostgreSQL with --database-url)
//	tabula keygen        write a new log signing key
//	tabula migrate       apply the database migrations and exit
//	tabula log           list the logs of the database, or rotate the active one
//	tabula bench         load a Rekor-compatible server and measure it
//	tabula trusted-root  print a Sigstore trusted root for the server's logs (or a log key)
//	tabula signing-config  print a Sigstore signing config naming the server's logs and TSA
//	tabula upload        log a signature or DSSE envelope
//	tabula get           print a log entry, verified
//	tabula search        find entries by artifact, key or email
//	tabula loginfo       the log's head, proven consistent with the last one seen
//	tabula verify        verify a Sigstore bundle or entry offline
//	tabula monitor       follow the log and alert on forks or watched identities
//	tabula audit         recompute the whole tree from the tiles
//	tabula witness       run a tlog-witness that cosigns other logs' checkpoints
//	tabula version       print the version
//
// Every flag of a command can also be set from the environment: --listen is
// TABULA_LISTEN, --batch-max-size is TABULA_BATCH_MAX_SIZE, and so on. A flag
// on the command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the log server", runServe},
		{"keygen", "write a new log signing key (PEM, mode 0600) and its public key", runKeygen},
		{"migrate", "apply the database migrations and exit", runMigrate},
		{"log", "list the database's logs (log list), or freeze the active log and start the next (log rotate)", runLog},
		{"bench", "load a Rekor-compatible server over HTTP and report throughput and latency", runBench},
		{"trusted-root", "print a Sigstore trusted root (JSON): the server's logs and timestamp authority, or a log key", runTrustedRoot},
		{"signing-config", "print a Sigstore signing config (JSON): the server's Rekor v1 and v2 logs and timestamp authority", runSigningConfig},
		{"monitor", "follow the log: prove each new checkpoint consistent, check new entries, alert on a lying log or a watched identity", runMonitor},
		{"audit", "re-read every entry, recompute the whole tree and check it against the signed checkpoint (resumable)", runAudit},
		{"upload", "log a signature or DSSE envelope; optionally write a Sigstore bundle", runUpload},
		{"get", "print a log entry by UUID or index, verified", runGet},
		{"search", "find entries by artifact, digest, public key or email", runSearch},
		{"loginfo", "print the log's size and root, proving consistency with the last seen", runLogInfo},
		{"verify", "verify a Sigstore bundle offline (inclusion, checkpoint, SET, certificate, signature)", runVerify},
		{"witness", "run a tlog-witness: cosign the checkpoints of the logs of a log list (witness vkey: print its vkey)", runWitness},
		{"version", "print the version", runVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Tabula: a transparency log for software signatures, compatible with Rekor.")
	fmt.Fprintln(w, "\nUsage: tabula <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w, "\nRun 'tabula <command> -h' for a command's flags. Every flag has a TABULA_* environment equivalent.")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		}
		fmt.Fprintf(stderr, "tabula %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "tabula: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

var errUsage = errors.New("usage")

// onCommandLine reports whether flag name was given in args (as -name,
// --name, -name=v or --name=v), as opposed to from the environment.
func onCommandLine(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// parseFlags fills unset flags from TABULA_* environment variables, then
// parses the command line, which wins.
func parseFlags(fs *flag.FlagSet, args []string) error {
	return parseFlagsEnv(fs, args, "TABULA_")
}

// parseFlagsEnv is parseFlags with the environment variables' prefix:
// `tabula witness` reads TABULA_WITNESS_*, so that it never takes a log
// server's TABULA_KEY or TABULA_LISTEN from a shared environment.
func parseFlagsEnv(fs *flag.FlagSet, args []string, prefix string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := prefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "tabula", version())
	return nil
}
