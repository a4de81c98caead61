package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

// runLog is `tabula log <list|rotate>`: the operator's tools for the logs of
// a database. They talk to the database, not to a server: every server on
// the database follows what they do.
func runLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		fmt.Fprintln(stderr, "Usage: tabula log list   [--data-dir D | --database-url URL]")
		fmt.Fprintln(stderr, "       tabula log rotate [--data-dir D | --database-url URL] [--key FILE] [--hostname H]")
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
	var hostname string
	if args[0] == "rotate" {
		fs.StringVar(&c.Key, "key", "", "private key (PEM) of the new log: every server must hold it in its --key (empty: <data-dir>/log-key.pem, the key the embedded server made)")
		fs.StringVar(&hostname, "hostname", "", "the new log's hostname, its origin's first part (empty: the frozen log's)")
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	set, _, err := openStorage(ctx, c)
	if err != nil {
		return err
	}
	defer set.Close()
	if args[0] == "list" {
		return listLogs(ctx, set, stdout)
	}
	keyFile := c.Key
	if keyFile == "" {
		keyFile = filepath.Join(c.DataDir, "log-key.pem")
	}
	key, err := signer.LoadFile(keyFile)
	if err != nil {
		return err
	}
	return rotateLog(ctx, set, key, hostname, stdout)
}

// rotateLog freezes the active Rekor v1 log at its head and makes the next
// one, signed by key, in one transaction.
func rotateLog(ctx context.Context, set storage.LogSet, key *signer.Local, hostname string, stdout io.Writer) error {
	old, next, err := rekorv1.Rotate(ctx, set, key, hostname)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "froze log %d (%s) at size %d\n", old.TreeID, old.Origin, next.StartIndex-old.StartIndex)
	fmt.Fprintf(stdout, "created log %d (%s): the active log from virtual index %d\n", next.TreeID, next.Origin, next.StartIndex)
	return nil
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
