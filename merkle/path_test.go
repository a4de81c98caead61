package merkle

import (
	"errors"
	"math"
	"testing"
)

var tilePathTests = []struct {
	path string
	p    TilePath
}{
	// Examples from c2sp.org/tlog-tiles.
	{"tile/0/x001/x234/067", TilePath{Level: 0, Index: 1234067, Width: 256}},
	{"tile/0/005", TilePath{Index: 5, Width: 256}},
	{"tile/0/x001/000", TilePath{Index: 1000, Width: 256}},
	{"tile/1/x001/x234/067.p/112", TilePath{Level: 1, Index: 1234067, Width: 112}},
	{"tile/entries/x001/x234/067.p/112", TilePath{Entries: true, Index: 1234067, Width: 112}},
	{"tile/entries/000", TilePath{Entries: true, Width: 256}},
	// The size-70000 example: 273 full L0 tiles, L0 partial width 112, one
	// full L1 tile, L1 partial width 17, L2 partial width 1.
	{"tile/0/273.p/112", TilePath{Index: 273, Width: 112}},
	{"tile/1/000", TilePath{Level: 1, Width: 256}},
	{"tile/1/001.p/17", TilePath{Level: 1, Index: 1, Width: 17}},
	{"tile/2/000.p/1", TilePath{Level: 2, Width: 1}},
	// Edges.
	{"tile/0/000.p/1", TilePath{Width: 1}},
	{"tile/0/000.p/255", TilePath{Width: 255}},
	{"tile/63/999", TilePath{Level: 63, Index: 999, Width: 256}},
	{"tile/10/x001/000", TilePath{Level: 10, Index: 1000, Width: 256}},
	{"tile/0/x018/x446/x744/x073/x709/x551/615", TilePath{Index: math.MaxUint64, Width: 256}},
}

func TestTilePath(t *testing.T) {
	for _, tt := range tilePathTests {
		if got := tt.p.String(); got != tt.path {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.path)
		}
		got, err := ParseTilePath(tt.path)
		if err != nil || got != tt.p {
			t.Errorf("ParseTilePath(%q) = %+v, %v, want %+v", tt.path, got, err, tt.p)
		}
	}
	// Widths outside 1..255 are written as full tiles.
	for _, w := range []int{0, -1, 256, 1000} {
		if got := (TilePath{Index: 5, Width: w}).String(); got != "tile/0/005" {
			t.Errorf("Width %d: String() = %q", w, got)
		}
	}
}

func TestParseTilePathInvalid(t *testing.T) {
	for _, path := range []string{
		"",
		"tile",
		"tile/",
		"tile/0",
		"tile/0/",
		"/tile/0/000",
		"tiles/0/000",
		"tile/0/000/",
		"tile//000",
		"tile/00/000",     // leading zero in level
		"tile/01/000",     // leading zero in level
		"tile/64/000",     // level too large
		"tile/100/000",    // level too large
		"tile/-1/000",     // negative level
		"tile/+1/000",     // sign
		"tile/a/000",      // not a number
		"tile/data/000",   // sumdb's data tiles are not C2SP
		"tile/8/0/000",    // sumdb's tile/H/L/N form
		"tile/0/5",        // short group
		"tile/0/05",       // short group
		"tile/0/0005",     // long group
		"tile/0/x005",     // x on the last group
		"tile/0/001/000",  // missing x
		"tile/0/x000/005", // leading zero group
		"tile/0/x000/x000/000",
		"tile/0/x1/000",
		"tile/0/xx001/000",
		"tile/0/x001/x234/067/",
		"tile/0/-01",
		"tile/0/0x1",
		"tile/0/1e3",
		"tile/0/000.p",
		"tile/0/000.p/",
		"tile/0/000.p/0",     // width 0
		"tile/0/000.p/256",   // full width is written without .p
		"tile/0/000.p/300",   // too wide
		"tile/0/000.p/012",   // leading zero
		"tile/0/000.p/+12",   // sign
		"tile/0/000.p/1/2",   // extra segment
		"tile/0/000.p/1.p/1", // repeated suffix
		"tile/0/000.q/1",
		"tile/0/000.p/1 ",
		"tile/0/000.p/1\n",
		" tile/0/000",
		"tile/0/x018/x446/x744/x073/x709/x551/616",      // overflows uint64
		"tile/0/x999/x999/x999/x999/x999/x999/999",      // overflows uint64
		"tile/0/x001/x000/x000/x000/x000/x000/x000/000", // eight groups
		"tile/entries/0/000",                            // entries tiles have no level
		"tile/entries/",
		"tile/entries",
		"tile/entries/005.p/0",
		"tile/0/٠٠٥", // Arabic-Indic digits
	} {
		p, err := ParseTilePath(path)
		if err == nil {
			t.Errorf("ParseTilePath(%q) = %+v, want error", path, p)
		} else if !errors.Is(err, ErrInvalidTilePath) {
			t.Errorf("ParseTilePath(%q) error %v does not wrap ErrInvalidTilePath", path, err)
		}
	}
}

func TestPartialWidth(t *testing.T) {
	for _, tt := range []struct {
		level uint8
		size  uint64
		want  int
	}{
		{0, 0, 0}, {0, 1, 1}, {0, 255, 255}, {0, 256, 0}, {0, 257, 1},
		{0, 70_000, 112}, {1, 70_000, 17}, {2, 70_000, 1}, {3, 70_000, 0},
		{1, 255, 0}, {1, 256, 1}, {1, 65_535, 255}, {1, 65_536, 0}, {2, 65_536, 1},
		{7, math.MaxUint64, 255}, {8, math.MaxUint64, 0}, {255, math.MaxUint64, 0},
	} {
		if got := PartialWidth(tt.level, tt.size); got != tt.want {
			t.Errorf("PartialWidth(%d, %d) = %d, want %d", tt.level, tt.size, got, tt.want)
		}
	}
}

func FuzzParseTilePath(f *testing.F) {
	for _, tt := range tilePathTests {
		f.Add(tt.path)
	}
	f.Add("tile/0/x000/005")
	f.Add("tile/00/000.p/012")
	f.Fuzz(func(t *testing.T, path string) {
		p, err := ParseTilePath(path)
		if err != nil {
			return
		}
		if got := p.String(); got != path {
			t.Errorf("ParseTilePath(%q).String() = %q", path, got)
		}
		if p.Width < 1 || p.Width > TileWidth || p.Level > 63 || p.Entries && p.Level != 0 {
			t.Errorf("ParseTilePath(%q) = %+v, out of range", path, p)
		}
	})
}
