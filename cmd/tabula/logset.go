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
		Profile: v1Profile(hostname),
		Keys:    keys,
		Log:     cfg,
		Logger:  logger,
	})
}

// v1Profile gives each Rekor v1 log of the set its profile: a log is served
// as the hostname of its stored origin (a rotation may name the next log
// anew); hostname names a log created here, or one whose origin is not
// recorded yet (migrated from a one-tree database).
func v1Profile(hostname string) func(storage.LogInfo) log.Profile {
	return func(info storage.LogInfo) log.Profile {
		host := hostname
		if h := rekorv1.Hostname(info.Origin); h != "" {
			host = h
		}
		return rekorv1.ShardProfile(host, info.StartIndex)
	}
}
