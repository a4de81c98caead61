package log_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// countingStore counts ReadTile calls.
type countingStore struct {
	storage.Storage
	reads atomic.Int64
}

func (s *countingStore) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	s.reads.Add(1)
	return s.Storage.ReadTile(ctx, level, index)
}

// TestProofsFromEdge: the inclusion proof of a fresh write, and proofs up to
// the head, are built from the tiles the integrator just wrote and the cache
// of full tiles, without reading storage; after another process grows the
// tree, proofs for the larger size still come out right (from storage).
func TestProofsFromEdge(t *testing.T) {
	ctx := context.Background()
	open := engines[0].open(t) // sqlite
	store := &countingStore{Storage: open(t)}
	sgn := newSigner(t)
	l := openLog(t, store, sgn, nil)
	other := openLog(t, open(t), sgn, nil)

	verify := func(index, size uint64, body []byte, root merkle.Hash, p []merkle.Hash) {
		t.Helper()
		hs := make([][]byte, len(p))
		for i := range p {
			hs[i] = p[i][:]
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, rfc6962.DefaultHasher.HashLeaf(body), hs, root[:]); err != nil {
			t.Fatalf("inclusion proof of %d in %d: %v", index, size, err)
		}
	}
	for i := range 600 { // past two full level-0 tiles
		lf := leaf(i)
		res, err := l.Add(ctx, lf)
		if err != nil {
			t.Fatal(err)
		}
		before := store.reads.Load()
		p, err := l.InclusionProof(ctx, res.Entry.Index, res.Head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.ConsistencyProof(ctx, (res.Head.Size+1)/2, res.Head.Size); err != nil {
			t.Fatal(err)
		}
		if n := store.reads.Load() - before; n != 0 {
			t.Fatalf("entry %d: proofs read %d tiles from storage", i, n)
		}
		verify(res.Entry.Index, res.Head.Size, lf.Body, res.Head.Root, p)
	}

	// Another process appends: l's edge no longer covers the new head.
	var last struct {
		body []byte
		res  storage.TreeState
		idx  uint64
	}
	for i := 600; i < 700; i++ {
		lf := leaf(i)
		res, err := other.Add(ctx, lf)
		if err != nil {
			t.Fatal(err)
		}
		last.body, last.res, last.idx = lf.Body, res.Head, res.Entry.Index
	}
	p, err := l.InclusionProof(ctx, last.idx, last.res.Size)
	if err != nil {
		t.Fatal(err)
	}
	verify(last.idx, last.res.Size, last.body, last.res.Root, p)
	root, err := l.RootHash(ctx, last.res.Size)
	if err != nil || root != last.res.Root {
		t.Fatalf("root of %d: %x, %v; want %x", last.res.Size, root, err, last.res.Root)
	}

	// The first write after a stale head (l must reload and rebuild), and
	// the first write of a freshly started process, learn the right edge
	// while appending: their proofs read nothing more.
	restarted := &countingStore{Storage: open(t)}
	for i, tc := range []struct {
		l     *tlog.Log
		store *countingStore
	}{{l, store}, {openLog(t, restarted, sgn, nil), restarted}} {
		lg := tc.l
		lf := leaf(800 + i)
		res, err := lg.Add(ctx, lf)
		if err != nil {
			t.Fatal(err)
		}
		before := tc.store.reads.Load()
		p, err := lg.InclusionProof(ctx, res.Entry.Index, res.Head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if n := tc.store.reads.Load() - before; n != 0 {
			t.Fatalf("case %d: the proof at the head read %d tiles from storage", i, n)
		}
		verify(res.Entry.Index, res.Head.Size, lf.Body, res.Head.Root, p)
	}
}
