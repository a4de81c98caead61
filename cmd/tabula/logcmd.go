package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/profile/rekorv2"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

// The data directory's key files: the Rekor v1 logs' (ECDSA P-256, which
// every Sigstore client verifies SETs with) and the Rekor v2 logs' (Ed25519,
// which the witness network requires).
const (
	v1KeyFile = "log-key.pem"
	v2KeyFile = "log-key-v2.pem"
)

// runLog is `tabula log <list|create|rotate>`: the operator's tools for the
// logs of a database. They talk to the database, not to a server: every
// server on the database follows what they do.
func runLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "vkeys" && args[0] != "create" && args[0] != "rotate") {
		fmt.Fprintln(stderr, "Usage: tabula log list   [--data-dir D | --database-url URL]")
		fmt.Fprintln(stderr, "       tabula log vkeys  [--data-dir D | --database-url URL]")
		fmt.Fprintln(stderr, "       tabula log create --api v2 --origin HOST [--key FILE] [--data-dir D | --database-url URL]")
		fmt.Fprintln(stderr, "       tabula log rotate [--api v1] [--hostname H] [--key FILE] [--data-dir D | --database-url URL]")
		fmt.Fprintln(stderr, "       tabula log rotate --api v2 --origin HOST [--key FILE] [--data-dir D | --database-url URL]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return errUsage
	}
	fs := flag.NewFlagSet("log "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &serveConfig{}
	fs.StringVar(&c.DataDir, "data-dir", "./tabula-data", "data directory of the embedded database")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; empty: the embedded database")
	var apiVersion, hostname, origin string
	readOnly := args[0] == "list" || args[0] == "vkeys"
	if !readOnly {
		fs.StringVar(&apiVersion, "api", "v1", "the API of the log: v1 (Rekor v1) or v2 (Rekor v2)")
		fs.StringVar(&c.Key, "key", "", "private key (PEM) of the new log: every server must hold it (--key, --v2-key) "+
			"(empty: the data directory's "+v1KeyFile+" for v1, "+v2KeyFile+" for v2, an Ed25519 key created if missing)")
		fs.StringVar(&hostname, "hostname", "", "v1: the new log's hostname, its origin's first part (empty: the frozen log's)")
		fs.StringVar(&origin, "origin", "", "v2: the new log's origin, a hostname no log of the database has (e.g. log2026-1.tabula.example)")
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if apiVersion != "" && apiVersion != "v1" && apiVersion != "v2" {
		return fmt.Errorf("--api %q: want v1 or v2", apiVersion)
	}
	if args[0] == "create" && apiVersion != "v2" {
		return errors.New("a Rekor v1 log is created by `tabula serve` on its first start; `log create` makes v2 logs (--api v2)")
	}
	set, _, err := openStorage(ctx, c)
	if err != nil {
		return err
	}
	defer set.Close()
	switch args[0] {
	case "list":
		return listLogs(ctx, set, stdout)
	case "vkeys":
		return printVKeys(ctx, set, stdout)
	}
	key, err := logKey(c, apiVersion)
	if err != nil {
		return err
	}
	var old, next storage.LogInfo
	switch {
	case args[0] == "create":
		if next, err = rekorv2.Create(ctx, set, key, origin); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created log %d (%s), the active %s log\n", next.TreeID, next.Origin, next.Profile)
		return nil
	case apiVersion == "v2":
		old, next, err = rekorv2.Rotate(ctx, set, key, origin)
	default:
		old, next, err = rekorv1.Rotate(ctx, set, key, hostname)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "froze log %d (%s) at size %d\n", old.TreeID, old.Origin, next.StartIndex-old.StartIndex)
	if apiVersion == "v2" {
		// Rekor v2 has no virtual index: each log's indexes are its own.
		fmt.Fprintf(stdout, "created log %d (%s): the active %s log\n", next.TreeID, next.Origin, next.Profile)
		return nil
	}
	fmt.Fprintf(stdout, "created log %d (%s): the active log from virtual index %d\n", next.TreeID, next.Origin, next.StartIndex)
	return nil
}

// logKey loads --key, or the data directory's key of the API's logs: the
// v1 one must exist (serve made it), the v2 one is created if missing.
func logKey(c *serveConfig, apiVersion string) (*signer.Local, error) {
	switch {
	case c.Key != "":
		return signer.LoadFile(c.Key)
	case apiVersion == "v2":
		priv := filepath.Join(c.DataDir, v2KeyFile)
		s, _, err := signer.LoadOrCreateAlg(priv, publicKeyPath(priv), signer.Ed25519)
		return s, err
	}
	return signer.LoadFile(filepath.Join(c.DataDir, v1KeyFile))
}

// listLogs prints the logs of the set, oldest first.
func listLogs(ctx context.Context, set storage.LogSet, stdout io.Writer) error {
	logs, err := set.Logs(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TREE ID\tPROFILE\tSTATE\tSTART INDEX\tSIZE\tCREATED\tORIGIN")
	for _, l := range logs {
		size := l.FinalSize
		if l.State == storage.LogActive {
			s, err := set.OpenLog(ctx, l.TreeID)
			if err != nil {
				return err
			}
			st, err := s.LatestTreeState(ctx)
			if err != nil {
				return fmt.Errorf("log %d: %w", l.TreeID, err)
			}
			size = st.Size
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", l.TreeID, l.Profile, l.State, l.StartIndex, size,
			l.CreatedAt.UTC().Format(time.RFC3339), l.Origin)
	}
	return tw.Flush()
}

// printVKeys prints the logs of the set as a witness log list (the
// witness-network log-list format, logs/v0, that `tabula witness --logs`
// reads): each log's checkpoint verifier key and origin, oldest first. A
// log whose public key is not stored yet (one migrated from a one-tree
// database that no server has started) is left out.
func printVKeys(ctx context.Context, set storage.LogSet, stdout io.Writer) error {
	logs, err := set.Logs(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "logs/v0")
	for _, l := range logs {
		if len(l.PublicKey) == 0 {
			continue
		}
		vkey, err := logVKey(l)
		if err != nil {
			return fmt.Errorf("log %d: %w", l.TreeID, err)
		}
		fmt.Fprintf(stdout, "vkey %s\norigin %s\n", vkey, l.Origin)
	}
	return nil
}

// logVKey is the vkey of a stored log's checkpoint key, under the key name
// and key ID form of its profile.
func logVKey(l storage.LogInfo) (string, error) {
	var p log.Profile
	switch l.Profile {
	case rekorv1.Name:
		p = rekorv1.LogProfiles("")(l)
	case rekorv2.Name:
		p = rekorv2.LogProfiles(l)
	default:
		return "", fmt.Errorf("profile %q has no checkpoint key form", l.Profile)
	}
	pub, err := x509.ParsePKIXPublicKey(l.PublicKey)
	if err != nil {
		return "", fmt.Errorf("stored public key: %w", err)
	}
	return checkpoint.VKey(p.KeyName, p.KeyIDForm, pub)
}
