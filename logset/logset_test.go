package logset_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

const host = logsettest.Hostname

// engines are the storage engines; Database opens one database again and
// again (another process's connection).
var engines = logsettest.Engines()

func profile(info storage.LogInfo) log.Profile { return rekorv1.LogProfiles(host)(info) }

func openSet(t *testing.T, store storage.LogSet, keys ...logset.Signer) *logset.Set {
	t.Helper()
	return logsettest.OpenConfig(t, logset.Config{Store: store, Keys: keys, RefreshAge: 50 * time.Millisecond})
}

var (
	newKey = logsettest.Key
	rotate = logsettest.Rotate
)

func leaf(i int) log.Leaf { return log.Leaf{Body: fmt.Appendf(nil, `{"entry":%d}`, i)} }

func add(t *testing.T, s *logset.Set, l log.Leaf) (*logset.Shard, log.Result) {
	t.Helper()
	sh, res, err := s.Add(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	return sh, res
}

// TestRotate: entries go to the active log; after a rotation they go to the
// next one, at virtual indexes that run on, with SETs over the virtual
// index; reads find every entry in its own log, and a leaf of the frozen log
// is a duplicate there.
func TestRotate(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			open := e.Database(t)
			store := open(t)
			k1, k2 := newKey(t), newKey(t)
			s := openSet(t, store, k1, k2)
			first, _ := add(t, s, leaf(0))
			for i := 1; i < 5; i++ {
				add(t, s, leaf(i))
			}
			next := rotate(t, store, k2)
			if next.StartIndex != 5 {
				t.Fatalf("next log starts at %d, want 5", next.StartIndex)
			}
			// The set notices on its next write: the leaf goes to the new log.
			sh, res := add(t, s, leaf(5))
			if sh.TreeID() != next.TreeID || res.Entry.Index != 0 || sh.Virtual(res.Entry.Index) != 5 {
				t.Fatalf("after rotation: tree %d index %d (virtual %d), want tree %d index 0 (virtual 5)",
					sh.TreeID(), res.Entry.Index, sh.Virtual(res.Entry.Index), next.TreeID)
			}
			set := rekorv1.SETPayload(leaf(5).Body, res.Entry.IntegratedTime, k2.LogID(), 5)
			if err := signer.Verify(k2.Public(), set, res.Entry.SET); err != nil {
				t.Fatalf("SET does not verify over virtual index 5 with the new key: %v", err)
			}

			shards, err := s.Shards(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(shards) != 2 || shards[0].TreeID() != first.TreeID() || shards[0].Active() || !shards[1].Active() ||
				shards[0].Info.FinalSize != 5 {
				t.Fatalf("shards: %+v", shards)
			}
			if !shards[0].Log.Frozen() {
				t.Error("the frozen shard's log takes leaves")
			}

			tests := []struct {
				virtual uint64
				tree    int64
				local   uint64
			}{
				{0, first.TreeID(), 0},
				{4, first.TreeID(), 4},
				{5, next.TreeID, 0},
			}
			for _, tt := range tests {
				sh, local, err := s.ByVirtualIndex(ctx, tt.virtual)
				if err != nil || sh.TreeID() != tt.tree || local != tt.local {
					t.Errorf("ByVirtualIndex(%d) = tree %v, %d, %v; want tree %d, %d", tt.virtual, sh, local, err, tt.tree, tt.local)
					continue
				}
				body := leaf(int(tt.virtual)).Body
				sh, local, err = s.Locate(ctx, merkle.LeafHash(body))
				if err != nil || sh.TreeID() != tt.tree || local != tt.local {
					t.Errorf("Locate(entry %d) = %v, %d, %v", tt.virtual, sh, local, err)
					continue
				}
				got, err := sh.Log.Entry(ctx, local)
				if err != nil || string(got.Body) != string(body) {
					t.Errorf("entry %d: %q, %v", tt.virtual, got.Body, err)
				}
			}

			// A leaf of the frozen log is a duplicate, named in its log.
			_, _, err = s.Add(ctx, leaf(2))
			var dup *log.DuplicateError
			if !errors.As(err, &dup) || dup.TreeID != first.TreeID() || dup.Index != 2 {
				t.Fatalf("re-adding a leaf of the frozen log: %v, want a duplicate of entry 2 of tree %d", err, first.TreeID())
			}

			// A second server on the database sees both logs, and writes
			// into the active one.
			s2 := openSet(t, open(t), k2)
			sh, res = add(t, s2, leaf(6))
			if sh.TreeID() != next.TreeID || sh.Virtual(res.Entry.Index) != 6 {
				t.Fatalf("second server wrote to tree %d at virtual %d", sh.TreeID(), sh.Virtual(res.Entry.Index))
			}
		})
	}
}

// TestRotateUnderWrites: leaves in flight while the log is rotated land in
// the old log before it froze or in the new one, each once, and none fails.
func TestRotateUnderWrites(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			open := e.Database(t)
			store := open(t)
			key := newKey(t)
			// Two servers on one database, each writing.
			sets := []*logset.Set{openSet(t, store, key), openSet(t, open(t), key)}
			const writers, perWriter = 8, 25
			type ack struct {
				i       int
				tree    int64
				virtual uint64
			}
			acks := make(chan ack, writers*perWriter)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for w := range writers {
				wg.Go(func() {
					<-start
					for j := range perWriter {
						i := w*perWriter + j
						sh, res, err := sets[w%2].Add(ctx, leaf(i))
						if err != nil {
							t.Errorf("leaf %d: %v", i, err)
							return
						}
						acks <- ack{i, sh.TreeID(), sh.Virtual(res.Entry.Index)}
					}
				})
			}
			close(start)
			rotate(t, store, key)
			rotate(t, store, key)
			wg.Wait()
			close(acks)

			seen := map[uint64]int{}
			for a := range acks {
				if prev, ok := seen[a.virtual]; ok {
					t.Fatalf("virtual index %d acknowledged for leaves %d and %d", a.virtual, prev, a.i)
				}
				seen[a.virtual] = a.i
				sh, local, err := sets[0].ByVirtualIndex(ctx, a.virtual)
				if err != nil || sh.TreeID() != a.tree {
					t.Fatalf("leaf %d acknowledged in tree %d at %d: found in %v, %v", a.i, a.tree, a.virtual, sh, err)
				}
				got, err := sh.Log.Entry(ctx, local)
				if err != nil || string(got.Body) != string(leaf(a.i).Body) {
					t.Fatalf("leaf %d at virtual %d: %q, %v", a.i, a.virtual, got.Body, err)
				}
			}
			if len(seen) != writers*perWriter {
				t.Fatalf("%d leaves acknowledged, want %d", len(seen), writers*perWriter)
			}
			logs, err := store.Logs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(logs) != 3 {
				t.Fatalf("%d logs after two rotations", len(logs))
			}
		})
	}
}

// TestNoKeyForActiveLog: a server without the new log's key serves reads of
// every log and refuses writes with ErrNoKey; it refuses to start when it
// holds none of the active log's key.
func TestNoKeyForActiveLog(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			open := e.Database(t)
			store := open(t)
			k1, k2 := newKey(t), newKey(t)
			s := openSet(t, store, k1)
			add(t, s, leaf(0))
			rotate(t, store, k2)
			_, _, err := s.Add(ctx, leaf(1))
			if !errors.Is(err, logset.ErrNoKey) {
				t.Fatalf("write after rotation to a key this server lacks: %v, want ErrNoKey", err)
			}
			if sh, _, err := s.ByVirtualIndex(ctx, 0); err != nil || sh.Active() {
				t.Fatalf("reading the frozen log: %v, %v", sh, err)
			}
			if _, err := logset.Open(ctx, logset.Config{Store: open(t), Name: rekorv1.Name, Profile: profile,
				Keys: []logset.Signer{k1}}); err == nil {
				t.Fatal("a server without the active log's key started")
			}
		})
	}
}

// TestStaleList: a server whose list of logs is older than a rotation
// still finds, by virtual index and by tree ID, an entry of the new log.
func TestStaleList(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			open := e.Database(t)
			store := open(t)
			key := newKey(t)
			writer := openSet(t, store, key)
			add(t, writer, leaf(0))
			stale, err := logset.Open(ctx, logset.Config{Store: open(t), Name: rekorv1.Name, Profile: profile,
				Keys: []logset.Signer{key}, RefreshAge: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer stale.Close(ctx)
			next := rotate(t, store, key)
			add(t, writer, leaf(1))
			// A lookup reloads a list at least 100 ms old (lookupReloadAge).
			time.Sleep(150 * time.Millisecond)

			sh, local, err := stale.ByVirtualIndex(ctx, 1)
			if err != nil || sh.TreeID() != next.TreeID || local != 0 {
				t.Fatalf("ByVirtualIndex(1) on the stale server = %v, %d, %v; want tree %d, 0", sh, local, err, next.TreeID)
			}
			if sh, err := stale.Shard(ctx, next.TreeID); err != nil || sh.TreeID() != next.TreeID {
				t.Fatalf("Shard(%d) on the stale server = %v, %v", next.TreeID, sh, err)
			}
			// Past every log: the active log's, beyond its head.
			sh, local, err = stale.ByVirtualIndex(ctx, 2)
			if err != nil || !sh.Active() || local != 1 {
				t.Fatalf("ByVirtualIndex(2) = %v, %d, %v; want the active log, 1", sh, local, err)
			}
			if _, err := sh.Log.HeadCovering(ctx, local); !errors.Is(err, log.ErrOutOfRange) {
				t.Fatalf("virtual index 2 (past every log) is covered: %v", err)
			}
		})
	}
}
