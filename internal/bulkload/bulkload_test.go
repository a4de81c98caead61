package bulkload_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/bulkload"
	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

func openStore(t *testing.T, engine string) storage.Storage {
	t.Helper()
	ctx := context.Background()
	var set storage.LogSet
	var err error
	switch engine {
	case "sqlite":
		set, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "tabula.db"))
	case "postgres":
		set, err = postgres.Open(ctx, pgtest.NewDatabase(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	return storage.Active(set, "rekor-v1", nil)
}

// newSigner is a log key: ECDSA P-256, as serve generates.
func newSigner(t *testing.T) *signer.Local {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newLog(t *testing.T, s storage.Storage, sgn signer.Signer, batch int) *log.Log {
	t.Helper()
	l, err := log.Open(context.Background(), log.Config{Storage: s, Signer: sgn, Profile: rekorv1.Profile("bulk.test"), BatchMaxSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

// TestRun loads a log on each engine and then checks it the way a server
// would see it: the size, every entry canonical (a canonical hashedrekord
// body re-proposed canonicalizes to itself, which verifies its signature),
// findable by its digest, and the tree reopening cleanly (log.Open
// recomputes the root from the stored tiles and checks the checkpoint).
func TestRun(t *testing.T) {
	reg := types.NewRegistry(hashedrekord.New())
	tests := []struct {
		engine  string
		keyKind string
		entries int
		keys    int
		check   int
		workers int
		batch   int
	}{
		{"sqlite", bulkload.KeyECDSA, 1500, 3, 7, 300, 128},
		{"postgres", bulkload.KeyCert, 1200, 2, 1, 0, 256},
		{"postgres", bulkload.KeyECDSA, 0, 1, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.engine+"/"+tc.keyKind, func(t *testing.T) {
			ctx := context.Background()
			sgn := newSigner(t)
			store := openStore(t, tc.engine)
			l := newLog(t, store, sgn, tc.batch)
			var progress bytes.Buffer
			res, err := bulkload.Run(ctx, bulkload.Config{
				Log: l, Types: reg, Entries: tc.entries, Keys: tc.keys, KeyKind: tc.keyKind,
				Workers: tc.workers, CheckEvery: tc.check, Progress: &progress, ProgressEvery: time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			check := tc.check
			if check == 0 {
				check = 1000
			}
			wantChecked := (tc.entries + check - 1) / check
			if res.Added != tc.entries || res.Duplicates != 0 || res.Checked != wantChecked ||
				res.StartSize != 0 || res.EndSize != uint64(tc.entries) {
				t.Fatalf("result %+v, want %d added, %d checked", res, tc.entries, wantChecked)
			}

			entries, err := store.ReadEntries(ctx, 0, uint64(tc.entries)+1)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != tc.entries {
				t.Fatalf("%d entries stored, want %d", len(entries), tc.entries)
			}
			for i, e := range entries {
				if i%97 != 0 && i != len(entries)-1 {
					continue
				}
				c, err := reg.Canonicalize(ctx, e.Body)
				if err != nil {
					t.Fatalf("entry %d does not verify: %v\n%s", i, err, e.Body)
				}
				if !bytes.Equal(c.Body, e.Body) {
					t.Fatalf("entry %d is not canonical:\n%s\n%s", i, e.Body, c.Body)
				}
				var body struct {
					Spec struct {
						Data struct {
							Hash struct{ Algorithm, Value string }
						}
					}
				}
				if err := json.Unmarshal(e.Body, &body); err != nil {
					t.Fatal(err)
				}
				found, err := l.Search(ctx, types.Digest(body.Spec.Data.Hash.Algorithm, body.Spec.Data.Hash.Value).Hash())
				if err != nil || len(found) != 1 || found[0] != uint64(i) {
					t.Fatalf("search by the digest of entry %d: %v, %v", i, found, err)
				}
				if e.LeafHash != merkle.LeafHash(e.Body) {
					t.Fatalf("entry %d: wrong leaf hash", i)
				}
			}
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			again := newLog(t, store, sgn, tc.batch)
			head, err := again.Head(ctx)
			if err != nil || head.Size != uint64(tc.entries) {
				t.Fatalf("reopened head %d, %v", head.Size, err)
			}
		})
	}
}

func TestRunRefuses(t *testing.T) {
	reg := types.NewRegistry(hashedrekord.New())
	l := newLog(t, openStore(t, "sqlite"), newSigner(t), 0)
	tests := []struct {
		name string
		cfg  bulkload.Config
	}{
		{"no log", bulkload.Config{Types: reg, Entries: 1}},
		{"no types", bulkload.Config{Log: l, Entries: 1}},
		{"negative", bulkload.Config{Log: l, Types: reg, Entries: -1}},
		{"key kind", bulkload.Config{Log: l, Types: reg, Entries: 1, KeyKind: "rsa"}},
		{"hashedrekord not served", bulkload.Config{Log: l, Types: types.NewRegistry(), Entries: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := bulkload.Run(context.Background(), tc.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if head, err := l.Head(context.Background()); err != nil || head.Size != 0 {
		t.Fatalf("the refused loads wrote: size %d, %v", head.Size, err)
	}
}
