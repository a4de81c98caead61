package postgres

import (
	"context"
	"errors"

	"github.com/tabularium/tabula/storage"
)

// TEMPORARY stubs until the storage branch lands.

func (s *Store) Rotate(ctx context.Context, oldTreeID int64, next storage.LogInfo, state storage.TreeState) (storage.LogInfo, error) {
	return storage.LogInfo{}, errors.New("not built")
}

func (s *Store) LocateLeafHashes(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]storage.LeafLocation, error) {
	return nil, errors.New("not built")
}
