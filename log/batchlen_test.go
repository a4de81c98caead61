package log

import (
	"testing"

	"github.com/tabularium/tabula/storage"
)

// TestBatchLen: a batch takes leaves off the queue up to BatchMaxSize and
// up to BatchMaxKeys search keys together, but at least one leaf.
func TestBatchLen(t *testing.T) {
	const maxSize, maxKeys = 4, 10
	tests := []struct {
		name     string
		keys     []int // search keys of each queued leaf
		wantN    int
		wantFull bool
	}{
		{"empty", nil, 0, false},
		{"under both", []int{2, 3}, 2, false},
		{"size reached", []int{1, 1, 1, 1}, 4, true},
		{"size passed", []int{1, 1, 1, 1, 1, 1}, 4, true},
		{"keys reached", []int{5, 5}, 2, true},
		{"keys passed: the batch closes before", []int{4, 4, 4, 1}, 2, true},
		{"a leaf over the budget goes alone", []int{25, 1}, 1, true},
		{"then the next", []int{1, 25}, 1, true},
		{"no keys", []int{0, 0, 0}, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &Log{cfg: Config{BatchMaxSize: maxSize, BatchMaxKeys: maxKeys}}
			for _, n := range tt.keys {
				l.queue = append(l.queue, &pending{leaf: Leaf{SearchKeys: make([]storage.Hash, n)}})
			}
			n, full := l.batchLen()
			if n != tt.wantN || full != tt.wantFull {
				t.Fatalf("batchLen = %d, %t; want %d, %t", n, full, tt.wantN, tt.wantFull)
			}
		})
	}
}
