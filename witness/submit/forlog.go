package submit

import (
	"context"
	"errors"
	"fmt"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/storage"
)

// SetLog fills in cfg's TreeID, Origin, LogVerifier, Head and Proof from l,
// a log this process serves with its private key.
func (cfg *Config) SetLog(l *log.Log) error {
	if l.Signer() == nil {
		return errors.New("submit: the log has no signer")
	}
	p := l.Profile()
	v, err := checkpoint.NewVerifier(p.KeyName, p.KeyIDForm, l.Signer().Public())
	if err != nil {
		return fmt.Errorf("submit: the log's verifier: %w", err)
	}
	cfg.TreeID, cfg.Origin, cfg.LogVerifier = l.TreeID(), l.Origin(), v
	cfg.Head = func(ctx context.Context) (storage.TreeState, error) { return l.Head(ctx) }
	cfg.Proof = func(ctx context.Context, from, to uint64) ([][]byte, error) {
		hs, err := l.ConsistencyProof(ctx, from, to)
		if err != nil {
			return nil, err
		}
		proof := make([][]byte, len(hs))
		for i := range hs {
			proof[i] = hs[i][:]
		}
		return proof, nil
	}
	return nil
}
