package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/verify"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	server string
	logKey string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	fs.StringVar(&c.server, "server", client.DefaultServer, "base URL of the log")
	fs.StringVar(&c.logKey, "log-key", "", "the log's public key (PEM) to pin; without it the key is fetched from --server (trust on first use)")
	return c
}

func (c *clientFlags) client() (*client.Client, error) {
	return client.New(c.server, client.WithUserAgent("tabula/"+version()))
}

// key returns the pinned log key, or the server's own with pinned false.
// With a state directory, a fetched key is remembered per server on first
// use and must not change afterwards (trust on first use, as ssh does).
func (c *clientFlags) key(ctx context.Context, cl *client.Client, stateDir string) (k verify.LogKey, pinned bool, err error) {
	if c.logKey != "" {
		b, err := os.ReadFile(c.logKey)
		if err != nil {
			return verify.LogKey{}, false, fmt.Errorf("reading --log-key: %w", err)
		}
		k, err := verify.ParseLogKeyPEM(b)
		return k, true, err
	}
	b, err := cl.PublicKey(ctx, "")
	if err != nil {
		return verify.LogKey{}, false, fmt.Errorf("fetching the log key: %w", err)
	}
	if k, err = verify.ParseLogKeyPEM(b); err != nil || stateDir == "" {
		return k, false, err
	}
	h := sha256.Sum256([]byte(cl.Server()))
	path := filepath.Join(stateDir, "keys", hex.EncodeToString(h[:8])+".pem")
	saved, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := writeFileAtomic(path, b); err != nil {
			return verify.LogKey{}, false, fmt.Errorf("remembering the log key: %w", err)
		}
	case err != nil:
		return verify.LogKey{}, false, fmt.Errorf("reading the remembered log key: %w", err)
	default:
		old, err := verify.ParseLogKeyPEM(saved)
		if err != nil {
			return verify.LogKey{}, false, fmt.Errorf("the remembered log key %s: %w", path, err)
		}
		if old.LogID() != k.LogID() {
			return verify.LogKey{}, false, fmt.Errorf("LOG KEY CHANGED: %s now serves key %s, but key %s was seen first (remembered in %s)", cl.Server(), k.LogID(), old.LogID(), path)
		}
	}
	return k, false, nil
}

// clientStateDir is where client commands remember verified checkpoints:
// $XDG_STATE_HOME/tabula if set, else the user's config directory's tabula.
func clientStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "tabula"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding a state directory (set --state-dir or XDG_STATE_HOME): %w", err)
	}
	return filepath.Join(d, "tabula"), nil
}

// checkpointPath names the file holding the last verified checkpoint of the
// log with key k at origin: one file per (key, origin), as rekor-cli keeps one
// per log.
func checkpointPath(dir string, k verify.LogKey, origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(dir, "checkpoints", hex.EncodeToString(k.ID[:8])+"-"+hex.EncodeToString(h[:8]))
}

const logInfoUsage = `Usage: tabula loginfo [--server URL] [--log-key KEY.pem]

Prints the log's size, root and origin after verifying its checkpoint, and proves it
consistent with the last checkpoint verified from this log, which it then remembers.`

func runLogInfo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loginfo", stderr, logInfoUsage)
	cf := addClientFlags(fs)
	stateDir := fs.String("state-dir", "", "directory of remembered checkpoints (default: $XDG_STATE_HOME/tabula or the user config dir's tabula)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	dir := *stateDir
	if dir == "" {
		if dir, err = clientStateDir(); err != nil {
			return err
		}
	}
	key, pinned, err := cf.key(ctx, cl, dir)
	if err != nil {
		return err
	}
	if !pinned {
		fmt.Fprintln(stderr, "warning: the log key was fetched from the log itself (trusted on first use); pin it with --log-key")
	}
	li, err := cl.LogInfo(ctx)
	if err != nil {
		return err
	}
	cp, err := verify.Checkpoint([]byte(li.SignedTreeHead), "", key)
	if err != nil {
		return fmt.Errorf("log's checkpoint does not verify: %w", err)
	}
	if hex.EncodeToString(cp.Root[:]) != li.RootHash || int64(cp.Size) != li.TreeSize {
		return fmt.Errorf("log info (size %d, root %s) disagrees with its signed checkpoint (size %d, root %x)", li.TreeSize, li.RootHash, cp.Size, cp.Root)
	}
	path := checkpointPath(dir, key, cp.Origin)
	prev, err := os.ReadFile(path)
	consistency := "first checkpoint seen from this log: remembered"
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading the last verified checkpoint: %w", err)
	default:
		old, err := verify.Checkpoint(prev, cp.Origin, key)
		if err != nil {
			return fmt.Errorf("the remembered checkpoint %s does not verify: %w", path, err)
		}
		if err := proveConsistency(ctx, cl, li.TreeID, old, cp); err != nil {
			return fmt.Errorf("LOG INCONSISTENT with the checkpoint verified before (size %d, root %x): %w", old.Size, old.Root, err)
		}
		consistency = fmt.Sprintf("consistent with the last verified checkpoint (size %d)", old.Size)
	}
	if err := writeFileAtomic(path, []byte(li.SignedTreeHead)); err != nil {
		return fmt.Errorf("saving the checkpoint: %w", err)
	}
	fmt.Fprintf(stdout, "Origin:       %s\n", cp.Origin)
	fmt.Fprintf(stdout, "Tree size:    %d\n", cp.Size)
	fmt.Fprintf(stdout, "Root hash:    %x\n", cp.Root)
	fmt.Fprintf(stdout, "Tree ID:      %s\n", li.TreeID)
	fmt.Fprintf(stdout, "Log ID:       %s\n", key.LogID())
	fmt.Fprintf(stdout, "Checkpoint:   signature verified\n")
	fmt.Fprintf(stdout, "Consistency:  %s\n", consistency)
	return nil
}

// proveConsistency fetches and checks a consistency proof from old to cp.
func proveConsistency(ctx context.Context, cl *client.Client, treeID string, old, cp checkpoint.Checkpoint) error {
	if old.Size > cp.Size {
		return fmt.Errorf("the tree shrank from %d to %d", old.Size, cp.Size)
	}
	var path [][]byte
	if old.Size > 0 && old.Size < cp.Size {
		p, err := cl.ConsistencyProof(ctx, int64(old.Size), int64(cp.Size), treeID)
		if err != nil {
			return fmt.Errorf("fetching a consistency proof: %w", err)
		}
		if p.RootHash != hex.EncodeToString(cp.Root[:]) {
			return fmt.Errorf("consistency proof is for root %s, not the checkpoint's %x", p.RootHash, cp.Root)
		}
		for _, h := range p.Hashes {
			b, err := hex.DecodeString(h)
			if err != nil {
				return fmt.Errorf("consistency proof hash %q: %w", h, err)
			}
			path = append(path, b)
		}
	}
	return verify.Consistency(old, cp, path)
}

// writeFileAtomic writes b to path (making its directory) through a
// temporary file and a rename, so a crash leaves the old or the new file.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// parseDigest reads "sha256:HEX" (or bare hex of SHA-256, SHA-384 or SHA-512
// length, or "sha384:"/"sha512:") into an algorithm name and digest.
func parseDigest(s string) (string, []byte, error) {
	alg, h, ok := strings.Cut(s, ":")
	if !ok {
		h = s
		switch len(s) {
		case 64:
			alg = "sha256"
		case 96:
			alg = "sha384"
		case 128:
			alg = "sha512"
		}
	}
	alg = strings.ToLower(alg)
	want := map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}[alg]
	d, err := hex.DecodeString(h)
	if err != nil || want == 0 || len(d) != want {
		return "", nil, fmt.Errorf("digest %q: want sha256:<64 hex> (or sha384:, sha512:)", s)
	}
	return alg, d, nil
}

// readSignature reads a signature file: base64 text (as cosign writes it) or
// raw bytes.
func readSignature(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err == nil && len(d) > 0 {
		return d, nil
	}
	return b, nil
}
