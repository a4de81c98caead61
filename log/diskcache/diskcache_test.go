package diskcache

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/merkle"
)

// testTile is a tile's hashes, nodes and records, each distinct by seed.
func testTile(seed byte, recordSize int) (hashes, nodes []byte, records [][]byte) {
	hashes = bytes.Repeat([]byte{seed}, entries*merkle.HashSize)
	for i := range entries {
		hashes[i*merkle.HashSize] = byte(i)
		records = append(records, bytes.Repeat([]byte{seed, byte(i)}, recordSize/2))
	}
	return hashes, bytes.Repeat([]byte{seed ^ 0xff}, merkle.UpperNodesSize), records
}

func mustOpen(t *testing.T, dir string, maxBytes int64) *Cache {
	t.Helper()
	c, err := Open(dir, maxBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWriteRead(t *testing.T) {
	c := mustOpen(t, t.TempDir(), 1<<30)
	hashes, nodes, records := testTile(7, 100)
	if _, err := c.Read(1, 3, 0); !errors.Is(err, ErrMiss) {
		t.Fatalf("Read before Write: %v, want ErrMiss", err)
	}
	if err := c.Write(1, 3, hashes, nodes, records); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 15, 16, 100, 255} {
		p, err := c.Read(1, 3, i)
		if err != nil {
			t.Fatalf("Read(%d): %v", i, err)
		}
		g := i / merkle.GroupWidth * merkle.GroupWidth * merkle.HashSize
		if !bytes.Equal(p.Record, records[i]) || !bytes.Equal(p.Nodes, nodes) ||
			!bytes.Equal(p.Group, hashes[g:g+merkle.GroupWidth*merkle.HashSize]) {
			t.Errorf("Read(%d) = %x…, want what was written", i, p.Record[:4])
		}
	}
	for _, k := range []key{{2, 3}, {1, 4}} {
		if _, err := c.Read(k.tree, k.tile, 0); !errors.Is(err, ErrMiss) {
			t.Errorf("Read of tile %d of tree %d: %v, want ErrMiss", k.tile, k.tree, err)
		}
	}
	if _, err := c.Read(1, 3, 256); err == nil {
		t.Error("Read of entry 256 of a tile succeeded")
	}
	if !c.Has(1, 3) || c.Has(1, 4) {
		t.Error("Has is wrong")
	}
}

func TestWriteRefusesBadShapes(t *testing.T) {
	c := mustOpen(t, t.TempDir(), 1<<30)
	hashes, nodes, records := testTile(1, 10)
	for _, tc := range []struct {
		name          string
		hashes, nodes []byte
		records       [][]byte
	}{
		{"short hashes", hashes[:100], nodes, records},
		{"short nodes", hashes, nodes[:32], records},
		{"255 records", hashes, nodes, records[:255]},
	} {
		if err := c.Write(1, 0, tc.hashes, tc.nodes, tc.records); err == nil {
			t.Errorf("%s: Write succeeded", tc.name)
		}
	}
	if c.Has(1, 0) {
		t.Error("a refused Write left a file")
	}
}

// TestCorrupt: a file that is not what Write wrote is ErrCorrupt and
// removed; one that vanished is a miss.
func TestCorrupt(t *testing.T) {
	hashes, nodes, records := testTile(3, 50)
	for _, tc := range []struct {
		name   string
		mangle func(path string) error
		want   error
	}{
		{"record byte flipped", func(p string) error { return flip(p, recordsAt+60) }, ErrCorrupt},
		{"CRC byte flipped", func(p string) error { return flip(p, recordsAt+104) }, ErrCorrupt},
		{"magic", func(p string) error { return flip(p, 0) }, ErrCorrupt},
		{"offset", func(p string) error { return flip(p, offsetsAt+4*1+3) }, ErrCorrupt},
		{"truncated in the records", func(p string) error { return os.Truncate(p, int64(recordsAt+70)) }, ErrCorrupt},
		{"truncated in the header", func(p string) error { return os.Truncate(p, 100) }, ErrCorrupt},
		{"empty", func(p string) error { return os.Truncate(p, 0) }, ErrCorrupt},
		{"gone", os.Remove, ErrMiss},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			c, err := Open(t.TempDir(), 1<<30, reg)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Write(5, 9, hashes, nodes, records); err != nil {
				t.Fatal(err)
			}
			if err := tc.mangle(c.path(key{5, 9})); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Read(5, 9, 1); !errors.Is(err, tc.want) {
				t.Fatalf("Read: %v, want %v", err, tc.want)
			}
			if c.Has(5, 9) {
				t.Error("the cache still holds the tile")
			}
			if _, err := os.Stat(c.path(key{5, 9})); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the file is still there: %v", err)
			}
			if _, err := c.Read(5, 9, 1); !errors.Is(err, ErrMiss) {
				t.Errorf("Read again: %v, want ErrMiss", err)
			}
			if n := gathered(t, reg, "tabula_disk_cache_corrupt_total"); tc.want == ErrCorrupt && n != 1 {
				t.Errorf("corrupt count %v, want 1", n)
			}
		})
	}
}

// gathered is the value of the counter name in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func flip(path string, at int) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, int64(at)); err != nil {
		return err
	}
	b[0] ^= 0x40
	_, err = f.WriteAt(b, int64(at))
	return err
}

// TestEvictionAndStock: the files written first go past the bound, and a
// reopened cache takes stock of what is there, removing a crash's
// temporary files and, past a smaller bound, files until it fits.
func TestEvictionAndStock(t *testing.T) {
	dir := t.TempDir()
	hashes, nodes, records := testTile(9, 100)
	size := int64(recordsAt + entries*(100+crcSize))
	c := mustOpen(t, dir, 3*size)
	for tile := range uint64(5) {
		if err := c.Write(1, tile*tilesPerDir, hashes, nodes, records); err != nil {
			t.Fatal(err)
		}
	}
	for tile, want := range []bool{false, false, true, true, true} {
		if got := c.Has(1, uint64(tile)*tilesPerDir); got != want {
			t.Errorf("tile %d: Has %v, want %v", tile*tilesPerDir, got, want)
		}
		if _, err := os.Stat(c.path(key{1, uint64(tile) * tilesPerDir})); (err == nil) != want {
			t.Errorf("tile %d: file there: %v", tile*tilesPerDir, err == nil)
		}
	}
	if c.bytes != 3*size {
		t.Errorf("bytes %d, want %d", c.bytes, 3*size)
	}

	tmp := filepath.Join(dir, "1", "2", ".8192.123")
	if err := os.WriteFile(tmp, []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "README")
	if err := os.WriteFile(other, []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = mustOpen(t, dir, 2*size)
	held := 0
	for tile := range uint64(5) {
		if c.Has(1, tile*tilesPerDir) {
			held++
			if _, err := c.Read(1, tile*tilesPerDir, 7); err != nil {
				t.Errorf("tile %d after reopening: %v", tile*tilesPerDir, err)
			}
		}
	}
	if held != 2 || c.bytes != 2*size {
		t.Errorf("reopened with a bound of two tiles: %d held, %d bytes", held, c.bytes)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file is still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not the cache's was touched: %v", err)
	}
}

// TestOrderStaysBounded: tiles removed and written again over and over
// do not grow the eviction order without bound.
func TestOrderStaysBounded(t *testing.T) {
	c := mustOpen(t, t.TempDir(), 1<<40)
	hashes, nodes, records := testTile(2, 2)
	for i := range 3000 {
		if err := c.Write(1, uint64(i%3), hashes, nodes, records); err != nil {
			t.Fatal(err)
		}
		c.Remove(1, uint64(i%3))
	}
	if len(c.order) > 2*len(c.files)+1024 {
		t.Errorf("order holds %d keys for %d files", len(c.order), len(c.files))
	}
}

// TestAdmit: tiles for readers are taken freely while the cache has room,
// and at most ChurnPerSecond a second once each would evict another.
func TestAdmit(t *testing.T) {
	hashes, nodes, records := testTile(8, 100)
	size := int64(recordsAt + entries*(100+crcSize))
	c := mustOpen(t, t.TempDir(), 2*size)
	now := time.Unix(1e9, 0)
	for tile := range uint64(2) {
		for range 5 {
			if !c.Admit(now) {
				t.Fatalf("with %d of 2 tiles: not admitted", tile)
			}
		}
		if err := c.Write(1, tile, hashes, nodes, records); err != nil {
			t.Fatal(err)
		}
	}
	if !c.Admit(now) {
		t.Error("full: the first tile was not admitted")
	}
	if c.Admit(now) || c.Admit(now.Add(time.Second/ChurnPerSecond/2)) {
		t.Error("full: a second tile was admitted at once")
	}
	if !c.Admit(now.Add(time.Second / ChurnPerSecond)) {
		t.Error("full: no tile admitted a churn interval later")
	}
}

func TestOpenRefusesNoSize(t *testing.T) {
	if _, err := Open(t.TempDir(), 0, nil); err == nil {
		t.Error("Open with a size of 0 succeeded")
	}
}

// FuzzRead: whatever a file holds, Read returns a part or an error, and
// never panics.
func FuzzRead(f *testing.F) {
	hashes, nodes, records := testTile(4, 20)
	c, err := Open(f.TempDir(), 1<<30, nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := c.Write(1, 1, hashes, nodes, records); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(c.path(key{1, 1}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, 3)
	f.Add(good[:recordsAt+10], 0)
	f.Add([]byte(magic), 255)
	f.Fuzz(func(t *testing.T, file []byte, i int) {
		c, err := Open(t.TempDir(), 1<<30, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(1, 1, hashes, nodes, records); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.path(key{1, 1}), file, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := c.Read(1, 1, i)
		if err == nil && (len(p.Group) != merkle.GroupWidth*merkle.HashSize || len(p.Nodes) != merkle.UpperNodesSize) {
			t.Errorf("Read gave a part of %d and %d bytes", len(p.Group), len(p.Nodes))
		}
		if err != nil && c.Has(1, 1) && i >= 0 && i < entries {
			t.Error(fmt.Errorf("a failed Read left the tile: %w", err))
		}
	})
}

// BenchmarkRead is one entry's read from a cached tile in the page cache:
// the open, the two reads and the checks.
func BenchmarkRead(b *testing.B) {
	c, err := Open(b.TempDir(), 1<<30, nil)
	if err != nil {
		b.Fatal(err)
	}
	hashes, nodes, records := testTile(6, 300)
	for tile := range uint64(64) {
		if err := c.Write(1, tile, hashes, nodes, records); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		if _, err := c.Read(1, uint64(i%64), i%entries); err != nil {
			b.Fatal(err)
		}
	}
}
