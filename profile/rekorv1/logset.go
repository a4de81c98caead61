package rekorv1

import (
	"context"
	"fmt"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/storage"
)

// LogProfiles gives each Rekor v1 log of a log set its profile: a log is
// served as the hostname of its stored origin (a rotation may name the next
// log anew), and signs SETs over its entries' virtual indexes; hostname
// names a log whose origin is not stored (a new one, or one migrated from a
// one-tree database).
func LogProfiles(hostname string) func(storage.LogInfo) log.Profile {
	return func(info storage.LogInfo) log.Profile {
		host := hostname
		if h := Hostname(info.Origin); h != "" {
			host = h
		}
		return ShardProfile(host, info.StartIndex)
	}
}

// Rotate freezes the active Rekor v1 log of set at its head and starts the
// next one in the same transaction (logset.Rotate): a new tree, signed by
// key, served as hostname ("": the frozen log's hostname). It returns the
// frozen log as it was before and the new one.
func Rotate(ctx context.Context, set storage.LogSet, key logset.Signer, hostname string) (old, next storage.LogInfo, err error) {
	return logset.Rotate(ctx, set, Name, key, func(old storage.LogInfo) (log.Profile, error) {
		host := hostname
		if host == "" {
			if host = Hostname(old.Origin); host == "" {
				return log.Profile{}, fmt.Errorf("log %d has origin %q, not a Rekor v1 one: name the next log's hostname", old.TreeID, old.Origin)
			}
		}
		return Profile(host), nil
	})
}
