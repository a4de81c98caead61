// Package rekord is the "rekord" entry kind, apiVersion 0.0.1: a detached
// signature over a whole artifact, with the public key that verifies it, in
// one of four PKI formats: x509 (PEM key, certificate or chain), pgp
// (OpenPGP), minisign (or signify) and ssh (SSHSIG). It is what
// "rekor-cli upload --pki-format=…" logs.
//
// Proposed entry spec (Rekor's rekord_v0_0_1_schema.json):
//
//	{"signature":{"format":"x509|pgp|minisign|ssh","content":"<b64 signature>",
//	              "publicKey":{"content":"<b64 key>"}},
//	 "data":{"content":"<b64 artifact>",
//	         "hash":{"algorithm":"sha256","value":"<hex>"}}}   // hash optional
//
// Tabula never fetches URLs. Rekor v1 once let signature.url,
// signature.publicKey.url and data.url point at the bytes and fetched them
// server-side; it stopped (rekor#735) and its decoder now ignores those
// fields. Tabula rejects any proposal carrying one of them with a 400 that
// names the field, rather than ignoring it: the bytes must come inline.
//
// Canonicalize reproduces Rekor v1 (pkg/types/rekord/v0.0.1, the pki
// factory and pkg/api/entries.go createLogEntry) step by step, with Rekor's
// messages:
//
//  1. decode the spec as Rekor's DecodeEntry does (fields of the wrong JSON
//     type count as absent, unknown fields are ignored, base64 is standard
//     with padding);
//  2. the go-swagger schema validation ("validation failure list:\n...");
//  3. the cross-field checks: a given hash must be 64 hex digits ("invalid
//     value for hash"); the artifact content is required ("entry not
//     insertable into log: missing data content");
//  4. SHA-256 of the content, which must equal a given hash exactly
//     ("SHA mismatch: <computed> != <given>"; an upper-case digest does not
//     match, as in Rekor);
//  5. signature and key parsed in the format (package pki/keyformat) and the
//     signature verified over the content;
//  6. the canonical body: json.Marshal of the kept fields (format, the
//     canonical signature, the canonical key, the hash given or computed; the
//     content is dropped), then RFC 8785.
//
// Every failure is a *types.InvalidError. The body is byte for byte the leaf
// Rekor would log, so the same proposal gets the same entry UUID. (Bodies,
// search keys and error messages were compared with Rekor v1.5.4's own
// rekord type on the test vectors of every format: identical.) A rekord
// body is not itself a valid proposal (it has no data.content): unlike
// hashedrekord, re-proposing a logged body is refused.
//
// Search keys are Rekor's IndexKeys, typed (see types.SearchKey), lower-cased
// and without repeats: the hex SHA-256 of the canonical key (a key), the
// canonical key's subjects (certificate email SANs and OpenPGP user-id
// emails are emails, other certificate SANs subjects; none for minisign and
// ssh, whose canonical key has no comment), "sha256:<hex digest>" (a
// digest). Rekor computes them on the canonicalized entry, so an ssh key's
// email comment is not indexed.
package rekord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"

	"github.com/tabularium/tabula/pki/keyformat"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/internal/schema"
)

const (
	// Kind is the entry kind.
	Kind = "rekord"
	// APIVersion is the only apiVersion accepted for new entries.
	APIVersion = "0.0.1"
)

// Type implements types.Type for rekord.
type Type struct{}

// New returns the rekord type.
func New() *Type { return &Type{} }

// Kind implements types.Type.
func (*Type) Kind() string { return Kind }

// Versions implements types.Type.
func (*Type) Versions() []string { return []string{APIVersion} }

// Canonicalize implements types.Type. See the package comment for the steps.
func (t *Type) Canonicalize(_ context.Context, apiVersion string, raw json.RawMessage) (types.Canonical, error) {
	if apiVersion != APIVersion {
		return types.Canonical{}, fmt.Errorf("%w: %s does not support apiVersion %q", types.ErrUnknownKind, Kind, apiVersion)
	}
	c, err := canonicalize(raw)
	if err != nil {
		return types.Canonical{}, &types.InvalidError{Err: err}
	}
	return c, nil
}

func canonicalize(raw []byte) (types.Canonical, error) {
	s, err := decodeSpec(raw)
	if err != nil {
		return types.Canonical{}, err
	}
	if err := s.validateSchema(); err != nil {
		return types.Canonical{}, err
	}
	if err := s.validate(); err != nil {
		return types.Canonical{}, err
	}
	if len(s.Data.Content) == 0 {
		// Rekor's Insertable check, made after validate.
		return types.Canonical{}, errors.New("entry not insertable into log: missing data content")
	}

	// fetchExternalEntities: hash, compare, parse, verify.
	sum := sha256.Sum256(s.Data.Content)
	computed := hex.EncodeToString(sum[:])
	hash := s.Data.Hash
	if hash != nil && *hash.Value != computed {
		return types.Canonical{}, fmt.Errorf("SHA mismatch: %s != %s", computed, *hash.Value)
	}
	format := *s.Signature.Format
	sig, err := keyformat.ParseSignature(format, s.Signature.Content)
	if err != nil {
		return types.Canonical{}, err
	}
	key, err := keyformat.ParseKey(format, s.Signature.PublicKey.Content)
	if err != nil {
		return types.Canonical{}, err
	}
	if err := sig.Verify(s.Data.Content, key); err != nil {
		return types.Canonical{}, err
	}
	if hash == nil {
		alg := "sha256"
		hash = &schema.Hash{Algorithm: &alg, Value: &computed}
	}

	canonSig, err := sig.Canonical()
	if err != nil {
		return types.Canonical{}, err
	}
	canonKey, err := key.Canonical()
	if err != nil {
		return types.Canonical{}, err
	}
	body, err := canonicalBody(format, canonSig, canonKey, hash)
	if err != nil {
		return types.Canonical{}, fmt.Errorf("canonicalizing entry: %w", err)
	}
	// Rekor computes IndexKeys after Canonicalize has replaced the entry's
	// key with its canonical form, so the subjects are the canonical key's:
	// an ssh key's comment (and with it its email) is gone by then.
	// Should the canonical key not parse again, Rekor's IndexKeys fails after
	// the entry is logged and only the keys are lost; here, the subjects.
	var emails, others []string
	if ck, err := keyformat.ParseKey(format, canonKey); err == nil {
		emails, others = ck.Identities()
	}
	return types.Canonical{Body: body, SearchKeys: searchKeys(canonKey, emails, others, hash)}, nil
}

// validate is Rekor's V001Entry.validate, the cross-field checks made after
// the schema's.
func (s *spec) validate() error {
	sig := s.Signature
	if sig == nil {
		return errors.New("missing signature")
	}
	if len(sig.Content) == 0 {
		return errors.New("'content' must be specified for signature")
	}
	if sig.PublicKey == nil {
		return errors.New("missing public key")
	}
	if len(sig.PublicKey.Content) == 0 {
		return errors.New("'content' must be specified for publicKey")
	}
	if s.Data == nil {
		return errors.New("missing data")
	}
	if h := s.Data.Hash; h != nil {
		// The schema's only algorithm is sha256.
		if h.Value == nil || len(*h.Value) != sha256.Size*2 {
			return errors.New("invalid value for hash")
		}
		if _, err := hex.DecodeString(*h.Value); err != nil {
			return errors.New("invalid value for hash")
		}
	} else if len(s.Data.Content) == 0 {
		return errors.New("'content' must be specified for data")
	}
	return nil
}

// canonicalBody builds Rekor's canonical leaf: json.Marshal of
// models.Rekord{apiVersion, kind, spec} with only the kept fields, then
// RFC 8785. Field order here is irrelevant; JCS sorts keys.
func canonicalBody(format string, sig, key []byte, h *schema.Hash) ([]byte, error) {
	type outHash struct {
		Algorithm *string `json:"algorithm"`
		Value     *string `json:"value"`
	}
	type outData struct {
		Hash *outHash `json:"hash,omitempty"`
	}
	type outPublicKey struct {
		Content []byte `json:"content"`
	}
	type outSignature struct {
		Content   []byte        `json:"content"`
		Format    string        `json:"format"`
		PublicKey *outPublicKey `json:"publicKey"`
	}
	type outSpec struct {
		Data      *outData      `json:"data"`
		Signature *outSignature `json:"signature"`
	}
	v := struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Spec       *outSpec `json:"spec"`
	}{
		APIVersion: APIVersion,
		Kind:       Kind,
		Spec: &outSpec{
			Data: &outData{Hash: &outHash{Algorithm: h.Algorithm, Value: h.Value}},
			Signature: &outSignature{
				Content:   sig,
				Format:    format,
				PublicKey: &outPublicKey{Content: key},
			},
		},
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsoncanonicalizer.Transform(b)
}

// searchKeys are Rekor's rekord IndexKeys, typed: the canonical key's
// fingerprint (KindKey), the key's email identities (KindEmail) and other
// identities (KindSubject), "<algorithm>:<digest>" (KindDigest);
// lower-cased and without repeats.
func searchKeys(canonicalKey []byte, emails, others []string, h *schema.Hash) []types.SearchKey {
	var keys types.KeySet
	keys.Add(types.KindKey, keyformat.Fingerprint(canonicalKey))
	keys.Add(types.KindEmail, emails...)
	keys.Add(types.KindSubject, others...)
	keys.Add(types.KindDigest, *h.Algorithm+":"+*h.Value)
	return keys.Keys()
}
