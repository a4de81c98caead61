package loadgen

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tabularium/tabula/internal/testentry"
)

// Entry kinds the tool proposes.
const (
	EntryHashedRekord = "hashedrekord" // hashedrekord 0.0.1
	EntryDSSE         = "dsse"         // dsse 0.0.1: an in-toto statement in a DSSE envelope
)

// inTotoType is the DSSE payload type of in-toto statements.
const inTotoType = "application/vnd.in-toto+json"

// GenerateEntries makes n distinct proposed entries of the given kind
// (EntryHashedRekord or EntryDSSE), signed by keys signers of keyKind, in
// parallel. DSSE entries are signed with ECDSA P-256 keys (keyKind ecdsa, or
// cert for a certificate as the verifier).
func GenerateEntries(entryKind, keyKind string, keys, n int) ([][]byte, error) {
	switch entryKind {
	case EntryHashedRekord, "":
		return Generate(keyKind, keys, n)
	case EntryDSSE:
		return GenerateDSSE(keyKind, keys, n)
	default:
		return nil, fmt.Errorf("unknown entry kind %q (want %s or %s)", entryKind, EntryHashedRekord, EntryDSSE)
	}
}

// GenerateDSSE makes n distinct proposed dsse 0.0.1 entries: each an in-toto
// statement about a distinct subject, in a DSSE envelope with one ECDSA
// P-256 signature over its PAE, and the signer's public key (or
// certificate, keyKind cert) as the verifier.
func GenerateDSSE(keyKind string, keys, n int) ([][]byte, error) {
	// Ed25519 keys here sign prehashed (Ed25519ph); DSSE needs plain Ed25519.
	signers, err := newSigners(keyKind, keys, KeyECDSA, KeyCert)
	if err != nil {
		return nil, fmt.Errorf("dsse entries: %w", err)
	}
	return generate(n, func(i int, artifact []byte) ([]byte, error) {
		return dsseEntry(signers[i%keys], artifact)
	})
}

// pae is DSSE's pre-authentication encoding of a payload.
func pae(payloadType string, payload []byte) []byte {
	b := []byte("DSSEv1 ")
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(append(append(b, ' '), payloadType...), ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	return append(append(b, ' '), payload...)
}

// dsseEntry is the proposed dsse entry for a statement about artifact.
func dsseEntry(s *testentry.Signer, artifact []byte) ([]byte, error) {
	digest := sha256.Sum256(artifact)
	payload, err := Statement(string(artifact), map[string]string{"sha256": hex.EncodeToString(digest[:])})
	if err != nil {
		return nil, err
	}
	return DSSEEntry(inTotoType, payload, s)
}

// Statement is an in-toto v1 statement about one subject with the given
// digests (any strings: hostile tests put what they like there).
func Statement(name string, digests map[string]string) ([]byte, error) {
	type subject struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}
	return json.Marshal(struct {
		Type          string    `json:"_type"`
		Subject       []subject `json:"subject"`
		PredicateType string    `json:"predicateType"`
		Predicate     struct{}  `json:"predicate"`
	}{
		Type:          "https://in-toto.io/Statement/v1",
		Subject:       []subject{{Name: name, Digest: digests}},
		PredicateType: "https://tabula.invalid/bench/v1",
	})
}

// DSSEEntry is the proposed dsse 0.0.1 entry for payload in a DSSE envelope
// signed by every signer in turn (one signature each, no keyid), with every
// signer's public key (or certificate) as a verifier, in the same order.
// Signers must sign plain digests: ECDSA or RSA.
func DSSEEntry(payloadType string, payload []byte, signers ...*testentry.Signer) ([]byte, error) {
	h := sha256.Sum256(pae(payloadType, payload))
	type signature struct {
		KeyID string `json:"keyid"`
		Sig   []byte `json:"sig"`
	}
	sigs := make([]signature, len(signers))
	verifiers := make([]string, len(signers))
	for i, s := range signers {
		sig, err := s.SignDigest(h[:])
		if err != nil {
			return nil, fmt.Errorf("signing the envelope: %w", err)
		}
		sigs[i] = signature{Sig: sig}
		verifiers[i] = base64.StdEncoding.EncodeToString(s.PublicKeyPEM())
	}
	envelope, err := json.Marshal(struct {
		Payload     []byte      `json:"payload"`
		PayloadType string      `json:"payloadType"`
		Signatures  []signature `json:"signatures"`
	}{payload, payloadType, sigs})
	if err != nil {
		return nil, err
	}
	type proposedContent struct {
		Envelope  string   `json:"envelope"`
		Verifiers []string `json:"verifiers"`
	}
	return json.Marshal(struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			ProposedContent proposedContent `json:"proposedContent"`
		} `json:"spec"`
	}{APIVersion: "0.0.1", Kind: "dsse", Spec: struct {
		ProposedContent proposedContent `json:"proposedContent"`
	}{proposedContent{string(envelope), verifiers}}})
}
