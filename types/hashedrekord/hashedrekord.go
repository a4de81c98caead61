// Package hashedrekord is the "hashedrekord" entry kind, apiVersion 0.0.1: a
// signature over an artifact's digest, with the X.509 public key, certificate
// or chain that verifies it. It is what cosign, sigstore-go, sigstore-python
// and sigstore-js log for blob and image signatures.
//
// Proposed entry spec (Rekor's hashedrekord_v0_0_1_schema.json):
//
//	{"signature":{"content":"<b64 signature>","publicKey":{"content":"<b64 PEM>"}},
//	 "data":{"hash":{"algorithm":"sha256|sha384|sha512","value":"<hex digest>"}}}
//
// Canonicalize reproduces Rekor v1 (pkg/types/hashedrekord/v0.0.1 and
// pkg/api/entries.go createLogEntry) step by step, with Rekor's messages:
//
//  1. decode the spec the way Rekor's DecodeEntry does: fields of the wrong
//     JSON type count as absent, unknown fields are ignored (the schema's
//     properties are not closed), base64 is standard with padding;
//  2. the go-swagger schema validation ("validation failure list:\n...");
//  3. key parse (package pki), digest length for the algorithm, hex decode,
//     signature verification over the digest ("verifying signature: ...");
//  4. the (key, hash) pair against Rekor's default client signing algorithms
//     ("entry algorithms are not allowed");
//  5. the canonical body: json.Marshal of the kept fields (hash algorithm and
//     value as sent, signature bytes, the key re-encoded as canonical PEM),
//     then RFC 8785.
//
// Every failure is a *types.InvalidError. The body is byte for byte the leaf
// Rekor would log, so identical proposals dedupe against Rekor-made leaves.
package hashedrekord

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/go-openapi/strfmt"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/internal/schema"
)

const (
	// Kind is the entry kind.
	Kind = "hashedrekord"
	// APIVersion is the only apiVersion accepted for new entries.
	APIVersion = "0.0.1"
)

// keyCacheSize is how many parsed signer keys a Type remembers.
const keyCacheSize = 1024

// Type implements types.Type for hashedrekord. It is safe for concurrent use.
type Type struct {
	// keys caches parsed public keys by their PEM bytes, so a signer who logs
	// again skips parsing (never verification); nil in the zero Type, which
	// parses every time.
	keys *pki.KeyCache
}

// New returns the hashedrekord type, with a cache of the keys it parsed.
func New() *Type {
	keys, err := pki.NewKeyCache(keyCacheSize)
	if err != nil {
		panic(err) // unreachable: keyCacheSize is positive
	}
	return &Type{keys: keys}
}

// Kind implements types.Type.
func (*Type) Kind() string { return Kind }

// Versions implements types.Type.
func (*Type) Versions() []string { return []string{APIVersion} }

// hashAlgorithms maps the schema's enum to hashes, in the schema's order.
var hashAlgorithms = []struct {
	name string
	hash crypto.Hash
}{
	{"sha256", crypto.SHA256},
	{"sha384", crypto.SHA384},
	{"sha512", crypto.SHA512},
}

// Canonicalize implements types.Type. See the package comment for the steps.
func (t *Type) Canonicalize(_ context.Context, apiVersion string, raw json.RawMessage) (types.Canonical, error) {
	if apiVersion != APIVersion {
		return types.Canonical{}, fmt.Errorf("%w: %s does not support apiVersion %q", types.ErrUnknownKind, Kind, apiVersion)
	}
	s, err := decodeSpec(raw)
	if err != nil {
		return types.Canonical{}, &types.InvalidError{Err: err}
	}
	if err := s.validateSchema(); err != nil {
		return types.Canonical{}, &types.InvalidError{Err: err}
	}
	key, err := s.verify(t.keys)
	if err != nil {
		return types.Canonical{}, &types.InvalidError{Err: err}
	}
	if err := pki.CheckAlgorithm(key.PublicKey(), hashByName(*s.Data.Hash.Algorithm)); err != nil {
		return types.Canonical{}, &types.InvalidError{Err: err}
	}

	canonPEM, err := key.CanonicalPEM()
	if err != nil {
		return types.Canonical{}, &types.InvalidError{Err: err}
	}
	body, err := canonicalBody(s.Data.Hash, s.Signature.Content, canonPEM)
	if err != nil {
		// Unreachable with validated input; still a client-caused failure.
		return types.Canonical{}, &types.InvalidError{Err: fmt.Errorf("canonicalizing entry: %w", err)}
	}
	return types.Canonical{Body: body, SearchKeys: searchKeys(key, canonPEM, s.Data.Hash)}, nil
}

// hashByName maps a schema-valid algorithm name to its hash.
func hashByName(name string) crypto.Hash {
	for _, a := range hashAlgorithms {
		if a.name == name {
			return a.hash
		}
	}
	return crypto.SHA256 // Rekor's default branch; unreachable after validateSchema.
}

// verify is Rekor's V001Entry.validate: parse the key (through keys, which
// may be nil), check the digest's length for its algorithm, decode it and
// verify the signature over it.
func (s *spec) verify(keys *pki.KeyCache) (*pki.Key, error) {
	if s.Signature.PublicKey == nil {
		return nil, fmt.Errorf("missing public key")
	}
	key, err := keys.ParsePEM(s.Signature.PublicKey.Content)
	if err != nil {
		return nil, err
	}
	// The schema made algorithm one of the enum; Rekor's switch still treats
	// anything unknown as sha256.
	alg := hashByName(*s.Data.Hash.Algorithm)
	value := *s.Data.Hash.Value
	if len(value) != alg.Size()*2 {
		return nil, fmt.Errorf("invalid value for hash")
	}
	digest, err := hex.DecodeString(value)
	if err != nil {
		return nil, err
	}
	if err := key.VerifyDigest(s.Signature.Content, digest, alg); err != nil {
		return nil, fmt.Errorf("verifying signature: %w", err)
	}
	return key, nil
}

// canonicalBody builds Rekor's canonical leaf: json.Marshal of
// models.Hashedrekord{apiVersion, kind, spec} with only the kept fields, then
// RFC 8785. The shape is fixed, so when the two strings that come from the
// request (hash algorithm and value) are plain printable ASCII, which RFC 8785
// writes as they are, the canonical form is written directly, keys in
// canonical order; anything else takes the Marshal+Transform path.
func canonicalBody(h *schema.Hash, sig strfmt.Base64, canonicalPEM []byte) ([]byte, error) {
	if !plainJSON(h.Algorithm) || !plainJSON(h.Value) {
		return marshalCanonicalBody(h, sig, canonicalPEM)
	}
	enc := base64.StdEncoding
	out := make([]byte, 0, 160+len(*h.Algorithm)+len(*h.Value)+enc.EncodedLen(len(sig))+enc.EncodedLen(len(canonicalPEM)))
	out = append(out, `{"apiVersion":"`+APIVersion+`","kind":"`+Kind+`","spec":{"data":{"hash":{"algorithm":"`...)
	out = append(out, *h.Algorithm...)
	out = append(out, `","value":"`...)
	out = append(out, *h.Value...)
	out = append(out, `"}},"signature":{`...)
	if len(sig) > 0 { // omitempty
		out = append(out, `"content":"`...)
		out = enc.AppendEncode(out, sig)
		out = append(out, `",`...)
	}
	out = append(out, `"publicKey":{`...)
	if len(canonicalPEM) > 0 { // omitempty
		out = append(out, `"content":"`...)
		out = enc.AppendEncode(out, canonicalPEM)
		out = append(out, '"')
	}
	out = append(out, `}}}}`...)
	return out, nil
}

// plainJSON reports whether s is present and made only of printable ASCII
// other than '"' and '\\': the strings that json.Marshal and RFC 8785 both
// write byte for byte as they are (json.Marshal's HTML escapes of '<', '>'
// and '&' are undone by the canonicalization).
func plainJSON(s *string) bool {
	if s == nil {
		return false
	}
	for i := 0; i < len(*s); i++ {
		if c := (*s)[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// marshalCanonicalBody is canonicalBody the way Rekor computes it, for
// strings that need JSON escaping (or are absent): json.Marshal, then RFC
// 8785.
func marshalCanonicalBody(h *schema.Hash, sig strfmt.Base64, canonicalPEM []byte) ([]byte, error) {
	type outHash struct {
		Algorithm *string `json:"algorithm"`
		Value     *string `json:"value"`
	}
	type outData struct {
		Hash *outHash `json:"hash,omitempty"`
	}
	type outPublicKey struct {
		Content strfmt.Base64 `json:"content,omitempty"`
	}
	type outSignature struct {
		Content   strfmt.Base64 `json:"content,omitempty"`
		PublicKey *outPublicKey `json:"publicKey,omitempty"`
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
				PublicKey: &outPublicKey{Content: strfmt.Base64(canonicalPEM)},
			},
		},
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsoncanonicalizer.Transform(b)
}

// searchKeys are Rekor's hashedrekord IndexKeys, typed: the canonical key's
// fingerprint (KindKey), the leaf certificate's email SANs (KindEmail) and
// other SANs (KindSubject), "<algorithm>:<digest>" (KindDigest); lower-cased
// and without repeats.
func searchKeys(key *pki.Key, canonicalPEM []byte, h *schema.Hash) []types.SearchKey {
	emails, others := key.Identities()
	var keys types.KeySet
	keys.Add(types.KindKey, pki.FingerprintPEM(canonicalPEM))
	keys.Add(types.KindEmail, emails...)
	keys.Add(types.KindSubject, others...)
	keys.Add(types.KindDigest, *h.Algorithm+":"+*h.Value)
	return keys.Keys()
}
