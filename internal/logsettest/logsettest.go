// Package logsettest opens Rekor v1 log sets over a storage.LogSet for
// tests, and rotates them, as `tabula serve` and `tabula log rotate` do.
package logsettest

import (
	"context"
	"testing"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

// Hostname is the hostname of the logs Open serves: their origins are
// "tabula.test - <treeID>".
const Hostname = "tabula.test"

// Key returns a new ECDSA P-256 log key.
func Key(t testing.TB) *signer.Local {
	t.Helper()
	k, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Profile is the Rekor v1 profile of each log of a set served as hostname:
// the active log's origin follows hostname, a frozen log's the hostname it
// was created with, and each signs its entries' SETs over their virtual
// index.
func Profile(hostname string) func(storage.LogInfo) log.Profile {
	return func(info storage.LogInfo) log.Profile {
		h := hostname
		if info.State != storage.LogActive {
			if o := rekorv1.Hostname(info.Origin); o != "" {
				h = o
			}
		}
		return rekorv1.ShardProfile(h, info.StartIndex)
	}
}

// Open opens the Rekor v1 logs of set, served as Hostname with keys (a new
// key if none), closed when the test ends.
func Open(t testing.TB, set storage.LogSet, keys ...logset.Signer) *logset.Set {
	t.Helper()
	return OpenConfig(t, logset.Config{Store: set, Keys: keys})
}

// OpenConfig is Open with more of the configuration: Name and Profile are
// Rekor v1's (as Hostname) when empty, Keys a new key when empty.
func OpenConfig(t testing.TB, cfg logset.Config) *logset.Set {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = rekorv1.Name
	}
	if cfg.Profile == nil {
		cfg.Profile = Profile(Hostname)
	}
	if len(cfg.Keys) == 0 {
		cfg.Keys = []logset.Signer{Key(t)}
	}
	s, err := logset.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// Rotate freezes the active Rekor v1 log of set and starts its successor,
// a new tree signed by key and served as Hostname, as `tabula log rotate`
// does. It returns the new log.
func Rotate(t testing.TB, set storage.LogSet, key logset.Signer) storage.LogInfo {
	t.Helper()
	ctx := context.Background()
	logs, err := set.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var active *storage.LogInfo
	for i := range logs {
		if logs[i].Profile == rekorv1.Name && logs[i].State == storage.LogActive {
			active = &logs[i]
		}
	}
	if active == nil {
		t.Fatal("rotating: no active rekor-v1 log")
	}
	profile := rekorv1.Profile(Hostname)
	state, err := log.NewTree(profile, key)
	if err != nil {
		t.Fatal(err)
	}
	next, err := set.Rotate(ctx, active.TreeID, storage.LogInfo{
		TreeID:    state.TreeID,
		Origin:    profile.Origin(state.TreeID),
		Profile:   rekorv1.Name,
		PublicKey: key.PublicKeyDER(),
	}, state)
	if err != nil {
		t.Fatalf("rotating tree %d: %v", active.TreeID, err)
	}
	return next
}

// WrapLogs returns set with the Storage of each log it opens wrapped by
// wrap: a test's faulty store under a real log set.
func WrapLogs(set storage.LogSet, wrap func(storage.Storage) storage.Storage) storage.LogSet {
	return &wrapped{LogSet: set, wrap: wrap}
}

type wrapped struct {
	storage.LogSet
	wrap func(storage.Storage) storage.Storage
}

func (w *wrapped) OpenLog(ctx context.Context, treeID int64) (storage.Storage, error) {
	s, err := w.LogSet.OpenLog(ctx, treeID)
	if err != nil {
		return nil, err
	}
	return w.wrap(s), nil
}
