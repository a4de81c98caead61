// Package intoto is the "intoto" entry kind, apiVersions 0.0.2 and 0.0.1: a
// DSSE envelope (an in-toto attestation, usually) with the X.509 keys that
// signed it. cosign (attest) and older sigstore-js/npm clients log 0.0.2;
// 0.0.1 is the original single-key form, still insertable in Rekor v1.
//
// # intoto 0.0.2
//
// Proposed entry spec (Rekor's intoto_v0_0_2_schema.json):
//
//	{"content":{"envelope":{"payloadType":"…",
//	                        "payload":"<b64 of the DSSE payload's base64 text>",
//	                        "signatures":[{"keyid":"…","sig":"<b64 of the DSSE sig's base64 text>",
//	                                       "publicKey":"<b64 PEM key or certificate>"}]},
//	            "hash":{"algorithm":"sha256","value":"<hex SHA-256 of the envelope JSON>"}}}
//
// Canonicalize reproduces Rekor v1 (pkg/types/intoto/v0.0.2, pkg/types
// CreateVersionedEntry, pkg/api createLogEntry) step by step, with Rekor's
// messages:
//
//  1. decode the spec like Rekor's DecodeEntry (fields of the wrong JSON type
//     count as absent, unknown fields are ignored, standard padded base64);
//  2. the go-swagger schema validation ("validation failure list:\n…",
//     repeated property paths and all);
//  3. with no payload, nothing is verified and the entry is refused ("entry
//     not insertable into log: missing envelope content");
//  4. Tabula's bounds (not Rekor's): at most envelope.MaxSignatures (8)
//     signatures, RSA keys of at most envelope.MaxRSABits (4096) bits, and
//     verification stops when the request's context is done; then
//     the DSSE envelope is rebuilt (payload, payloadType, each sig and keyid)
//     and every publicKey (package pki) must verify one signature, through
//     go-securesystemslib's DSSE verifier (PAE, SHA-256 for ECDSA and RSA,
//     pure Ed25519; a chain is not checked), and every signature must be
//     verified ("all signatures must have a key that verifies it");
//  5. payloadHash = SHA-256 of the payload, standard-base64-decoded (Rekor
//     overwrites any payloadHash the client sent);
//  6. Insertable's checks (payloadType, sig and publicKey not empty);
//  7. the canonical body keeps payloadType, the signatures as submitted
//     (keyid, the publicKey bytes verbatim — Rekor does not re-encode them,
//     rekor#1170 — and sig), the client's content.hash (required here: "missing
//     envelope digest") and payloadHash; payload is dropped; json.Marshal,
//     then RFC 8785.
//
// # intoto 0.0.1
//
//	{"content":{"envelope":"<DSSE envelope JSON, as a string>"},
//	 "publicKey":"<b64 PEM key or certificate>"}
//
// Rekor parses the key (its parse error is the message), and when an envelope
// is given (of at most 8 signatures, the key RSA of at most 4096 bits, as
// in 0.0.2) verifies it with sigstore's DSSE-wrapped verifier for that key (one
// verifying signature suffices; signatures whose keyid is neither empty nor
// the key's SSH SHA256 fingerprint are skipped), then sets content.hash =
// SHA-256 of the envelope text and content.payloadHash = SHA-256 of the
// decoded payload. An entry without an envelope is refused ("entry not
// insertable into log: missing envelope content"), as is an envelope with an
// empty payload or payloadType ("… invalid DSSE envelope"). The canonical body
// is {content:{hash,payloadHash}, publicKey:<canonical PEM>}.
//
// # Search
//
// CanonicalizeSearch is the form Rekor's SearchLogQuery uses (UnmarshalEntry
// and Canonicalize, no Insertable check): a proposal is canonicalized as
// above, without step 6 and the 0.0.1 envelope checks; a logged body (0.0.2
// without payload, 0.0.1 without envelope) is re-canonicalized from its own
// fields, unverified ("missing envelope digest", "missing payload digest",
// "missing hash value for envelope" when they are absent; a 0.0.1 body
// without payloadHash, as older entries have, is kept so).
//
// # Attestations and search keys
//
// Both versions return the decoded DSSE payload as Canonical.Attestation, as
// Rekor's AttestationKeyValue does (the API stores it under
// "sha256:<payloadHash>" when it is small enough).
//
// Search keys are Rekor's IndexKeys, typed (see types.SearchKey), lower-cased
// and without repeats. 0.0.2: per signature the key fingerprint, the hex
// SHA-256 of the key's canonical PEM (a key, as hashedrekord's; Rekor
// indexes it as the digest "sha256:<hex>"), and the certificate's subject
// alternative names (emails and subjects), then the digest
// "sha256:<payloadHash>" (content.hash is not indexed), then for payload
// type application/vnd.in-toto+json the statement's subject digests and SLSA
// v0.2 material digests; an in-toto payload that is not a statement makes
// Rekor's IndexKeys fail, so nothing is indexed. 0.0.1: the digest
// "sha256:<content.hash>", the key's fingerprint and subjects, the digest
// "sha256:<payloadHash>", then the in-toto digests (a statement that does
// not parse only loses those).
//
// Every failure is a *types.InvalidError; an apiVersion other than 0.0.1 and
// 0.0.2 is types.ErrUnknownKind.
package intoto

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tabularium/tabula/types"
)

const (
	// Kind is the entry kind.
	Kind = "intoto"
	// V002 is Rekor's default intoto apiVersion.
	V002 = "0.0.2"
	// V001 is the original single-key apiVersion.
	V001 = "0.0.1"
)

// Type implements types.Type for intoto.
type Type struct{}

// New returns the intoto type.
func New() *Type { return &Type{} }

// Kind implements types.Type.
func (*Type) Kind() string { return Kind }

// Versions implements types.Type: both are insertable in Rekor v1.
func (*Type) Versions() []string { return []string{V002, V001} }

// Canonicalize implements types.Type. See the package comment for the steps.
func (t *Type) Canonicalize(ctx context.Context, apiVersion string, raw json.RawMessage) (types.Canonical, error) {
	return canonicalize(ctx, apiVersion, raw, false)
}

// CanonicalizeSearch is Canonicalize as Rekor's SearchLogQuery runs it
// (types.UnmarshalEntry then Canonicalize, without CreateVersionedEntry's
// Insertable check): a proposal is canonicalized as on insert, and a logged
// canonical body (0.0.1 without its envelope, 0.0.2 without its payload) is
// accepted and re-canonicalized from its own hashes and signatures, without
// verification, so that it finds the entry it came from. SearchKeys and
// Attestation are left empty for a body.
func (t *Type) CanonicalizeSearch(ctx context.Context, apiVersion string, raw json.RawMessage) (types.Canonical, error) {
	return canonicalize(ctx, apiVersion, raw, true)
}

func canonicalize(ctx context.Context, apiVersion string, raw json.RawMessage, logged bool) (types.Canonical, error) {
	var (
		c   types.Canonical
		err error
	)
	switch apiVersion {
	case V002:
		c, err = canonicalize002(ctx, raw, logged)
	case V001:
		c, err = canonicalize001(ctx, raw, logged)
	default:
		return types.Canonical{}, fmt.Errorf("%w: %s does not support apiVersion %q", types.ErrUnknownKind, Kind, apiVersion)
	}
	if err != nil {
		return types.Canonical{}, &types.InvalidError{Err: err}
	}
	return c, nil
}
