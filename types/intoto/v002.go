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

// canonicalize002 is Rekor's V002Entry Unmarshal + Canonicalize; logged says
// a canonical body (no payload) is accepted (search) rather than refused as
// not insertable, and Insertable's other checks are skipped too.
func canonicalize002(ctx context.Context, raw []byte, logged bool) (types.Canonical, error) {
	s, err := decodeSpec002(raw)
	if err != nil {
		return types.Canonical{}, err
	}
	if err := s.validateSchema(); err != nil {
		return types.Canonical{}, err
	}
	if len(s.Payload) == 0 && logged {
		// Rekor's Unmarshal stops here (nothing to verify); Canonicalize
		// needs the hashes and signatures as they are.
		switch {
		case s.Hash == nil:
			return types.Canonical{}, errors.New("missing envelope digest")
		case s.PayloadHash == nil:
			return types.Canonical{}, errors.New("missing payload digest")
		case len(s.Signatures) == 0: // unreachable after validateSchema
			return types.Canonical{}, errors.New("missing signatures")
		}
		body, err := canonicalBody002(s, s.PayloadHash)
		if err != nil {
			return types.Canonical{}, err
		}
		return types.Canonical{Body: body}, nil
	}
	if len(s.Payload) == 0 {
		// Rekor's Unmarshal stops here; Insertable refuses the entry.
		return types.Canonical{}, errors.New("entry not insertable into log: missing envelope content")
	}
	env := &ssldsse.Envelope{Payload: string(s.Payload), PayloadType: *s.PayloadType}
	pemKeys := make([][]byte, 0, len(s.Signatures))
	for _, sig := range s.Signatures {
		env.Signatures = append(env.Signatures, ssldsse.Signature{KeyID: sig.KeyID, Sig: string(sig.Sig)})
		pemKeys = append(pemKeys, sig.PublicKey)
	}
	verified, err := envelope.Verify(ctx, env, pemKeys, false)
	if err != nil {
		return types.Canonical{}, err
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return types.Canonical{}, fmt.Errorf("could not decode envelope payload: %w", err)
	}
	sum := sha256.Sum256(payload)
	payloadHash := hex.EncodeToString(sum[:])

	// Insertable.
	if !logged && *s.PayloadType == "" {
		return types.Canonical{}, errors.New("entry not insertable into log: missing payloadType content")
	}
	for _, sig := range s.Signatures {
		if logged {
			break
		}
		if len(sig.Sig) == 0 {
			return types.Canonical{}, errors.New("entry not insertable into log: missing signature content")
		}
		if len(sig.PublicKey) == 0 {
			return types.Canonical{}, errors.New("entry not insertable into log: missing publicKey content")
		}
	}
	// Canonicalize (Rekor answers 500 here; a client error all the same).
	if s.Hash == nil {
		return types.Canonical{}, errors.New("missing envelope digest")
	}

	alg := "sha256"
	body, err := canonicalBody002(s, &schema.Hash{Algorithm: &alg, Value: &payloadHash})
	if err != nil {
		return types.Canonical{}, err
	}
	keys, err := searchKeys002(s, verified.Keys, payloadHash, payload)
	if err != nil {
		return types.Canonical{}, err
	}
	return types.Canonical{Body: body, SearchKeys: keys, Attestation: payload}, nil
}

// canonicalBody002 is Rekor's V002Entry.Canonicalize: json.Marshal of
// models.Intoto{apiVersion, kind, spec} with the payload dropped, then RFC
// 8785. Field order here is irrelevant; JCS sorts keys.
func canonicalBody002(s *spec002, payloadHash *schema.Hash) ([]byte, error) {
	type outSig struct {
		KeyID     string `json:"keyid,omitempty"`
		PublicKey []byte `json:"publicKey"`
		Sig       []byte `json:"sig"`
	}
	type outEnvelope struct {
		PayloadType *string  `json:"payloadType"`
		Signatures  []outSig `json:"signatures"`
	}
	type outHash struct {
		Algorithm *string `json:"algorithm"`
		Value     *string `json:"value"`
	}
	type outContent struct {
		Envelope    outEnvelope `json:"envelope"`
		Hash        outHash     `json:"hash"`
		PayloadHash outHash     `json:"payloadHash"`
	}
	c := outContent{
		Envelope:    outEnvelope{PayloadType: s.PayloadType, Signatures: make([]outSig, 0, len(s.Signatures))},
		Hash:        outHash{Algorithm: s.Hash.Algorithm, Value: s.Hash.Value},
		PayloadHash: outHash{Algorithm: payloadHash.Algorithm, Value: payloadHash.Value},
	}
	for _, sig := range s.Signatures {
		c.Envelope.Signatures = append(c.Envelope.Signatures, outSig{KeyID: sig.KeyID, PublicKey: sig.PublicKey, Sig: sig.Sig})
	}
	b, err := json.Marshal(struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Content outContent `json:"content"`
		} `json:"spec"`
	}{APIVersion: V002, Kind: Kind, Spec: struct {
		Content outContent `json:"content"`
	}{c}})
	if err != nil {
		return nil, fmt.Errorf("canonicalizing entry: %w", err)
	}
	return jsoncanonicalizer.Transform(b)
}

// searchKeys002 is Rekor's V002Entry.IndexKeys, typed; see the package
// comment. The keys are the signatures' keys as envelope.Verify parsed them,
// in order.
func searchKeys002(s *spec002, keys []*pki.Key, payloadHash string, payload []byte) ([]types.SearchKey, error) {
	var x types.KeySet
	for _, key := range keys {
		if err := envelope.AddKeyKeys(&x, key); err != nil {
			return nil, err
		}
	}
	x.Add(types.KindDigest, "sha256:"+payloadHash)
	if *s.PayloadType == envelope.InTotoPayloadType {
		digests, err := envelope.InTotoKeys(payload)
		if err != nil {
			// Rekor's IndexKeys fails and the entry is not indexed at all.
			return nil, nil
		}
		x.Add(types.KindDigest, digests...)
	}
	return x.Keys(), nil
}
