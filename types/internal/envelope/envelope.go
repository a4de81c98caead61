// Package envelope holds what the dsse and intoto entry kinds share: DSSE
// envelope verification the way Rekor v1 does it, the search-index keys of
// verification keys and of in-toto statements.
//
// Verification goes through go-securesystemslib's dsse.EnvelopeVerifier (PAE,
// base64 payload and signature decoding, one signature per verifier) with a
// sigstore/sigstore verifier loaded for SHA-256 (ECDSA ASN.1, RSA PKCS #1
// v1.5, pure Ed25519), so acceptance and error texts are Rekor's. Keys are
// parsed with package pki. As in Rekor's dsse and intoto types, a certificate
// chain is not checked against its last certificate: only the leaf's key is
// used.
package envelope

import (
	"context"
	"crypto"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
)

// InTotoPayloadType is the DSSE payload type of in-toto statements; entries
// with it get their subject (and SLSA v0.2 material) digests indexed.
const InTotoPayloadType = "application/vnd.in-toto+json"

// ErrUnverifiedSignature is Rekor's message when a signature is left without a
// key that verifies it.
const ErrUnverifiedSignature = "all signatures must have a key that verifies it"

// Verify is Rekor's verifyEnvelope (dsse 0.0.1 and intoto 0.0.2): each PEM
// key (public key, certificate or chain) in turn must verify at least one
// signature of env (each key verifies at most one), and in the end every
// signature must have been verified by some key.
//
// With stopWhenAllVerified (dsse 0.0.1) keys left over once every signature
// is verified are not even parsed; intoto 0.0.2 checks them all.
func Verify(ctx context.Context, env *dsse.Envelope, pemKeys [][]byte, stopWhenAllVerified bool) (*Verified, error) {
	bySig := make(map[string]*pki.Key)
	parsed := make([]*pki.Key, 0, len(pemKeys))
	pending := make(map[string]bool, len(env.Signatures))
	for _, s := range env.Signatures {
		pending[s.Sig] = true
	}
	for _, pemKey := range pemKeys {
		if stopWhenAllVerified && len(pending) == 0 {
			break
		}
		key, err := pki.ParsePEM(pemKey)
		if err != nil {
			return nil, fmt.Errorf("could not parse public key as x509: %w", err)
		}
		parsed = append(parsed, key)
		v, err := signature.LoadVerifier(key.PublicKey(), crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("could not load verifier: %w", err)
		}
		ev, err := dsse.NewEnvelopeVerifier(&sigdsse.VerifierAdapter{SignatureVerifier: v})
		if err != nil {
			return nil, fmt.Errorf("could not use public key as a dsse verifier: %w", err)
		}
		accepted, err := ev.Verify(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("could not verify envelope: %w", err)
		}
		for _, a := range accepted {
			delete(pending, a.Sig.Sig)
			bySig[a.Sig.Sig] = key
		}
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("%s", ErrUnverifiedSignature)
	}
	return &Verified{BySig: bySig, Keys: parsed}, nil
}

// Verified is what Verify found, so that callers need not parse the keys again.
type Verified struct {
	// BySig is the key that verified each signature, by the signature's
	// base64 text.
	BySig map[string]*pki.Key
	// Keys are the keys parsed, in the order given; with stopWhenAllVerified
	// the keys never reached are missing from the end.
	Keys []*pki.Key
}

// VerifyWrapped is how Rekor's intoto 0.0.1 verifies its envelope: the
// envelope JSON text goes through sigstore's DSSE-wrapped verifier for key,
// which needs one signature to verify (others may not), and skips signatures
// whose keyid is set and differs from the key's SSH SHA256 fingerprint.
// Errors are the libraries' own texts.
func VerifyWrapped(key *pki.Key, envelopeJSON string) error {
	v, err := signature.LoadVerifier(key.PublicKey(), crypto.SHA256)
	if err != nil {
		return err
	}
	return sigdsse.WrapVerifier(v).VerifySignature(strings.NewReader(envelopeJSON), nil)
}

// AddKeyKeys adds the search keys Rekor's dsse and intoto types write for a
// verification key, typed: its fingerprint, the hex SHA-256 of its canonical
// PEM (a types.KindKey, as hashedrekord's, so that a publicKey search finds
// it; Rekor writes it as "sha256:<hex>", which a hash search finds instead),
// and the leaf certificate's email and other subject alternative names.
func AddKeyKeys(x *types.KeySet, key *pki.Key) error {
	canon, err := key.CanonicalPEM()
	if err != nil {
		return fmt.Errorf("could not canonicalize key: %w", err)
	}
	emails, others := key.Identities()
	x.Add(types.KindKey, pki.FingerprintPEM(canon))
	x.Add(types.KindEmail, emails...)
	x.Add(types.KindSubject, others...)
	return nil
}
