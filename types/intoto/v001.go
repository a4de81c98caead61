package intoto

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/internal/envelope"
	"github.com/tabularium/tabula/types/internal/schema"
)

// canonicalize001 is Rekor's V001Entry Unmarshal + Canonicalize; logged says
// a canonical body (hashes, no envelope) is accepted (search) rather than
// refused as not insertable, and Insertable's other checks are skipped too.
func canonicalize001(ctx context.Context, raw []byte, logged bool) (types.Canonical, error) {
	s, err := decodeSpec001(raw)
	if err != nil {
		return types.Canonical{}, err
	}
	if err := s.validateSchema(); err != nil {
		return types.Canonical{}, err
	}
	key, err := pki.ParsePEM(s.PublicKey)
	if err != nil {
		return types.Canonical{}, err
	}
	c := s.Content
	if c.Envelope == "" {
		// Rekor's validate accepts a committed entry (hashes, no envelope)
		// after checking its hashes; Insertable then refuses it.
		if c.Hash == nil {
			return types.Canonical{}, errors.New("missing hash value for envelope")
		}
		if !logged {
			return types.Canonical{}, errors.New("entry not insertable into log: missing envelope content")
		}
		canonPEM, err := key.CanonicalPEM()
		if err != nil {
			return types.Canonical{}, err
		}
		body, err := canonicalBody001(canonPEM, c.Hash, c.PayloadHash)
		if err != nil {
			return types.Canonical{}, err
		}
		return types.Canonical{Body: body}, nil
	}
	if err := envelope.VerifyWrapped(ctx, key, c.Envelope); err != nil {
		return types.Canonical{}, err
	}
	var env ssldsse.Envelope
	if err := json.Unmarshal([]byte(c.Envelope), &env); err != nil {
		return types.Canonical{}, err
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return types.Canonical{}, err
	}
	payloadSum := sha256.Sum256(payload)
	envelopeSum := sha256.Sum256([]byte(c.Envelope))
	payloadHash := hex.EncodeToString(payloadSum[:])
	envelopeHash := hex.EncodeToString(envelopeSum[:])

	// Insertable (Rekor's search does not check it).
	if !logged {
		if len(s.PublicKey) == 0 {
			return types.Canonical{}, errors.New("entry not insertable into log: missing publicKey content")
		}
		if env.Payload == "" || env.PayloadType == "" || len(env.Signatures) == 0 {
			return types.Canonical{}, errors.New("entry not insertable into log: invalid DSSE envelope")
		}
	}

	canonPEM, err := key.CanonicalPEM()
	if err != nil {
		return types.Canonical{}, err
	}
	alg := "sha256"
	body, err := canonicalBody001(canonPEM, &schema.Hash{Algorithm: &alg, Value: &envelopeHash}, &schema.Hash{Algorithm: &alg, Value: &payloadHash})
	if err != nil {
		return types.Canonical{}, err
	}
	var x types.KeySet
	x.Add(types.KindDigest, "sha256:"+envelopeHash)
	if err := envelope.AddKeyKeys(&x, key); err != nil {
		return types.Canonical{}, err
	}
	x.Add(types.KindDigest, "sha256:"+payloadHash)
	if env.PayloadType == envelope.InTotoPayloadType {
		// A payload that is not a statement only loses these keys here.
		if digests, err := envelope.InTotoKeys(payload); err == nil {
			x.Add(types.KindDigest, digests...)
		}
	}
	return types.Canonical{Body: body, SearchKeys: x.Keys(), Attestation: payload}, nil
}

// canonicalBody001 is Rekor's V001Entry.Canonicalize: the canonical key and
// the two hashes (payloadHash left out when nil, as for entries older than
// it), json.Marshal, then RFC 8785.
func canonicalBody001(canonPEM []byte, hash, payloadHash *schema.Hash) ([]byte, error) {
	type outHash struct {
		Algorithm *string `json:"algorithm"`
		Value     *string `json:"value"`
	}
	type outContent struct {
		Hash        outHash  `json:"hash"`
		PayloadHash *outHash `json:"payloadHash,omitempty"`
	}
	type outSpec struct {
		Content   outContent `json:"content"`
		PublicKey []byte     `json:"publicKey"`
	}
	content := outContent{Hash: outHash{hash.Algorithm, hash.Value}}
	if payloadHash != nil {
		content.PayloadHash = &outHash{payloadHash.Algorithm, payloadHash.Value}
	}
	b, err := json.Marshal(struct {
		APIVersion string  `json:"apiVersion"`
		Kind       string  `json:"kind"`
		Spec       outSpec `json:"spec"`
	}{V001, Kind, outSpec{Content: content, PublicKey: canonPEM}})
	if err != nil {
		return nil, fmt.Errorf("canonicalizing entry: %w", err)
	}
	return jsoncanonicalizer.Transform(b)
}
