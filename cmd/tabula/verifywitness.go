package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/verify"
	"github.com/tabularium/tabula/witness/policy"
)

// readPolicy reads a --witness-policy file (c2sp.org/tlog-policy).
func readPolicy(path string) (*policy.Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --witness-policy: %w", err)
	}
	p, err := policy.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("--witness-policy %s: %w", path, err)
	}
	return p, nil
}

// witnessSource reads a Tabula server's cosigned checkpoints and tiles for
// verify.Witnessed: GET /logs/{treeID}/checkpoint (the newest checkpoint
// that meets the server's witness quorum) and /logs/{treeID}/tile/…. The
// tree ID of a Rekor v1 origin "<host> - <treeID>" is its end; a Rekor v2
// origin's is the log GET /logs lists with that origin. A log the server
// does not name is read at / (GET /checkpoint, /tile/…).
type witnessSource struct {
	cl *client.Client

	mu    sync.Mutex
	trees map[string]string // origin → tree ID ("" for /)
}

func newWitnessSource(cl *client.Client) *witnessSource {
	return &witnessSource{cl: cl, trees: map[string]string{}}
}

func (s *witnessSource) treeID(ctx context.Context, origin string) string {
	s.mu.Lock()
	id, ok := s.trees[origin]
	s.mu.Unlock()
	if ok {
		return id
	}
	if _, t, found := strings.Cut(origin, " - "); found {
		if _, err := strconv.ParseUint(t, 10, 63); err == nil {
			id = t
		}
	} else if origin != "" {
		if logs, err := s.cl.Logs(ctx); err == nil {
			for _, l := range logs {
				if l.Origin == origin {
					id = l.TreeID // the newest log of that origin: listed last
				}
			}
		}
	}
	s.mu.Lock()
	s.trees[origin] = id
	s.mu.Unlock()
	return id
}

func (s *witnessSource) CosignedCheckpoint(ctx context.Context, origin string) ([]byte, error) {
	if id := s.treeID(ctx, origin); id != "" {
		return s.cl.Tree(id).Checkpoint(ctx)
	}
	return s.cl.Checkpoint(ctx)
}

func (s *witnessSource) Tiles(origin string, size uint64) merkle.TileReader {
	return merkle.SizedTileReader(size, func(ctx context.Context, level uint8, index uint64, w int) ([]byte, error) {
		if id := s.treeID(ctx, origin); id != "" {
			return s.cl.Tree(id).Tile(ctx, level, index, w)
		}
		return s.cl.Tile(ctx, level, index, w)
	})
}

// checkWitnessed requires every logged entry to be covered by a checkpoint
// that meets p: its own, or the log's cosigned one fetched through src.
// It returns a line per entry for the output.
func checkWitnessed(ctx context.Context, p *policy.Policy, logged []verify.LoggedEntry, src verify.WitnessSource) ([]string, error) {
	if len(logged) == 0 {
		return nil, &verify.CheckError{Check: verify.CheckWitnessed, Err: fmt.Errorf("the bundle has no inclusion proof to tie its entry to a witnessed checkpoint")}
	}
	var notes []string
	for _, e := range logged {
		c, err := verify.Witnessed(ctx, p, e, src)
		if err != nil {
			return notes, err
		}
		notes = append(notes, "witnessed: "+c.Summary(p))
	}
	return notes, nil
}
