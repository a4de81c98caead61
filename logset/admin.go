package logset

// Creating and rotating logs: what `tabula log create` and `tabula log
// rotate` do, on the database, for any profile.

import (
	"context"
	"fmt"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/storage"
)

// active returns the active log of profile name, if any.
func active(ctx context.Context, store storage.LogSet, name string) (storage.LogInfo, bool, error) {
	logs, err := store.Logs(ctx)
	if err != nil {
		return storage.LogInfo{}, false, err
	}
	for _, l := range logs {
		if l.Profile == name && l.State == storage.LogActive {
			return l, true, nil
		}
	}
	return storage.LogInfo{}, false, nil
}

// Create creates the first active log of profile name (when none is
// active): a new tree signed by key with profile, at base or after the
// profile's other logs. It returns the log as stored.
func Create(ctx context.Context, store storage.LogSet, name string, base uint64, key Signer, profile log.Profile) (storage.LogInfo, error) {
	if _, ok, err := active(ctx, store, name); err != nil {
		return storage.LogInfo{}, err
	} else if ok {
		return storage.LogInfo{}, fmt.Errorf("a %s log is active already: rotate it instead", name)
	}
	state, err := log.NewTree(profile, key)
	if err != nil {
		return storage.LogInfo{}, err
	}
	var stored storage.LogInfo
	err = storage.Active(store, name, func(st storage.TreeState) storage.LogInfo {
		stored = storage.LogInfo{Origin: profile.Origin(st.TreeID), PublicKey: key.PublicKeyDER(), StartIndex: base}
		return stored
	}).CreateTree(ctx, state)
	if err != nil {
		return storage.LogInfo{}, fmt.Errorf("creating a %s log: %w", name, err)
	}
	logs, err := store.Logs(ctx)
	if err != nil {
		return storage.LogInfo{}, err
	}
	for _, l := range logs {
		if l.TreeID == state.TreeID {
			return l, nil
		}
	}
	return storage.LogInfo{}, fmt.Errorf("creating a %s log: tree %d is not listed", name, state.TreeID)
}

// Rotate freezes the active log of profile name at its head and starts the
// next one in the same transaction (storage.LogSet.Rotate): a new tree,
// signed by key, with the profile next gives from the frozen log. It
// returns the frozen log as it was before and the new one.
func Rotate(ctx context.Context, store storage.LogSet, name string, key Signer,
	next func(old storage.LogInfo) (log.Profile, error)) (old, created storage.LogInfo, err error) {
	old, ok, err := active(ctx, store, name)
	switch {
	case err != nil:
		return old, created, err
	case !ok:
		return old, created, fmt.Errorf("there is no active %s log to rotate", name)
	case old.PublicKey == nil:
		return old, created, fmt.Errorf("log %d was migrated from a one-tree database and has not been served since: "+
			"serve it once, so that its origin and key are recorded, then rotate", old.TreeID)
	}
	profile, err := next(old)
	if err != nil {
		return old, created, err
	}
	state, err := log.NewTree(profile, key)
	if err != nil {
		return old, created, err
	}
	created, err = store.Rotate(ctx, old.TreeID, storage.LogInfo{
		TreeID:    state.TreeID,
		Origin:    profile.Origin(state.TreeID),
		Profile:   name,
		PublicKey: key.PublicKeyDER(),
	}, state)
	if err != nil {
		return old, created, fmt.Errorf("rotating log %d: %w", old.TreeID, err)
	}
	return old, created, nil
}
