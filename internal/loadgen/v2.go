package loadgen

// The Rekor v2 side of the tool (--api v2): writes go to POST
// /api/v2/log/entries with hashedrekord 0.0.2 requests, tiles are read
// under /api/v2/, and the log's key, origin and size come from GET /logs.

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/types/rekorv2"
	"github.com/tabularium/tabula/verify"
)

// APIs the tool speaks.
const (
	APIV1 = "v1" // Rekor v1: /api/v1/log/…
	APIV2 = "v2" // Rekor v2 (rekor-tiles): /api/v2/…
)

// DefaultMixV2 is the mixed mode's default weighting with --api v2, which
// has no entry or proof reads.
const DefaultMixV2 = "write=25,read-tile=75"

// GenerateV2 makes n distinct Rekor v2 CreateEntryRequests (protojson,
// hashedRekordRequestV002) signed by keys signers of the given kind, in
// parallel.
func GenerateV2(kind string, keys, n int) ([][]byte, error) {
	signers, err := newSigners(kind, keys, KeyECDSA, KeyCert, KeyEd25519)
	if err != nil {
		return nil, err
	}
	return generate(n, func(i int, artifact []byte) ([]byte, error) {
		return signers[i%keys].HashedRekordV2(artifact)
	})
}

// v2Log is the active Rekor v2 log as GET /logs describes it.
type v2Log struct {
	origin string
	size   int64
	key    verify.LogKey
}

// activeV2Log fetches GET /logs and returns the active Rekor v2 log (the
// newest if several claim to be), with pinnedPEM as its key if given (its
// key ID then computed by the C2SP rules, not taken from the server).
func (r *runner) activeV2Log(ctx context.Context, pinnedPEM []byte) (v2Log, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", r.cfg.Server+"/logs", nil)
	if err != nil {
		return v2Log{}, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return v2Log{}, fmt.Errorf("fetching /logs: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return v2Log{}, fmt.Errorf("fetching /logs: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return v2Log{}, fmt.Errorf("fetching /logs: %s", resp.Status)
	}
	var doc struct {
		Logs []struct {
			API, Origin, State string
			TreeSize           int64
			PublicKey, KeyID   []byte
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return v2Log{}, fmt.Errorf("reading /logs: %w", err)
	}
	for i := len(doc.Logs) - 1; i >= 0; i-- {
		l := doc.Logs[i]
		if l.API != APIV2 || l.State != "active" {
			continue
		}
		var pub any
		if pinnedPEM != nil {
			pub, err = signer.ParsePublicKeyPEM(pinnedPEM)
		} else {
			pub, err = x509.ParsePKIXPublicKey(l.PublicKey)
		}
		if err != nil {
			return v2Log{}, fmt.Errorf("the v2 log's key: %w", err)
		}
		id := l.KeyID
		if pinnedPEM != nil {
			kid, err := checkpoint.KeyIDC2SP.KeyID(l.Origin, pub)
			if err != nil {
				return v2Log{}, fmt.Errorf("the v2 log's key ID: %w", err)
			}
			id = kid[:]
		}
		if len(id) != 32 {
			return v2Log{}, fmt.Errorf("the v2 log's key ID is %d bytes, want 32", len(id))
		}
		return v2Log{origin: l.Origin, size: l.TreeSize, key: verify.LogKey{Public: pub, ID: id}}, nil
	}
	return v2Log{}, errors.New("the server has no active Rekor v2 log (tabula log create --api v2)")
}

// parseEntryV2 reads a TransparencyLogEntry answer and checks that
// everything a client needs is there: the index, the log's key ID, the
// kind and version, the canonicalized body and an inclusion proof with its
// checkpoint.
func parseEntryV2(b []byte) (*protorekor.TransparencyLogEntry, error) {
	var e protorekor.TransparencyLogEntry
	if err := protojson.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	p := e.GetInclusionProof()
	switch {
	case len(e.GetLogId().GetKeyId()) == 0, e.GetKindVersion() == nil, len(e.CanonicalizedBody) == 0:
		return nil, errors.New("missing logId, kindVersion or canonicalizedBody")
	case p == nil:
		return nil, errors.New("no inclusion proof")
	case p.GetCheckpoint().GetEnvelope() == "", len(p.RootHash) != 32, p.TreeSize <= 0:
		return nil, errors.New("incomplete inclusion proof")
	}
	return &e, nil
}

// verifyV2 checks a v2 answer as a Sigstore client would (the checkpoint
// signed under the log's origin by its key, the inclusion proof of the
// canonicalized body's leaf against the checkpoint's root), and that the
// body is the canonical entry of request, for this log.
func verifyV2(e *protorekor.TransparencyLogEntry, request []byte, l v2Log) error {
	p := e.InclusionProof
	switch {
	case !bytes.Equal(e.LogId.KeyId, l.key.ID):
		return fmt.Errorf("logId.keyId %x is not the log's %x", e.LogId.KeyId, l.key.ID)
	case e.KindVersion.Kind != rekorv2.Kind || e.KindVersion.Version != rekorv2.APIVersion:
		return fmt.Errorf("entry is %s %s", e.KindVersion.Kind, e.KindVersion.Version)
	case p.LogIndex != e.LogIndex || e.LogIndex < 0:
		return errors.New("inclusion proof is for another index")
	}
	cp, err := verify.Checkpoint([]byte(p.Checkpoint.Envelope), l.origin, l.key)
	if err != nil {
		return err
	}
	if cp.Size != uint64(p.TreeSize) || !bytes.Equal(cp.Root[:], p.RootHash) {
		return fmt.Errorf("checkpoint is for size %d root %x, proof for size %d root %x", cp.Size, cp.Root, p.TreeSize, p.RootHash)
	}
	if err := verify.Inclusion(verify.LeafHash(e.CanonicalizedBody), uint64(p.LogIndex), cp.Size, cp.Root, p.Hashes); err != nil {
		return err
	}
	want, err := rekorv2.CanonicalizeJSON(request)
	if err != nil {
		return fmt.Errorf("canonicalizing the request: %w", err)
	}
	if !bytes.Equal(want.Body, e.CanonicalizedBody) {
		return errors.New("the canonicalized body is not the request's canonical entry")
	}
	return nil
}
