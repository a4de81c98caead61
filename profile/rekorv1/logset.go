package rekorv1

import (
	"context"
	"errors"
	"fmt"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

// LogProfiles gives each Rekor v1 log of a log set its profile: a log is
// served as the hostname of its stored origin (a rotation may name the next
// log anew), and signs SETs over its entries' virtual indexes; hostname
// names a log whose origin is not stored (a new one, or one migrated from a
// one-tree database).
func LogProfiles(hostname string) func(storage.LogInfo) log.Profile {
	return func(info storage.LogInfo) log.Profile {
		host := hostname
		if h := Hostname(info.Origin); h != "" {
			host = h
		}
		return ShardProfile(host, info.StartIndex)
	}
}

// KeySigner is a log key that also gives its public key's DER
// SubjectPublicKeyInfo, which the log set stores.
type KeySigner interface {
	signer.Signer
	PublicKeyDER() []byte
}

// Rotate freezes the active Rekor v1 log of set at its head and starts the
// next one in the same transaction (storage.LogSet.Rotate): a new tree,
// signed by key, served as hostname ("": the frozen log's hostname). It
// returns the frozen log as it was before and the new one.
func Rotate(ctx context.Context, set storage.LogSet, key KeySigner, hostname string) (old, next storage.LogInfo, err error) {
	logs, err := set.Logs(ctx)
	if err != nil {
		return old, next, err
	}
	found := false
	for _, l := range logs {
		if l.Profile == Name && l.State == storage.LogActive {
			old, found = l, true
		}
	}
	switch {
	case !found:
		return old, next, errors.New("there is no active rekor-v1 log to rotate (start `tabula serve` once to create one)")
	case old.PublicKey == nil:
		return old, next, fmt.Errorf("log %d was migrated from a one-tree database and has not been served since: "+
			"serve it once, so that its origin and key are recorded, then rotate", old.TreeID)
	}
	if hostname == "" {
		if hostname = Hostname(old.Origin); hostname == "" {
			return old, next, fmt.Errorf("log %d has origin %q, not a Rekor v1 one: name the next log's hostname", old.TreeID, old.Origin)
		}
	}
	profile := Profile(hostname)
	state, err := log.NewTree(profile, key)
	if err != nil {
		return old, next, err
	}
	next, err = set.Rotate(ctx, old.TreeID, storage.LogInfo{
		TreeID:    state.TreeID,
		Origin:    profile.Origin(state.TreeID),
		Profile:   Name,
		PublicKey: key.PublicKeyDER(),
	}, state)
	if err != nil {
		return old, next, fmt.Errorf("rotating log %d: %w", old.TreeID, err)
	}
	return old, next, nil
}
