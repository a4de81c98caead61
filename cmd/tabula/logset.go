package main

import (
	"context"
	"log/slog"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/storage"
)

// openLogs opens the Rekor v1 logs of the database as hostname, with keys
// (the active log's must be among them; the first creates a new database's
// log) and every log's configuration cfg.
func openLogs(ctx context.Context, set storage.LogSet, hostname string, keys []logset.Signer, cfg log.Config, logger *slog.Logger) (*logset.Set, error) {
	return logset.Open(ctx, logset.Config{
		Store:   set,
		Name:    rekorv1.Name,
		Profile: rekorv1.LogProfiles(hostname),
		Keys:    keys,
		Log:     cfg,
		Logger:  logger,
	})
}
