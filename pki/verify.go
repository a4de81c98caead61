package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// ErrAlgorithmNotAllowed is CheckAlgorithm's error; its text is the message
// Rekor returns (after "error processing entry: ").
var ErrAlgorithmNotAllowed = errors.New("entry algorithms are not allowed")

// VerifyDigest verifies sig over digest, a hash made with h, as Rekor's
// hashedrekord does: a chain is first checked (VerifyChain), then the leaf or
// bare key verifies through sigstore/sigstore with the digest prehashed
// (ECDSA: ASN.1 or IEEE P1363; RSA: PKCS #1 v1.5; Ed25519: Ed25519ph, which
// accepts only SHA-512). The error texts are sigstore's, e.g. "invalid
// signature when validating ASN.1 encoded signature"; callers prefix
// "verifying signature: ".
//
// VerifyDigest does not apply CheckAlgorithm; Rekor checks the pair after a
// signature has verified.
func (k *Key) VerifyDigest(sig, digest []byte, h crypto.Hash) error {
	if len(sig) == 0 {
		// Rekor's message, matched byte for byte.
		return errors.New("X509 signature has not been initialized")
	}
	if k.pub == nil && len(k.certs) == 0 {
		return errors.New("no public key found")
	}
	if err := k.VerifyChain(); err != nil {
		return err
	}
	v, err := signature.LoadVerifierWithOpts(k.PublicKey(), options.WithED25519ph())
	if err != nil {
		return err
	}
	return v.VerifySignature(bytes.NewReader(sig), nil, options.WithDigest(digest), options.WithCryptoSignerOpts(h))
}

// VerifyChain checks that a chain's leaf chains to its last certificate,
// through the ones between, at the leaf's NotBefore (expired certificates stay
// verifiable) and for any extended key usage. It is nil for a bare key or a
// single certificate.
func (k *Key) VerifyChain() error {
	if len(k.certs) < 2 {
		return nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(k.certs[len(k.certs)-1])
	inter := x509.NewCertPool()
	for _, c := range k.certs[1 : len(k.certs)-1] {
		inter.AddCert(c)
	}
	_, err := k.certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		CurrentTime:   k.certs[0].NotBefore,
	})
	return err
}

// CheckAlgorithm reports whether the (public key, artifact hash) pair is one of
// Rekor's default --client-signing-algorithms: RSA PKCS #1 v1.5 with a
// 2048-, 3072- or 4096-bit modulus and SHA-256; ECDSA P-256/SHA-256,
// P-384/SHA-384, P-521/SHA-512; Ed25519ph/SHA-512 (pure Ed25519, the last
// default, has no hash and so never matches a digest). Otherwise it returns
// ErrAlgorithmNotAllowed. The RSA size is Rekor's (sigstore's): the modulus
// length in bytes times eight.
func CheckAlgorithm(pub crypto.PublicKey, h crypto.Hash) error {
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N != nil {
			switch k.Size() * 8 {
			case 2048, 3072, 4096:
				ok = h == crypto.SHA256
			}
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			ok = h == crypto.SHA256
		case elliptic.P384():
			ok = h == crypto.SHA384
		case elliptic.P521():
			ok = h == crypto.SHA512
		}
	case ed25519.PublicKey:
		ok = h == crypto.SHA512
	}
	if !ok {
		return ErrAlgorithmNotAllowed
	}
	return nil
}
