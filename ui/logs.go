package ui

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/storage"
)

// sets are the log sets served, Rekor v1's first.
func (u *UI) sets() []*logset.Set {
	if u.cfg.V2Logs == nil {
		return []*logset.Set{u.cfg.Logs}
	}
	return []*logset.Set{u.cfg.Logs, u.cfg.V2Logs}
}

// shards lists every log, Rekor v1 ones first, each API's oldest first.
func (u *UI) shards(ctx context.Context) ([]*logset.Shard, error) {
	var out []*logset.Shard
	for _, set := range u.sets() {
		shs, err := set.Shards(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, shs...)
	}
	return out, nil
}

// shard returns the log of treeID in any set, or storage.ErrNotFound.
func (u *UI) shard(ctx context.Context, treeID int64) (*logset.Shard, error) {
	for _, set := range u.sets() {
		sh, err := set.Shard(ctx, treeID)
		if err == nil || !errors.Is(err, storage.ErrNotFound) {
			return sh, err
		}
	}
	return nil, fmt.Errorf("tree %d: %w", treeID, storage.ErrNotFound)
}

// locate finds a leaf in any log.
func (u *UI) locate(ctx context.Context, leaf [32]byte) (*logset.Shard, uint64, error) {
	for _, set := range u.sets() {
		sh, i, err := set.Locate(ctx, leaf)
		if err == nil || !errors.Is(err, storage.ErrNotFound) {
			return sh, i, err
		}
	}
	return nil, 0, fmt.Errorf("leaf %x: %w", leaf, storage.ErrNotFound)
}

// head is the head to read sh by: a frozen log's covers its final size.
func head(ctx context.Context, sh *logset.Shard) (storage.TreeState, error) {
	h, err := sh.Log.Head(ctx)
	if err != nil || sh.Active() || h.Size >= sh.Info.FinalSize {
		return h, err
	}
	return sh.Log.HeadCovering(ctx, sh.Info.FinalSize-1)
}

// apiOf names the API of a log of profile.
func apiOf(profile string) string {
	switch profile {
	case "rekor-v1":
		return "v1"
	case "rekor-v2":
		return "v2"
	}
	return profile
}

// logView is a log as pages show it.
type logView struct {
	TreeID     string
	API        string
	Origin     string
	State      string
	StartIndex string // v1 only
	Size       uint64
	Created    string
	KeyName    string
	KeyID      string // hex
	KeyIDB64   string
	KeyPEM     string
	Checkpoint string
}

func describe(ctx context.Context, sh *logset.Shard) (logView, error) {
	h, err := head(ctx, sh)
	if err != nil {
		return logView{}, err
	}
	p := sh.Log.Profile()
	v := logView{
		TreeID:     strconv.FormatInt(sh.TreeID(), 10),
		API:        apiOf(sh.Info.Profile),
		Origin:     sh.Log.Origin(),
		State:      string(sh.Info.State),
		Size:       h.Size,
		Created:    sh.Info.CreatedAt.UTC().Format(time.RFC3339),
		KeyName:    p.KeyName,
		Checkpoint: string(h.Checkpoint),
	}
	if v.API == "v1" {
		v.StartIndex = strconv.FormatUint(sh.Info.StartIndex, 10)
	}
	if id, err := p.KeyIDForm.KeyID(p.KeyName, sh.Log.Signer().Public()); err == nil {
		v.KeyID = hex.EncodeToString(id[:])
		v.KeyIDB64 = base64.StdEncoding.EncodeToString(id[:])
	}
	if der, err := x509.MarshalPKIXPublicKey(sh.Log.Signer().Public()); err == nil {
		v.KeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return v, nil
}

// entryID is an entry's UUID as its API names it: Rekor v1's 80-hex
// EntryID (tree ID and leaf hash), Rekor v2's 64-hex leaf hash.
func entryID(sh *logset.Shard, leaf [32]byte) string {
	if apiOf(sh.Info.Profile) == "v1" {
		return fmt.Sprintf("%016x%x", uint64(sh.TreeID()), leaf)
	}
	return hex.EncodeToString(leaf[:])
}
