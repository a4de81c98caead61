package log

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/bodycodec"
)

// cacheTestEntry is entry i of a test: a hashedrekord-sized body (557
// bytes, the average of a bench log's) and SET (71), an attestation if att.
func cacheTestEntry(i int, att bool) storage.Entry {
	body := bytes.Repeat([]byte{byte(i)}, 557)
	copy(body, fmt.Sprintf("entry %d", i))
	e := storage.Entry{
		Index:          uint64(i),
		LeafHash:       merkle.LeafHash(body),
		Body:           body,
		IntegratedTime: 1_700_000_000 + int64(i),
		SET:            bytes.Repeat([]byte{0x30}, 71),
	}
	if att {
		e.Attestation = []byte(fmt.Sprintf(`{"attestation":%d}`, i))
	}
	return e
}

func testCodec(tb testing.TB) *bodycodec.Codec {
	tb.Helper()
	c, err := bodycodec.New()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// storedTestEntry is entry i with its body encoded as the integrator hands
// it to the storage (Stored set).
func storedTestEntry(tb testing.TB, codec *bodycodec.Codec, e storage.Entry) storage.Entry {
	tb.Helper()
	data, f := codec.Encode(e.Body)
	if f == bodycodec.Raw {
		tb.Fatalf("entry %d: body not compressed", e.Index)
	}
	e.Stored = &storage.StoredBody{Data: data, Format: int16(f)}
	return e
}

func sameCachedEntry(a, b storage.Entry) bool {
	return a.Index == b.Index && a.LeafHash == b.LeafHash && bytes.Equal(a.Body, b.Body) &&
		a.IntegratedTime == b.IntegratedTime && bytes.Equal(a.SET, b.SET) && bytes.Equal(a.Attestation, b.Attestation)
}

// TestEntryCacheRecords: an entry comes back from its compact record as it
// went in (with and without SET and attestation, by index and by leaf hash),
// the cache keeps no slice of what it was given, a shared 8-byte hash prefix
// costs a miss and never a wrong entry, and trees do not see each other's
// entries.
func TestEntryCacheRecords(t *testing.T) {
	codec := testCodec(t)
	c, err := newEntryCache(100, 1<<20, codec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    storage.Entry
	}{
		{"plain", cacheTestEntry(1, false)},
		{"attestation", cacheTestEntry(2, true)},
		{"no SET", func() storage.Entry { e := cacheTestEntry(3, false); e.SET = nil; return e }()},
		{"no SET, attestation", func() storage.Entry { e := cacheTestEntry(4, true); e.SET = nil; return e }()},
		{"stored", storedTestEntry(t, codec, cacheTestEntry(5, false))},
		{"stored, attestation", storedTestEntry(t, codec, cacheTestEntry(6, true))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.e
			in.Body = bytes.Clone(tc.e.Body)
			if tc.e.Stored != nil {
				in.Stored = &storage.StoredBody{Data: bytes.Clone(tc.e.Stored.Data), Format: tc.e.Stored.Format}
			}
			c.add(7, &in)
			in.Body[0] ^= 0xff // the cache holds its own copy
			if in.Stored != nil {
				in.Stored.Data[0] ^= 0xff
			}
			got, ok := c.get(7, tc.e.Index)
			if !ok || !sameCachedEntry(got, tc.e) {
				t.Fatalf("by index: %v %+v, want %+v", ok, got, tc.e)
			}
			got, ok = c.getByLeafHash(7, tc.e.LeafHash)
			if !ok || !sameCachedEntry(got, tc.e) {
				t.Fatalf("by leaf hash: %v %+v", ok, got)
			}
			if _, ok := c.get(8, tc.e.Index); ok {
				t.Fatal("found in another tree by index")
			}
			if _, ok := c.getByLeafHash(8, tc.e.LeafHash); ok {
				t.Fatal("found in another tree by leaf hash")
			}
		})
	}
	// Same first 8 bytes, another hash: never the wrong entry.
	e := tests[0].e
	h := e.LeafHash
	h[31] ^= 1
	if got, ok := c.getByLeafHash(7, h); ok {
		t.Fatalf("hash sharing a prefix found %+v", got)
	}
	other := cacheTestEntry(50, false)
	other.LeafHash = h
	c.add(7, &other)
	if got, ok := c.getByLeafHash(7, h); !ok || got.Index != 50 {
		t.Fatalf("the newer of two entries sharing a prefix: %v %+v", ok, got)
	}
	if _, ok := c.getByLeafHash(7, e.LeafHash); ok {
		t.Fatal("the older of two entries sharing a prefix still found by hash")
	}
	if got, ok := c.get(7, e.Index); !ok || !sameCachedEntry(got, e) {
		t.Fatal("the older of two entries sharing a prefix lost by index")
	}

	// An entry whose body came encoded is charged for the encoded bytes;
	// a record that does not decode is a miss, never a wrong body.
	raw, stored := cacheTestEntry(60, false), storedTestEntry(t, codec, cacheTestEntry(61, false))
	before := c.bytes
	c.add(9, &raw)
	rawCost := c.bytes - before
	c.add(9, &stored)
	want := entryCost(make([]byte, merkle.HashSize+len(stored.Stored.Data)+len(stored.SET)))
	if storedCost := c.bytes - before - rawCost; storedCost != want || storedCost >= rawCost {
		t.Errorf("an encoded entry costs %d bytes (a raw one %d), want %d: its encoded body", storedCost, rawCost, want)
	}
	c.mu.Lock()
	slot := c.byIndex[treeIndex{9, 61}]
	c.slots[slot].rec[merkle.HashSize] ^= 0xff // the frame's header
	c.mu.Unlock()
	if got, ok := c.get(9, 61); ok {
		t.Fatalf("a corrupt encoded body was a hit: %q", got.Body)
	}
}

// TestEntryCacheEviction: evicting an entry removes it by leaf hash too,
// the byte bound holds, and the map by leaf hash does not outgrow the LRU.
func TestEntryCacheEviction(t *testing.T) {
	e0 := cacheTestEntry(0, false)
	per := entryCost(make([]byte, merkle.HashSize+len(e0.Body)+len(e0.SET)))
	for _, tc := range []struct {
		name     string
		count    int
		maxBytes int64
		kept     int
	}{
		{"count", 10, 1 << 20, 10},
		{"bytes", 1000, 10 * per, 10},
		{"bytes, not a multiple", 1000, 10*per + per/2, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newEntryCache(tc.count, tc.maxBytes, testCodec(t))
			if err != nil {
				t.Fatal(err)
			}
			const n = 100
			for i := range n {
				e := cacheTestEntry(i, false)
				c.add(1, &e)
			}
			for i := range n {
				e := cacheTestEntry(i, false)
				_, byIndex := c.get(1, uint64(i))
				_, byHash := c.getByLeafHash(1, e.LeafHash)
				want := i >= n-tc.kept
				if byIndex != want || byHash != want {
					t.Errorf("entry %d: cached by index %v, by hash %v, want %v", i, byIndex, byHash, want)
				}
			}
			if b := c.bytes; b > tc.maxBytes || b != int64(tc.kept)*per {
				t.Errorf("bytes %d, want %d (bound %d)", b, int64(tc.kept)*per, tc.maxBytes)
			}
			c.mu.Lock()
			hashes := len(c.byHash)
			c.mu.Unlock()
			if hashes != tc.kept {
				t.Errorf("%d leaf hashes kept, want %d", hashes, tc.kept)
			}
		})
	}
}

// TestEntryCacheConcurrent: readers and writers at once (run with -race)
// always get the entry they asked for, and the bounds hold.
func TestEntryCacheConcurrent(t *testing.T) {
	const n = 400
	entries := make([]storage.Entry, n)
	for i := range entries {
		entries[i] = cacheTestEntry(i, i%3 == 0)
	}
	c, err := newEntryCache(100, 1<<20, testCodec(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 2000 {
				i := (j*7 + w*13) % n
				c.add(1, &entries[i])
				if got, ok := c.get(1, uint64(i)); ok && !sameCachedEntry(got, entries[i]) {
					t.Errorf("entry %d: got %+v", i, got)
					return
				}
				k := (i + 1) % n
				if got, ok := c.getByLeafHash(1, entries[k].LeafHash); ok && !sameCachedEntry(got, entries[k]) {
					t.Errorf("entry %d by hash: got %+v", k, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(c.byIndex) > 100 || c.bytes > 1<<20 || len(c.byHash) > len(c.byIndex) {
		t.Fatalf("%d entries, %d hashes, %d bytes: over the bounds", len(c.byIndex), len(c.byHash), c.bytes)
	}
}

// BenchmarkEntryCacheMemory measures the heap a cached hashedrekord-sized
// entry takes, against what entryCost charges for it: 100,000 entries.
func BenchmarkEntryCacheMemory(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c, err := newEntryCache(2*n, 1<<40, testCodec(b))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := range n {
			e := cacheTestEntry(i, false)
			c.add(1, &e)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/entry")
		b.ReportMetric(float64(c.bytes)/n, "charged-B/entry")
		runtime.KeepAlive(c)
		b.StartTimer()
	}
}

// BenchmarkEntryCacheGet is a cache hit by index, from every core at once
// (the read-entry handler's entry lookup): 100,000 entries.
func BenchmarkEntryCacheGet(b *testing.B) {
	const n = 100_000
	c, err := newEntryCache(2*n, 1<<40, testCodec(b))
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		e := cacheTestEntry(i, false)
		c.add(1, &e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := uint64(0)
		for pb.Next() {
			i = (i + 7919) % n
			if _, ok := c.get(1, i); !ok {
				b.Fatal("miss")
			}
		}
	})
}
