// Package rekorv2 is the Rekor v2 profile of a log (sigstore/rekor-tiles):
// each log has an origin of its own, a hostname-like name that is also the
// key name of its checkpoint signature and the hostname of its trusted
// root's baseUrl (https://<origin>); the key ID follows c2sp.org/signed-note
// (Ed25519: SHA-256(origin || 0x0A || 0x01 || key)); entries get no signed
// entry timestamp. Rekor v2 has no virtual index: its logs' indexes are
// their own, and their entries are stored in an index space of their own
// from Base.
package rekorv2

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/storage"
)

// Name is the profile's name.
const Name = "rekor-v2"

// Base is the virtual index of the first Rekor v2 log's first entry: far
// from Rekor v1's logs, which start at 0.
const Base uint64 = 1 << 62

// Profile is the Rekor v2 profile of the log named origin.
func Profile(origin string) log.Profile {
	return log.Profile{
		Name:      Name,
		Origin:    func(int64) string { return origin },
		KeyName:   origin,
		KeyIDForm: checkpoint.KeyIDC2SP,
	}
}

// LogProfiles gives each Rekor v2 log of a log set its profile, from the
// origin stored with it.
func LogProfiles(info storage.LogInfo) log.Profile { return Profile(info.Origin) }

// CheckOrigin refuses an origin a Rekor v2 log cannot have: rekor-tiles
// wants a non-empty UTF-8 name without spaces or '+', and sigstore-go wants
// it to be the hostname of the log's baseUrl, https://<origin>.
func CheckOrigin(origin string) error {
	switch {
	case origin == "":
		return errors.New("a Rekor v2 log needs an origin (a hostname, e.g. log2026-1.tabula.example)")
	case !utf8.ValidString(origin) || strings.ContainsAny(origin, " +\t\n"):
		return fmt.Errorf("origin %q: a note name is UTF-8 without spaces or '+'", origin)
	}
	u, err := url.Parse("https://" + origin)
	if err != nil || u.Hostname() != origin {
		return fmt.Errorf("origin %q is not a hostname: clients check it against the hostname of https://<origin>", origin)
	}
	return nil
}

// checkNew refuses an origin that is invalid or that a log of the set has.
func checkNew(ctx context.Context, set storage.LogSet, origin string) error {
	if err := CheckOrigin(origin); err != nil {
		return err
	}
	logs, err := set.Logs(ctx)
	if err != nil {
		return err
	}
	for _, l := range logs {
		if l.Origin == origin {
			return fmt.Errorf("origin %q is log %d's: every log needs an origin of its own", origin, l.TreeID)
		}
	}
	return nil
}

// Create creates the first active Rekor v2 log of set, named origin and
// signed by key (Ed25519 is what the witness network takes).
func Create(ctx context.Context, set storage.LogSet, key logset.Signer, origin string) (storage.LogInfo, error) {
	if err := checkNew(ctx, set, origin); err != nil {
		return storage.LogInfo{}, err
	}
	return logset.Create(ctx, set, Name, Base, key, Profile(origin))
}

// Rotate freezes the active Rekor v2 log of set at its head and starts the
// next one, named origin (a name no log of the set has) and signed by key.
// It returns the frozen log as it was before and the new one.
func Rotate(ctx context.Context, set storage.LogSet, key logset.Signer, origin string) (old, next storage.LogInfo, err error) {
	if err := checkNew(ctx, set, origin); err != nil {
		return old, next, err
	}
	return logset.Rotate(ctx, set, Name, key, func(storage.LogInfo) (log.Profile, error) { return Profile(origin), nil })
}
