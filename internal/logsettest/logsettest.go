// Package logsettest opens Rekor v1 log sets over a storage.LogSet for
// tests, and rotates them, as `tabula serve` and `tabula log rotate` do.
package logsettest

import (
	"context"
	"testing"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/profile/rekorv2"
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
		cfg.Profile = rekorv1.LogProfiles(Hostname)
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
	_, next, err := rekorv1.Rotate(context.Background(), set, key, Hostname)
	if err != nil {
		t.Fatal(err)
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

// V2Origin is the origin of the Rekor v2 log OpenV2 creates.
const V2Origin = "log2026-1.tabula.test"

// OpenV2 creates the first Rekor v2 log of set (V2Origin, signed by key, a
// new Ed25519 key if nil) and opens the set's Rekor v2 logs, closed when
// the test ends.
func OpenV2(t testing.TB, set storage.LogSet, key logset.Signer) *logset.Set {
	t.Helper()
	if key == nil {
		k, err := signer.Generate(signer.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		if key, err = signer.New(k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rekorv2.Create(context.Background(), set, key, V2Origin); err != nil {
		t.Fatal(err)
	}
	return OpenConfig(t, logset.Config{Store: set, Name: rekorv2.Name, Profile: rekorv2.LogProfiles,
		Base: rekorv2.Base, Keys: []logset.Signer{key}, NoCreate: true})
}
