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
	"strconv"
	"strings"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/verify"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	server  string
	logKeys listFlag
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	fs.StringVar(&c.server, "server", client.DefaultServer, "base URL of the log")
	fs.Var(&c.logKeys, "log-key", "a log's public key (PEM) to pin (repeatable: a server whose log was rotated to a new key has several); without it the key is fetched from --server (trust on first use)")
	return c
}

// pinnedKeys reads the --log-key files.
func (c *clientFlags) pinnedKeys() ([]verify.LogKey, error) {
	var keys []verify.LogKey
	for _, path := range c.logKeys {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading --log-key: %w", err)
		}
		k, err := verify.ParseLogKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("--log-key %s: %w", path, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// entryKey returns the key to verify an entry with: the pinned key whose
// log ID is the entry's, or, with no key pinned, the key of the entry's log
// fetched from the server (GET /api/v1/log/publicKey?treeID= with the tree
// ID of the entry's UUID or, for a 64-hex UUID, of its checkpoint's origin)
// with pinned false. cl may be nil when keys are pinned.
func (c *clientFlags) entryKey(ctx context.Context, cl *client.Client, uuid string, e models.LogEntryAnon) (verify.LogKey, bool, error) {
	keys, err := c.pinnedKeys()
	if err != nil {
		return verify.LogKey{}, false, err
	}
	if len(keys) > 0 {
		for _, k := range keys {
			if k.LogID() == e.LogID {
				return k, true, nil
			}
		}
		return verify.LogKey{}, true, &verify.CheckError{Check: verify.CheckLogKnown,
			Err: fmt.Errorf("the entry's log ID %s is none of the %d pinned keys' (pin its log's key with --log-key)", e.LogID, len(keys))}
	}
	if cl == nil {
		return verify.LogKey{}, false, errors.New("no --log-key given and no server to ask")
	}
	treeID := entryTreeID(uuid, e)
	b, err := cl.PublicKey(ctx, treeID)
	if err != nil {
		return verify.LogKey{}, false, fmt.Errorf("fetching the key of log %q: %w", treeID, err)
	}
	k, err := verify.ParseLogKeyPEM(b)
	return k, false, err
}

// entryTreeID is the tree ID (decimal) of the log an entry names: the
// first 16 hex digits of an 80-hex UUID, else the " - <treeID>" end of its
// checkpoint's origin; "" (the active log) when neither says.
func entryTreeID(uuid string, e models.LogEntryAnon) string {
	if len(uuid) == 80 {
		if id, err := strconv.ParseUint(uuid[:16], 16, 63); err == nil && id != 0 {
			return strconv.FormatUint(id, 10)
		}
	}
	if v := e.Verification; v != nil && v.InclusionProof != nil {
		origin, _, _ := strings.Cut(v.InclusionProof.Checkpoint, "\n")
		if _, id, ok := strings.Cut(origin, " - "); ok {
			if _, err := strconv.ParseUint(id, 10, 63); err == nil {
				return id
			}
		}
	}
	return ""
}

func (c *clientFlags) client() (*client.Client, error) {
	return client.New(c.server, client.WithUserAgent("tabula/"+version()))
}

// key returns the pinned log key, or the server's own with pinned false.
// With a state directory, a fetched key is remembered per server on first
// use and must not change afterwards (trust on first use, as ssh does).
// A rotation to a new key is no change: the remembered key must then be the
// key of one of the frozen logs li lists. With several keys pinned, it is
// the one that signs the active checkpoint li lists.
func (c *clientFlags) key(ctx context.Context, cl *client.Client, stateDir string, li models.LogInfo) (k verify.LogKey, pinned bool, err error) {
	keys, err := c.pinnedKeys()
	if err != nil {
		return verify.LogKey{}, false, err
	}
	for _, k := range keys {
		if _, err := verify.Checkpoint([]byte(li.SignedTreeHead), "", k); err == nil || len(keys) == 1 {
			return k, true, nil
		}
	}
	if len(keys) > 0 {
		return verify.LogKey{}, true, fmt.Errorf("the log's checkpoint is signed by none of the %d pinned keys", len(keys))
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
			if !frozenKey(ctx, cl, li, old) {
				return verify.LogKey{}, false, fmt.Errorf("LOG KEY CHANGED: %s now serves key %s, but key %s was seen first (remembered in %s)", cl.Server(), k.LogID(), old.LogID(), path)
			}
			// The log rotated to a new key: the new one is trusted on
			// first use in its turn.
			if err := writeFileAtomic(path, b); err != nil {
				return verify.LogKey{}, false, fmt.Errorf("remembering the log key: %w", err)
			}
		}
	}
	return k, false, nil
}

// frozenKey reports whether k is the key of one of the frozen logs li
// lists (it signs that log's listed checkpoint and the server names it as
// that log's key).
func frozenKey(ctx context.Context, cl *client.Client, li models.LogInfo, k verify.LogKey) bool {
	for _, sh := range li.InactiveShards {
		if sh == nil {
			continue
		}
		if _, err := verify.Checkpoint([]byte(sh.SignedTreeHead), "", k); err != nil {
			continue
		}
		b, err := cl.PublicKey(ctx, sh.TreeID)
		if err != nil {
			continue
		}
		if got, err := verify.ParseLogKeyPEM(b); err == nil && got.LogID() == k.LogID() {
			return true
		}
	}
	return false
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

const logInfoUsage = `Usage: tabula loginfo [--server URL] [--log-key KEY.pem]…

Prints the log's size, root and origin after verifying its checkpoint, and proves it
consistent with the last checkpoint verified from this log, which it then remembers. A server
with several logs (after a rotation) has each frozen log checked the same way, and the total.`

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
	li, err := cl.LogInfo(ctx)
	if err != nil {
		return err
	}
	key, pinned, err := cf.key(ctx, cl, dir, li)
	if err != nil {
		return err
	}
	if !pinned {
		fmt.Fprintln(stderr, "warning: the log key was fetched from the log itself (trusted on first use); pin it with --log-key")
	}
	cp, consistency, err := checkHead(ctx, cl, dir, key, li.TreeID, li.SignedTreeHead, li.RootHash, li.TreeSize)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Origin:       %s\n", cp.Origin)
	fmt.Fprintf(stdout, "Tree size:    %d\n", cp.Size)
	fmt.Fprintf(stdout, "Root hash:    %x\n", cp.Root)
	fmt.Fprintf(stdout, "Tree ID:      %s\n", li.TreeID)
	fmt.Fprintf(stdout, "Log ID:       %s\n", key.LogID())
	fmt.Fprintf(stdout, "Checkpoint:   signature verified\n")
	fmt.Fprintf(stdout, "Consistency:  %s\n", consistency)
	if len(li.InactiveShards) == 0 {
		return nil
	}
	// The frozen logs (Rekor's inactive shards), each checked as the
	// active one, with its own key.
	total := cp.Size
	fmt.Fprintf(stdout, "Frozen logs:  %d (oldest first)\n", len(li.InactiveShards))
	for _, sh := range li.InactiveShards {
		if sh == nil {
			return errors.New("log info: null inactive shard")
		}
		fkey, err := cf.frozenLogKey(ctx, cl, sh.TreeID, []byte(sh.SignedTreeHead))
		if err != nil {
			return fmt.Errorf("frozen log %s: %w", sh.TreeID, err)
		}
		fcp, consistency, err := checkHead(ctx, cl, dir, fkey, sh.TreeID, sh.SignedTreeHead, sh.RootHash, sh.TreeSize)
		if err != nil {
			return fmt.Errorf("frozen log %s: %w", sh.TreeID, err)
		}
		total += fcp.Size
		fmt.Fprintf(stdout, "  %s: size %d, root %x, log ID %s; signature verified, %s\n", sh.TreeID, fcp.Size, fcp.Root, fkey.LogID(), consistency)
	}
	fmt.Fprintf(stdout, "Total size:   %d (all logs)\n", total)
	return nil
}

// frozenLogKey returns the key of a frozen log: the pinned key that signs
// its checkpoint sth, or the server's key for it (publicKey?treeID=) when
// no key is pinned.
func (c *clientFlags) frozenLogKey(ctx context.Context, cl *client.Client, treeID string, sth []byte) (verify.LogKey, error) {
	keys, err := c.pinnedKeys()
	if err != nil {
		return verify.LogKey{}, err
	}
	for _, k := range keys {
		if _, err := verify.Checkpoint(sth, "", k); err == nil {
			return k, nil
		}
	}
	if len(keys) > 0 {
		return verify.LogKey{}, fmt.Errorf("its checkpoint is signed by none of the %d pinned keys (pin its key with --log-key)", len(keys))
	}
	b, err := cl.PublicKey(ctx, treeID)
	if err != nil {
		return verify.LogKey{}, fmt.Errorf("fetching its key: %w", err)
	}
	return verify.ParseLogKeyPEM(b)
}

// checkHead verifies a log's signed checkpoint sth with key, checks that
// the listed root and size are its, proves it consistent with the last one
// verified from that log (by key and origin), and remembers it.
func checkHead(ctx context.Context, cl *client.Client, dir string, key verify.LogKey, treeID, sth, rootHash string, size int64) (checkpoint.Checkpoint, string, error) {
	cp, err := verify.Checkpoint([]byte(sth), "", key)
	if err != nil {
		return cp, "", fmt.Errorf("log's checkpoint does not verify: %w", err)
	}
	if hex.EncodeToString(cp.Root[:]) != rootHash || int64(cp.Size) != size {
		return cp, "", fmt.Errorf("log info (size %d, root %s) disagrees with its signed checkpoint (size %d, root %x)", size, rootHash, cp.Size, cp.Root)
	}
	path := checkpointPath(dir, key, cp.Origin)
	prev, err := os.ReadFile(path)
	consistency := "first checkpoint seen from this log: remembered"
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return cp, "", fmt.Errorf("reading the last verified checkpoint: %w", err)
	default:
		old, err := verify.Checkpoint(prev, cp.Origin, key)
		if err != nil {
			return cp, "", fmt.Errorf("the remembered checkpoint %s does not verify: %w", path, err)
		}
		if err := proveConsistency(ctx, cl, treeID, old, cp); err != nil {
			return cp, "", fmt.Errorf("LOG INCONSISTENT with the checkpoint verified before (size %d, root %x): %w", old.Size, old.Root, err)
		}
		consistency = fmt.Sprintf("consistent with the last verified checkpoint (size %d)", old.Size)
	}
	if err := writeFileAtomic(path, []byte(sth)); err != nil {
		return cp, "", fmt.Errorf("saving the checkpoint: %w", err)
	}
	return cp, consistency, nil
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
