// Package envelope holds what the dsse and intoto entry kinds share: DSSE
// envelope verification the way Rekor v1 does it, with its cost bounded, the
// search-index keys of verification keys and of in-toto statements, and the
// lower-cased, de-duplicated key list Tabula stores.
//
// Verify (verify.go) accepts and refuses exactly what Rekor's
// go-securesystemslib dsse.EnvelopeVerifier loop does, with its error texts,
// but builds and digests the PAE once per envelope, tries each distinct key
// and signature once, stops when its context is done, and refuses envelopes
// over MaxSignatures signatures, MaxVerifiers verifiers or with RSA keys over
// MaxRSABits. Keys are parsed with package pki. As in Rekor's dsse and intoto
// types, a certificate chain is not checked against its last certificate: only
// the leaf's key is used.
package envelope

import (
	"fmt"
	"strings"

	"github.com/tabularium/tabula/pki"
)

// InTotoPayloadType is the DSSE payload type of in-toto statements; entries
// with it get their subject (and SLSA v0.2 material) digests indexed.
const InTotoPayloadType = "application/vnd.in-toto+json"

// ErrUnverifiedSignature is Rekor's message when a signature is left without a
// key that verifies it.
const ErrUnverifiedSignature = "all signatures must have a key that verifies it"

// Index collects search-index keys: lower-cased, without repeats, in the
// order first added.
type Index struct {
	keys []string
	seen map[string]bool
}

// Add adds keys; empty strings are skipped.
func (x *Index) Add(keys ...string) {
	if x.seen == nil {
		x.seen = make(map[string]bool)
	}
	for _, k := range keys {
		k = strings.ToLower(k)
		if k == "" || x.seen[k] {
			continue
		}
		x.seen[k] = true
		x.keys = append(x.keys, k)
	}
}

// Keys returns the collected keys.
func (x *Index) Keys() []string { return x.keys }

// KeyKeys are the index keys Rekor's dsse and intoto types write for a
// verification key: "sha256:" + hex(SHA-256(canonical PEM)) (note the prefix,
// which hashedrekord does not use) and the leaf certificate's subject
// alternative names.
func KeyKeys(key *pki.Key) ([]string, error) {
	canon, err := key.CanonicalPEM()
	if err != nil {
		return nil, fmt.Errorf("could not canonicalize key: %w", err)
	}
	return append([]string{"sha256:" + pki.FingerprintPEM(canon)}, key.Subjects()...), nil
}
