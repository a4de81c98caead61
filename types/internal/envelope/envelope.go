// Package envelope holds what the dsse and intoto entry kinds share: DSSE
// envelope verification the way Rekor v1 does it, with its cost bounded, and
// the typed search keys of verification keys and of in-toto statements.
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

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
)

// InTotoPayloadType is the DSSE payload type of in-toto statements; entries
// with it get their subject (and SLSA v0.2 material) digests indexed.
const InTotoPayloadType = "application/vnd.in-toto+json"

// ErrUnverifiedSignature is Rekor's message when a signature is left without a
// key that verifies it.
const ErrUnverifiedSignature = "all signatures must have a key that verifies it"

// AddKeyKeys adds the search keys Rekor's dsse and intoto types write for a
// verification key, typed: the hex SHA-256 of its canonical PEM, and the leaf
// certificate's email and other subject alternative names. Rekor writes the
// fingerprint as "sha256:<hex>", which its hash search finds; it is added
// both so (a types.KindDigest, as Rekor's clients search for it) and as a
// types.KindKey (as hashedrekord's, so that a publicKey search finds it too).
// Both are derived from the key that verified the envelope, so neither can
// pose as another entry's key.
func AddKeyKeys(x *types.KeySet, key *pki.Key) error {
	canon, err := key.CanonicalPEM()
	if err != nil {
		return fmt.Errorf("could not canonicalize key: %w", err)
	}
	emails, others := key.Identities()
	fp := pki.FingerprintPEM(canon)
	x.Add(types.KindKey, fp)
	x.Add(types.KindDigest, "sha256:"+fp)
	x.Add(types.KindEmail, emails...)
	x.Add(types.KindSubject, others...)
	return nil
}
