// Package dsse is the "dsse" entry kind, apiVersion 0.0.1: a DSSE envelope
// (any payload type, in-toto statements most often) with the X.509 public
// keys, certificates or chains that verify its signatures. It is what
// sigstore-go, sigstore-js and cosign (with the new bundle format) log for
// attestations.
//
// Proposed entry spec (Rekor's dsse_v0_0_1_schema.json):
//
//	{"proposedContent":{"envelope":"<DSSE envelope JSON, as a string>",
//	                    "verifiers":["<b64 PEM key, certificate or chain>", ...]}}
//
// Canonicalize reproduces Rekor v1 (pkg/types/dsse/v0.0.1, pkg/types
// CreateVersionedEntry and pkg/api/entries.go createLogEntry) step by step,
// with Rekor's messages:
//
//  1. decode the spec the way Rekor's DecodeEntry does: fields of the wrong
//     JSON type count as absent, unknown fields are ignored, verifier items
//     that are not strings or are empty are skipped, base64 is standard with
//     padding;
//  2. the go-swagger schema validation ("validation failure list:\n...");
//  3. the schema's oneOf by hand: without proposedContent, the server-side
//     fields (envelopeHash, payloadHash, signatures) must all be there — and
//     such an entry is then refused anyway ("entry not insertable into log:
//     missing proposed content"), as a canonical body cannot be re-proposed
//     (CanonicalizeSearch, Rekor's SearchLogQuery form, accepts it instead and
//     rebuilds the body from those fields, unverified);
//     with proposedContent, none of them may be;
//  4. the envelope string is decoded into go-securesystemslib's dsse.Envelope
//     (encoding/json: its errors, its case-insensitive field names) and must
//     carry a signature;
//  5. Tabula's bounds (not Rekor's): at most envelope.MaxSignatures (8)
//     signatures and envelope.MaxVerifiers (8) verifiers ("DSSE envelope has
//     25 signatures; at most 8 are accepted"), RSA keys of at most
//     envelope.MaxRSABits (4096) bits, and verification stops when the
//     request's context is done; then
//     the verifiers are tried in order (package pki parses them; the leaf key
//     verifies; a chain is not checked), each against the whole envelope
//     through go-securesystemslib's DSSE verifier (PAE, SHA-256 for ECDSA and
//     RSA, pure Ed25519): each must verify one signature, once every
//     signature is verified the remaining verifiers are ignored, and a
//     signature left unverified fails the entry ("all signatures must have a
//     key that verifies it");
//  6. the canonical body: the signatures (deduplicated by their base64 text)
//     sorted by that text, each with its verifying key re-encoded as
//     canonical PEM; payloadHash = SHA-256 of the decoded payload;
//     envelopeHash = SHA-256 of the envelope string exactly as sent; then
//     json.Marshal and RFC 8785.
//
// The envelope itself is not kept and no attestation is stored, as in Rekor.
// Search keys are Rekor's IndexKeys, typed (see types.SearchKey), lower-cased
// and without repeats: for each signature the key fingerprint, the hex
// SHA-256 of the canonical PEM (a key, as hashedrekord's: Rekor indexes it
// as the digest "sha256:<hex>"), and the certificate's subject alternative
// names (emails and subjects); the digests "sha256:<payloadHash>" and
// "sha256:<envelopeHash>"; and for payload type
// application/vnd.in-toto+json the statement's subject digests "<alg>:<hex>"
// and, for SLSA v0.2 provenance, its material digests. A payload
// of that type that is not an in-toto statement makes Rekor's IndexKeys fail,
// and Rekor then indexes nothing for the entry: SearchKeys is empty too.
//
// Every failure is a *types.InvalidError.
package dsse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/internal/envelope"
)

const (
	// Kind is the entry kind.
	Kind = "dsse"
	// APIVersion is the only apiVersion accepted for new entries.
	APIVersion = "0.0.1"
)

// Type implements types.Type for dsse.
type Type struct{}

// New returns the dsse type.
func New() *Type { return &Type{} }

// Kind implements types.Type.
func (*Type) Kind() string { return Kind }

// Versions implements types.Type.
func (*Type) Versions() []string { return []string{APIVersion} }

// Canonicalize implements types.Type. See the package comment for the steps.
func (t *Type) Canonicalize(ctx context.Context, apiVersion string, raw json.RawMessage) (types.Canonical, error) {
	return canonicalizeVersion(ctx, apiVersion, raw, false)
}

// CanonicalizeSearch is Canonicalize as Rekor's SearchLogQuery runs it
// (types.UnmarshalEntry then Canonicalize, without CreateVersionedEntry's
// Insertable check): a proposal is canonicalized as on insert, and a logged
// canonical body (the server-side fields, no proposedContent) is accepted and
// re-canonicalized as it stands, its signatures sorted, so that it finds the
// entry it came from. SearchKeys is left empty for a body.
func (t *Type) CanonicalizeSearch(ctx context.Context, apiVersion string, raw json.RawMessage) (types.Canonical, error) {
	return canonicalizeVersion(ctx, apiVersion, raw, true)
}

// canonicalizeVersion checks apiVersion (types.ErrUnknownKind) and wraps a
// failure of canonicalize in *types.InvalidError.
func canonicalizeVersion(ctx context.Context, apiVersion string, raw []byte, logged bool) (types.Canonical, error) {
	if apiVersion != APIVersion {
		return types.Canonical{}, fmt.Errorf("%w: %s does not support apiVersion %q", types.ErrUnknownKind, Kind, apiVersion)
	}
	c, err := canonicalize(ctx, raw, logged)
	if err != nil {
		return types.Canonical{}, &types.InvalidError{Err: err}
	}
	return c, nil
}

// signed is one verified signature and the key that verified it.
type signed struct {
	sig string // base64 text, as in the envelope
	key *pki.Key
}

// canonicalize is Rekor's Unmarshal + Canonicalize; logged says a canonical
// body is accepted (search) rather than refused as not insertable.
func canonicalize(ctx context.Context, raw []byte, logged bool) (types.Canonical, error) {
	s, err := decodeSpec(raw)
	if err != nil {
		return types.Canonical{}, err
	}
	if err := s.validateSchema(); err != nil {
		return types.Canonical{}, err
	}
	if s.ProposedContent == nil {
		if s.EnvelopeHash == nil || s.PayloadHash == nil || len(s.Signatures) == 0 {
			return types.Canonical{}, fmt.Errorf("either proposedContent or envelopeHash, payloadHash, and signatures must be present")
		}
		// Rekor's Unmarshal accepts this (it is how stored entries are
		// read back); CreateVersionedEntry's Insertable refuses it.
		if !logged {
			return types.Canonical{}, fmt.Errorf("entry not insertable into log: missing proposed content")
		}
		body, err := loggedBody(s)
		if err != nil {
			return types.Canonical{}, err
		}
		return types.Canonical{Body: body}, nil
	}
	if s.EnvelopeHash != nil || s.PayloadHash != nil || len(s.Signatures) != 0 {
		return types.Canonical{}, fmt.Errorf("either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both")
	}
	pc := s.ProposedContent
	if pc.Envelope == nil { // unreachable after validateSchema
		return types.Canonical{}, fmt.Errorf("proposed content envelope is missing")
	}
	env := &ssldsse.Envelope{}
	if err := json.Unmarshal([]byte(*pc.Envelope), env); err != nil {
		return types.Canonical{}, err
	}
	if len(env.Signatures) == 0 {
		return types.Canonical{}, fmt.Errorf("DSSE envelope must contain 1 or more signatures")
	}
	verified, err := envelope.Verify(ctx, env, pc.Verifiers, true)
	if err != nil {
		return types.Canonical{}, err
	}
	sigs := make([]signed, 0, len(verified.BySig))
	for sig, key := range verified.BySig {
		sigs = append(sigs, signed{sig: sig, key: key})
	}
	sort.Slice(sigs, func(i, j int) bool { return sigs[i].sig < sigs[j].sig })

	payload, err := env.DecodeB64Payload()
	if err != nil { // unreachable: the verifier decoded it already
		return types.Canonical{}, err
	}
	payloadSum := sha256.Sum256(payload)
	envelopeSum := sha256.Sum256([]byte(*pc.Envelope))
	payloadHash := hex.EncodeToString(payloadSum[:])
	envelopeHash := hex.EncodeToString(envelopeSum[:])
	// Insertable: envelope and verifiers present; both are, here.

	body, err := canonicalBody(sigs, payloadHash, envelopeHash)
	if err != nil {
		return types.Canonical{}, err
	}
	keys, err := searchKeys(sigs, payloadHash, envelopeHash, env, payload)
	if err != nil {
		return types.Canonical{}, err
	}
	return types.Canonical{Body: body, SearchKeys: keys}, nil
}

// canonicalBody builds Rekor's canonical leaf: json.Marshal of
// models.DSSE{apiVersion, kind, spec} with only the server-side fields, then
// RFC 8785. Field order here is irrelevant; JCS sorts keys.
func canonicalBody(sigs []signed, payloadHash, envelopeHash string) ([]byte, error) {
	type outHash struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"value"`
	}
	type outSignature struct {
		Signature string `json:"signature"`
		Verifier  []byte `json:"verifier"`
	}
	type outSpec struct {
		EnvelopeHash outHash        `json:"envelopeHash"`
		PayloadHash  outHash        `json:"payloadHash"`
		Signatures   []outSignature `json:"signatures"`
	}
	spec := outSpec{
		EnvelopeHash: outHash{Algorithm: "sha256", Value: envelopeHash},
		PayloadHash:  outHash{Algorithm: "sha256", Value: payloadHash},
		Signatures:   make([]outSignature, 0, len(sigs)),
	}
	for _, s := range sigs {
		canon, err := s.key.CanonicalPEM()
		if err != nil {
			return nil, err
		}
		spec.Signatures = append(spec.Signatures, outSignature{Signature: s.sig, Verifier: canon})
	}
	b, err := json.Marshal(struct {
		APIVersion string  `json:"apiVersion"`
		Kind       string  `json:"kind"`
		Spec       outSpec `json:"spec"`
	}{APIVersion, Kind, spec})
	if err != nil {
		return nil, fmt.Errorf("canonicalizing entry: %w", err)
	}
	return jsoncanonicalizer.Transform(b)
}

// loggedBody is Rekor's V001Entry.Canonicalize of an entry read back from
// its canonical body: the given hashes and signatures (verifiers as sent, not
// re-encoded), the signatures sorted by their text, json.Marshal of
// models.DSSE, RFC 8785. The schema has checked every field it uses.
func loggedBody(s *spec) ([]byte, error) {
	type outHash struct {
		Algorithm *string `json:"algorithm"`
		Value     *string `json:"value"`
	}
	type outSignature struct {
		Signature *string `json:"signature"`
		Verifier  []byte  `json:"verifier"`
	}
	type outSpec struct {
		EnvelopeHash outHash        `json:"envelopeHash"`
		PayloadHash  outHash        `json:"payloadHash"`
		Signatures   []outSignature `json:"signatures"`
	}
	spec := outSpec{
		EnvelopeHash: outHash{s.EnvelopeHash.Algorithm, s.EnvelopeHash.Value},
		PayloadHash:  outHash{s.PayloadHash.Algorithm, s.PayloadHash.Value},
		Signatures:   make([]outSignature, 0, len(s.Signatures)),
	}
	for _, it := range s.Signatures {
		if it.Signature == nil { // unreachable after validateSchema
			return nil, fmt.Errorf("canonical entry missing required signature")
		}
		spec.Signatures = append(spec.Signatures, outSignature{Signature: it.Signature, Verifier: it.Verifier})
	}
	sort.SliceStable(spec.Signatures, func(i, j int) bool {
		return *spec.Signatures[i].Signature < *spec.Signatures[j].Signature
	})
	b, err := json.Marshal(struct {
		APIVersion string  `json:"apiVersion"`
		Kind       string  `json:"kind"`
		Spec       outSpec `json:"spec"`
	}{APIVersion, Kind, spec})
	if err != nil {
		return nil, fmt.Errorf("canonicalizing entry: %w", err)
	}
	return jsoncanonicalizer.Transform(b)
}

// searchKeys is Rekor's dsse IndexKeys, typed; see the package comment.
func searchKeys(sigs []signed, payloadHash, envelopeHash string, env *ssldsse.Envelope, payload []byte) ([]types.SearchKey, error) {
	var x types.KeySet
	for _, s := range sigs {
		if err := envelope.AddKeyKeys(&x, s.key); err != nil {
			return nil, err
		}
	}
	x.Add(types.KindDigest, "sha256:"+payloadHash, "sha256:"+envelopeHash)
	if env.PayloadType == envelope.InTotoPayloadType && env.Payload != "" {
		digests, err := envelope.InTotoKeys(payload)
		if err != nil {
			// Rekor's IndexKeys fails and the entry is not indexed at all.
			return nil, nil
		}
		x.Add(types.KindDigest, digests...)
	}
	return x.Keys(), nil
}
