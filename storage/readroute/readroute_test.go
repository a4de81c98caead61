package readroute

import "testing"

func TestTileNeed(t *testing.T) {
	for _, tc := range []struct {
		name        string
		level       uint8
		index, size uint64
		width       int
		need        uint64
	}{
		{"empty tree", 0, 0, 0, 0, 0},
		{"partial level-0 tile", 0, 0, 5, 5, 5},
		{"full level-0 tile", 0, 0, 300, 256, 256},
		{"right edge of 300", 0, 1, 300, 44, 300},
		{"past the tree", 0, 2, 300, 0, 0},
		{"level 1, one node", 1, 0, 300, 1, 256},
		{"level 1, two nodes", 1, 0, 512, 2, 512},
		{"level 1 of a tree with no full level-0 tile", 1, 0, 255, 0, 0},
		{"level 1 full", 1, 0, 1 << 20, 256, 1 << 16},
		{"level 1 edge", 1, 16, 1<<20 + 3*256 + 7, 3, 1<<20 + 3*256},
		{"level 8 does not exist", 8, 0, 1 << 62, 0, 0},
		{"level 7 of a huge tree", 7, 0, 1 << 62, 64, 1 << 62},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, n := tileNeed(tc.level, tc.index, tc.size)
			if w != tc.width || n != tc.need {
				t.Errorf("tileNeed(%d, %d, %d) = %d, %d; want %d, %d", tc.level, tc.index, tc.size, w, n, tc.width, tc.need)
			}
		})
	}
}
