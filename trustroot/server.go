package trustroot

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/storage"
)

// ServerLog is one log of a Tabula server, as GET /logs describes it.
type ServerLog struct {
	TreeID string
	// API is "v1" (Rekor v1, key ID Rekor's log ID) or "v2" (Rekor v2, key
	// ID of the C2SP signed-note form).
	API     string
	Origin  string
	KeyName string // the name its checkpoints are signed under
	KeyID   []byte
	Key     crypto.PublicKey
	Frozen  bool
	// Size is the log's size (a frozen log's final size).
	Size uint64
	// StartIndex is the virtual index of a Rekor v1 log's first entry.
	StartIndex uint64
	CreatedAt  time.Time
}

// ErrNoLog is Keys' error when no log is left to trust.
var ErrNoLog = errors.New("the server lists no log to trust")

// EntryTimeFunc returns the integrated time of the entry at index (the
// log's own index, not the virtual one) of the Rekor v1 log l.
type EntryTimeFunc func(ctx context.Context, l ServerLog, index uint64) (time.Time, error)

// Keys lists the log keys to trust of a server's logs (Rekor v1 logs
// oldest first, then Rekor v2 logs oldest first), each named by the
// identifier its checkpoints are signed under, https://<key name> (Rekor
// v1: the server's --hostname; Rekor v2: the log's origin), as sigstore-go
// (v2) and sigstore-js (v1 and v2) check. entryTime reads the entries'
// integrated times; note, if not nil, is told of the logs left out.
//
// Validity: a Rekor v1 log from a minute before it was created or its first
// entry was integrated, whichever is earlier (a database upgraded from one
// tree records its log's creation at the upgrade), to a minute after its
// last entry was integrated if frozen; consecutive Rekor v1 logs under one
// key make one key entry (sigstore-go finds logs by key ID), as Rekor's
// shards share one in the public trusted root. A Rekor v2 log (no
// integrated times) from a minute before it was created to a minute after
// the next Rekor v2 log was, if frozen. Frozen Rekor v1 logs without
// entries are left out (nothing in them needs verifying); Rekor v2 logs,
// whose validity does not come from their entries, are all listed.
func Keys(ctx context.Context, logs []ServerLog, entryTime EntryTimeFunc, note func(string)) ([]Log, error) {
	var out []Log
	var prevV1 []byte // key ID of the last Rekor v1 log listed
	for i, d := range logs {
		if d.API != "v1" && d.API != "v2" {
			return nil, fmt.Errorf("log %s has API %q (want v1 or v2)", d.TreeID, d.API)
		}
		v1 := d.API == "v1"
		if d.Frozen && d.Size == 0 && v1 {
			if note != nil {
				note(fmt.Sprintf("frozen log %s (%s) holds no entries; left out", d.TreeID, d.Origin))
			}
			continue
		}
		l := Log{PublicKey: d.Key, KeyID: d.KeyID, BaseURL: "https://" + d.KeyName}
		start := d.CreatedAt
		switch {
		case v1 && d.Size > 0:
			first, err := entryTime(ctx, d, 0)
			if err != nil {
				return nil, err
			}
			if first.Before(start) {
				start = first
			}
			if d.Frozen {
				last, err := entryTime(ctx, d, d.Size-1)
				if err != nil {
					return nil, err
				}
				l.End = last.Add(StartMargin).UTC()
			}
		case !v1 && d.Frozen:
			for _, next := range logs[i+1:] {
				if next.API == d.API {
					l.End = next.CreatedAt.Add(StartMargin).UTC()
					break
				}
			}
		}
		l.Start = start.Add(-StartMargin).UTC().Truncate(time.Second)
		if n := len(out); v1 && n > 0 && bytes.Equal(prevV1, d.KeyID) {
			// The same key goes on: one validity from the first start,
			// named as the newest log's checkpoints are.
			out[n-1].End, out[n-1].BaseURL = l.End, l.BaseURL
			continue
		}
		if v1 {
			prevV1 = d.KeyID
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, ErrNoLog
	}
	return out, nil
}

// RekorServices are the Rekor services of a signing config for a server
// reached at baseURL: its active Rekor v2 log first, then its active Rekor
// v1 log, of the APIs offered, each valid from a minute before its log was
// created. Rekor v2 comes first as in Sigstore's own config offering both
// (the order does not matter to sigstore-go, which picks the highest
// version it supports, then the newest start).
func RekorServices(baseURL string, logs []ServerLog, offerV1, offerV2 bool) []Service {
	var out []Service
	for _, api := range []struct {
		name    string
		version uint32
		offer   bool
	}{{"v2", 2, offerV2}, {"v1", 1, offerV1}} {
		for _, d := range logs {
			if api.offer && d.API == api.name && !d.Frozen {
				out = append(out, Service{URL: baseURL, MajorAPIVersion: api.version, Start: d.CreatedAt.Add(-StartMargin)})
			}
		}
	}
	return out
}

// TSA is the timestamp authority of a server reached at baseURL whose
// chain (signing certificate first, root last) is chain, as a trusted root
// lists it.
func TSA(baseURL string, chain []*x509.Certificate) Authority {
	return Authority{Chain: chain, URI: baseURL + TimestampPath}
}

// TSAService is that timestamp authority as a signing config lists it,
// valid from its signing certificate's NotBefore.
func TSAService(baseURL string, chain []*x509.Certificate) Service {
	return Service{URL: baseURL + TimestampPath, MajorAPIVersion: 1, Start: chain[0].NotBefore}
}

// Server is what a running server knows of itself.
type Server struct {
	// BaseURL is the server's URL as clients reach it (no trailing slash).
	BaseURL string
	// Sets are its log sets, Rekor v1's first; nil ones are skipped.
	Sets []*logset.Set
	// TSAChain is its timestamp authority's chain (nil: none).
	TSAChain []*x509.Certificate
}

// Documents builds the server's trusted root and signing config, the same
// documents `tabula trusted-root --server` and `tabula signing-config
// --server` print for it (with no flag but --server).
func (s Server) Documents(ctx context.Context, now time.Time) (trustedRoot, signingConfig []byte, err error) {
	logs, shards, err := FromLogSets(ctx, s.Sets...)
	if err != nil {
		return nil, nil, err
	}
	keys, err := Keys(ctx, logs, func(ctx context.Context, l ServerLog, index uint64) (time.Time, error) {
		e, err := shards[l.TreeID].Log.Entry(ctx, index)
		if err != nil {
			return time.Time{}, fmt.Errorf("reading entry %d of log %s: %w", index, l.TreeID, err)
		}
		return time.Unix(e.IntegratedTime, 0), nil
	}, nil)
	if err != nil {
		return nil, nil, err
	}
	if keys[0].Start.IsZero() || !keys[0].Start.Before(now) {
		keys[0].Start = now.Add(-StartMargin).UTC().Truncate(time.Second)
	}
	tr := TrustedRoot{Logs: keys}
	sc := SigningConfig{Rekor: RekorServices(s.BaseURL, logs, true, true)}
	if sc.Operator, err = hostname(s.BaseURL); err != nil {
		return nil, nil, err
	}
	if s.TSAChain != nil {
		tr.TimestampAuthorities = append(tr.TimestampAuthorities, TSA(s.BaseURL, s.TSAChain))
		sc.TSAs = append(sc.TSAs, TSAService(s.BaseURL, s.TSAChain))
	}
	if trustedRoot, err = tr.JSON(); err != nil {
		return nil, nil, fmt.Errorf("trusted root: %w", err)
	}
	if signingConfig, err = sc.JSON(); err != nil {
		return nil, nil, fmt.Errorf("signing config: %w", err)
	}
	return trustedRoot, signingConfig, nil
}

// hostname is the host name of a base URL, the default operator.
func hostname(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("base URL %q: want an http:// or https:// URL", baseURL)
	}
	return u.Hostname(), nil
}

// FromLogSets describes every log of sets (nil ones skipped), in order,
// each set's oldest first, as GET /logs does, and returns the logs by tree
// ID too.
func FromLogSets(ctx context.Context, sets ...*logset.Set) ([]ServerLog, map[string]*logset.Shard, error) {
	var out []ServerLog
	byID := map[string]*logset.Shard{}
	for _, set := range sets {
		if set == nil {
			continue
		}
		shards, err := set.Shards(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, sh := range shards {
			l, err := describe(ctx, sh)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, l)
			byID[l.TreeID] = sh
		}
	}
	return out, byID, nil
}

// describe is sh as GET /logs lists it.
func describe(ctx context.Context, sh *logset.Shard) (ServerLog, error) {
	head, err := shardHead(ctx, sh)
	if err != nil {
		return ServerLog{}, fmt.Errorf("log %d: %w", sh.TreeID(), err)
	}
	p := sh.Log.Profile()
	pub := sh.Log.Signer().Public()
	id, err := p.KeyIDForm.KeyID(p.KeyName, pub)
	if err != nil {
		return ServerLog{}, fmt.Errorf("log %d: %w", sh.TreeID(), err)
	}
	l := ServerLog{
		TreeID:     strconv.FormatInt(sh.TreeID(), 10),
		Origin:     sh.Log.Origin(),
		KeyName:    p.KeyName,
		KeyID:      id[:],
		Key:        pub,
		Frozen:     sh.Info.State == storage.LogFrozen,
		Size:       head.Size,
		StartIndex: sh.Info.StartIndex,
		CreatedAt:  sh.Info.CreatedAt.UTC(),
	}
	switch sh.Info.Profile {
	case "rekor-v1":
		l.API = "v1"
	case "rekor-v2":
		l.API = "v2"
	default:
		l.API = sh.Info.Profile
	}
	return l, nil
}

// shardHead is the head to read sh by: a frozen log's covers its final
// size (as GET /logs reports it).
func shardHead(ctx context.Context, sh *logset.Shard) (storage.TreeState, error) {
	head, err := sh.Log.Head(ctx)
	if err != nil || sh.Active() || head.Size >= sh.Info.FinalSize {
		return head, err
	}
	return sh.Log.HeadCovering(ctx, sh.Info.FinalSize-1)
}
