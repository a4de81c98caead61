package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tabularium/tabula/storage"
)

// testCosigned: the stored cosigned checkpoint of a log only moves forward;
// an equal size replaces it; logs keep theirs apart.
func testCosigned(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	createLog(t, set, newLog(11, "a", 0))
	createLog(t, set, newLog(12, "b", 1<<40))
	if _, err := set.LatestCosigned(ctx, 11); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("LatestCosigned before any: %v, want ErrNotFound", err)
	}
	note := func(size uint64, tag string) []byte {
		return fmt.Appendf(nil, "example.com/log/a\n%d\nroot\n\n— log sig\n— %s\n", size, tag)
	}
	for _, step := range []struct {
		name     string
		size     uint64
		tag      string
		stored   bool
		wantSize uint64
		wantTag  string
	}{
		{"first", 5, "w1", true, 5, "w1"},
		{"larger", 9, "w1", true, 9, "w1"},
		{"smaller refused", 7, "w2", false, 9, "w1"},
		{"zero refused", 0, "w2", false, 9, "w1"},
		{"equal replaces", 9, "w1 w2", true, 9, "w1 w2"},
		{"larger again", 1 << 40, "w2", true, 1 << 40, "w2"},
	} {
		before := time.Now().Add(-time.Minute)
		ok, err := set.StoreCosigned(ctx, 11, storage.CosignedCheckpoint{Size: step.size, Note: note(step.size, step.tag)})
		if err != nil || ok != step.stored {
			t.Fatalf("%s: StoreCosigned(%d) = %v, %v; want %v", step.name, step.size, ok, err, step.stored)
		}
		got, err := set.LatestCosigned(ctx, 11)
		if err != nil {
			t.Fatalf("%s: LatestCosigned: %v", step.name, err)
		}
		if got.Size != step.wantSize || !bytes.Equal(got.Note, note(step.wantSize, step.wantTag)) {
			t.Fatalf("%s: stored (%d, %q), want (%d, %q)", step.name, got.Size, got.Note, step.wantSize, note(step.wantSize, step.wantTag))
		}
		if got.Stored.Before(before) {
			t.Fatalf("%s: stored at %v, before %v", step.name, got.Stored, before)
		}
	}
	if _, err := set.LatestCosigned(ctx, 12); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("LatestCosigned of the other log: %v, want ErrNotFound", err)
	}
	if ok, err := set.StoreCosigned(ctx, 12, storage.CosignedCheckpoint{Size: 1, Note: note(1, "b")}); err != nil || !ok {
		t.Fatalf("StoreCosigned of the other log: %v, %v", ok, err)
	}
	if got, err := set.LatestCosigned(ctx, 11); err != nil || got.Size != 1<<40 {
		t.Fatalf("log 11 after log 12 stored: %d, %v", got.Size, err)
	}
	if ok, err := set.StoreCosigned(ctx, 11, storage.CosignedCheckpoint{Size: 1 << 41}); err == nil || ok {
		t.Fatalf("StoreCosigned of an empty note: %v, %v; want an error", ok, err)
	}
}

// testLease: one holder at a time; the holder renews; another takes the
// lease once it expired or was given up.
func testLease(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	try := func(name, holder string, ttl time.Duration, want bool) {
		t.Helper()
		got, err := set.TryLease(ctx, name, holder, ttl)
		if err != nil || got != want {
			t.Fatalf("TryLease(%q, %q, %v) = %v, %v; want %v", name, holder, ttl, got, err, want)
		}
	}
	try("l", "A", time.Hour, true)
	try("l", "B", time.Hour, false)
	try("l", "A", time.Hour, true) // renews
	try("m", "B", time.Hour, true) // another name
	try("l", "B", time.Hour, false)
	try("l", "A", 0, true) // gives it up
	try("l", "B", time.Hour, true)
	try("l", "A", time.Hour, false)

	// Expiry: B holds "n" for a short while; A gets it once that passed.
	const ttl = 50 * time.Millisecond
	start := time.Now()
	try("n", "B", ttl, true)
	ok, err := set.TryLease(ctx, "n", "A", time.Hour)
	switch {
	case err != nil:
		t.Fatal(err)
	case time.Since(start) >= ttl:
		t.Skip("too slow to see the lease held before it expired")
	case ok:
		t.Fatal("A took the unexpired lease of B")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := set.TryLease(ctx, "n", "A", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease of B never expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
	try("n", "B", time.Hour, false)
}
