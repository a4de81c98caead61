package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tabularium/tabula/internal/loadgen"
)

// runBench is `tabula bench`: load a Rekor-compatible server through its
// HTTP API and report throughput and latency (see internal/loadgen).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "load" {
		return runBenchLoad(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "ceiling" {
		return runBenchCeiling(ctx, args[1:], stderr)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c loadgen.Config
	var keyFile string
	fs.StringVar(&c.Server, "server", "http://127.0.0.1:3000", "base URL of the Rekor-compatible server")
	fs.StringVar(&c.API, "api", loadgen.APIV1, "API to load: v1 (Rekor v1) or v2 (Rekor v2: writes to the active v2 log, its tiles under /api/v2/)")
	fs.StringVar(&c.Mode, "mode", loadgen.ModeWrite, "write, read-entry, read-proof, read-tile, search-email or mixed (v2: write, read-tile or mixed)")
	fs.IntVar(&c.Concurrency, "concurrency", 16, "concurrent workers")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "run length (when --count is 0)")
	fs.IntVar(&c.Count, "count", 0, "total operations (0: run for --duration)")
	fs.IntVar(&c.Entries, "entries", 100_000, "entries to pre-generate for a timed run with writes (the run ends if they run out)")
	fs.IntVar(&c.Keys, "keys", 16, "distinct signing keys the entries are spread over")
	fs.StringVar(&c.EntryKind, "entry-kind", loadgen.EntryHashedRekord, "kind of the entries written: hashedrekord or dsse (an in-toto statement in a DSSE envelope, ECDSA P-256)")
	fs.StringVar(&c.KeyKind, "key-type", loadgen.KeyECDSA, "entries' keys: ecdsa (P-256 public key), cert (P-256 with a Fulcio-style certificate) or ed25519")
	fs.IntVar(&c.VerifySample, "verify-sample", 100, "verify one good answer in N cryptographically (0: none, 1: all)")
	fs.StringVar(&c.Mix, "mix", "", "weights of the operations in --mode mixed (empty: "+loadgen.DefaultMix+"; v2: "+loadgen.DefaultMixV2+")")
	fs.StringVar(&keyFile, "public-key", "", "log public key (PEM) to verify against; empty: GET /api/v1/log/publicKey (v2: the active v2 log's key from GET /logs)")
	fs.BoolVar(&c.Ceiling, "ceiling", false, "the server is `tabula bench ceiling`: its inclusion proofs are dummies, so the sample verification checks the SET only")
	fs.StringVar(&c.SearchEmail, "search-email", "", "address --mode search-email searches; a %d in it becomes a number below --keys, at random (tabula bench load --key-type cert signs as load%d@tabula.invalid)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the load tool's own CPU profile of the run to this file")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "per-request timeout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return fmt.Errorf("--public-key: %w", err)
		}
		c.PublicKeyPEM = b
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	_, err := loadgen.Run(ctx, c, stdout)
	return err
}
