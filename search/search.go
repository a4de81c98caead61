// Package search finds entries of a log set by their typed search keys
// (types.SearchKey): the machinery the API's search doors and the explorer
// (package ui) share.
package search

import (
	"context"
	"fmt"
	"slices"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/types"
)

// Log returns the indexes, in sh's log and ascending, of the entries
// matching any of the terms (all of them with and), each term matching any
// of its keys. An entry's keys are all in the log holding it, so "and" is
// decided in each log.
func Log(ctx context.Context, sh *logset.Shard, terms [][]types.SearchKey, and bool) ([]uint64, error) {
	counts := map[uint64]int{}
	for _, term := range terms {
		matched := map[uint64]bool{}
		for _, k := range term {
			idxs, err := sh.Log.Search(ctx, k.Hash())
			if err != nil {
				return nil, fmt.Errorf("searching tree %d: %w", sh.TreeID(), err)
			}
			for _, i := range idxs {
				matched[i] = true
			}
		}
		for i := range matched {
			counts[i]++
		}
	}
	var found []uint64
	for i, c := range counts {
		if !and || c == len(terms) {
			found = append(found, i)
		}
	}
	slices.Sort(found)
	return found, nil
}
