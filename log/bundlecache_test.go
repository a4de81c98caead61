package log

import (
	"bytes"
	"testing"
)

// TestBundleCacheBytes: the bundle cache keeps to its byte bound as well as
// its count, evicting the least recently used bundles, and skips a bundle
// larger than the whole bound.
func TestBundleCacheBytes(t *testing.T) {
	const bundle = 10_000
	cost := int64(bundle + bundleOverhead)
	tests := []struct {
		name     string
		count    int
		maxBytes int64
		sizes    []int  // bundles added, index i of size sizes[i]
		cached   []bool // which are cached at the end
	}{
		{"byte bound", 100, 3 * cost, []int{bundle, bundle, bundle, bundle, bundle}, []bool{false, false, true, true, true}},
		{"count bound", 2, 100 * cost, []int{bundle, bundle, bundle}, []bool{false, true, true}},
		{"too large alone", 100, 3 * cost, []int{bundle, 4 * bundle, bundle}, []bool{true, false, true}},
		{"a large one evicts several", 100, 3 * cost, []int{bundle, bundle, bundle, 2 * bundle}, []bool{false, false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newBundleCache(tt.count, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range tt.sizes {
				// Appended bundles have spare capacity; the cache must
				// count (and keep) only the bytes.
				b := append(make([]byte, 0, 2*n), bytes.Repeat([]byte{byte(i)}, n)...)
				c.add(1, uint64(i), b)
				if got := c.bytes.Load(); got > tt.maxBytes {
					t.Fatalf("after bundle %d: %d bytes cached, bound %d", i, got, tt.maxBytes)
				}
			}
			var want int64
			for i, cached := range tt.cached {
				b, ok := c.get(1, uint64(i))
				if ok != cached {
					t.Fatalf("bundle %d cached: %v, want %v", i, ok, cached)
				}
				if ok {
					if len(b) != tt.sizes[i] || b[0] != byte(i) {
						t.Fatalf("bundle %d: wrong bytes", i)
					}
					want += int64(cap(b) + bundleOverhead)
				}
			}
			if got := c.bytes.Load(); got != want {
				t.Fatalf("%d bytes accounted, the cached bundles take %d", got, want)
			}
		})
	}
}
