package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/storage"
)

// activeLog returns the Storage of the set's active log of the profile,
// which log.Open creates (after every log of the set) on a fresh database.
// It refuses a log whose stored public key is not the configured key's.
func activeLog(ctx context.Context, set storage.LogSet, profile log.Profile, publicKeyDER []byte) (storage.Storage, error) {
	logs, err := set.Logs(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range logs {
		if l.Profile == profile.Name && l.State == storage.LogActive &&
			l.PublicKey != nil && !bytes.Equal(l.PublicKey, publicKeyDER) {
			return nil, fmt.Errorf("the active %s log (tree %d) was created with another public key "+
				"than the configured key's: start it with its own key", profile.Name, l.TreeID)
		}
	}
	return storage.Active(set, profile.Name, func(st storage.TreeState) storage.LogInfo {
		return storage.LogInfo{Origin: profile.Origin(st.TreeID), PublicKey: publicKeyDER}
	}), nil
}

// recordPublicKey stores the public key and origin of a log migrated from a
// one-tree database, which has none, once log.Open has verified the stored
// checkpoint with the configured key.
func recordPublicKey(ctx context.Context, set storage.LogSet, lg *log.Log, publicKeyDER []byte) error {
	if err := set.SetPublicKey(ctx, lg.TreeID(), lg.Origin(), publicKeyDER); err != nil {
		return fmt.Errorf("recording the log's public key: %w", err)
	}
	return nil
}
