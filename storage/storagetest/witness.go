package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/tabularium/tabula/storage"
)

// OpenWitnessState returns a fresh, empty WitnessState and a function that
// opens another handle on the same database, as a second process would.
type OpenWitnessState func(t *testing.T) (st storage.WitnessState, reopen func(t *testing.T) storage.WitnessState)

// RunWitnessState runs the conformance suite of storage.WitnessState.
func RunWitnessState(t *testing.T, open OpenWitnessState) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, storage.WitnessState, func(*testing.T) storage.WitnessState)
	}{
		{"Swaps", testWitnessSwaps},
		{"Reopen", testWitnessReopen},
		{"Race", testWitnessRace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, reopen := open(t)
			tc.run(t, st, reopen)
		})
	}
}

func witnessCP(origin string, size uint64, tag string) storage.WitnessCheckpoint {
	root := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%s", origin, size, tag)))
	return storage.WitnessCheckpoint{Origin: origin, Size: size, Root: root, Note: []byte(fmt.Sprintf("%s\n%d\n%s\n", origin, size, tag))}
}

func checkWitnessCP(t *testing.T, st storage.WitnessState, want storage.WitnessCheckpoint) {
	t.Helper()
	got, err := st.WitnessCheckpoint(context.Background(), want.Origin)
	if err != nil {
		t.Fatalf("WitnessCheckpoint(%q): %v", want.Origin, err)
	}
	if got.Origin != want.Origin || got.Size != want.Size || got.Root != want.Root || !bytes.Equal(got.Note, want.Note) {
		t.Fatalf("WitnessCheckpoint(%q) = %q size %d, want %q size %d", want.Origin, got.Note, got.Size, want.Note, want.Size)
	}
	if got.Updated.IsZero() {
		t.Errorf("WitnessCheckpoint(%q): Updated is zero", want.Origin)
	}
}

func testWitnessSwaps(t *testing.T, st storage.WitnessState, _ func(*testing.T) storage.WitnessState) {
	ctx := context.Background()
	const a, b = "example.com/a", "example.com/b"
	if _, err := st.WitnessCheckpoint(ctx, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("WitnessCheckpoint of nothing: %v, want ErrNotFound", err)
	}
	a0, a5, a5x, a9 := witnessCP(a, 0, "x"), witnessCP(a, 5, "x"), witnessCP(a, 5, "y"), witnessCP(a, 9, "x")
	steps := []struct {
		name      string
		old       *storage.WitnessCheckpoint
		next      storage.WitnessCheckpoint
		wantStale bool
		want      storage.WitnessCheckpoint // stored afterwards
	}{
		{"old given, none stored", &a0, a5, true, storage.WitnessCheckpoint{}},
		{"first", nil, a0, false, a0},
		{"nil old, one stored", nil, a5, true, a0},
		{"grow", &a0, a5, false, a5},
		{"wrong size", &a0, a9, true, a5},
		{"same size, wrong root", &a5x, a9, true, a5},
		{"grow again", &a5, a9, false, a9},
		{"other origin untouched", nil, witnessCP(b, 3, "x"), false, witnessCP(b, 3, "x")},
		{"replace at one size", &a9, witnessCP(a, 9, "x"), false, a9},
	}
	for _, s := range steps {
		err := st.SwapWitnessCheckpoint(ctx, s.old, s.next)
		if s.wantStale != errors.Is(err, storage.ErrStaleTree) || (!s.wantStale && err != nil) {
			t.Fatalf("%s: SwapWitnessCheckpoint: %v, want stale %v", s.name, err, s.wantStale)
		}
		if s.want.Origin == "" {
			if _, err := st.WitnessCheckpoint(ctx, a); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: a failed swap stored something: %v", s.name, err)
			}
			continue
		}
		checkWitnessCP(t, st, s.want)
	}
	checkWitnessCP(t, st, a9)
	huge := witnessCP(a, math.MaxInt64+1, "x")
	if err := st.SwapWitnessCheckpoint(ctx, &a9, huge); err == nil || errors.Is(err, storage.ErrStaleTree) {
		t.Fatalf("swap to size 2^63: %v, want a plain error", err)
	}
	checkWitnessCP(t, st, a9)
}

func testWitnessReopen(t *testing.T, st storage.WitnessState, reopen func(*testing.T) storage.WitnessState) {
	ctx := context.Background()
	cp := witnessCP("example.com/r", 7, "x")
	if err := st.SwapWitnessCheckpoint(ctx, nil, cp); err != nil {
		t.Fatal(err)
	}
	other := reopen(t)
	checkWitnessCP(t, other, cp)
	next := witnessCP("example.com/r", 8, "x")
	if err := other.SwapWitnessCheckpoint(ctx, &cp, next); err != nil {
		t.Fatal(err)
	}
	checkWitnessCP(t, st, next)
	if err := st.SwapWitnessCheckpoint(ctx, &cp, witnessCP("example.com/r", 8, "y")); !errors.Is(err, storage.ErrStaleTree) {
		t.Fatalf("swap from a state the other handle moved: %v, want ErrStaleTree", err)
	}
}

// testWitnessRace swaps from one state to different next states at once,
// through two handles: exactly one wins, every round.
func testWitnessRace(t *testing.T, st storage.WitnessState, reopen func(*testing.T) storage.WitnessState) {
	ctx := context.Background()
	handles := []storage.WitnessState{st, reopen(t)}
	const origin, rounds, racers = "example.com/race", 10, 6
	var cur *storage.WitnessCheckpoint
	for round := range rounds {
		var (
			wg    sync.WaitGroup
			errs  [racers]error
			nexts [racers]storage.WitnessCheckpoint
		)
		for i := range racers {
			// Half of them race to the same size with different roots.
			nexts[i] = witnessCP(origin, uint64(round+1+i%2), fmt.Sprint(i))
			wg.Go(func() { errs[i] = handles[i%2].SwapWitnessCheckpoint(ctx, cur, nexts[i]) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: racers %d and %d both swapped", round, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, storage.ErrStaleTree):
				t.Fatalf("round %d: racer %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no racer swapped", round)
		}
		checkWitnessCP(t, handles[round%2], nexts[winner])
		w := nexts[winner]
		cur = &w
	}
}
