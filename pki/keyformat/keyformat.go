// Package keyformat parses the public keys and detached signatures of the
// PKI formats Rekor v1's "rekord" entries and publicKey searches name: x509,
// pgp, minisign and ssh. It is Tabula's counterpart of Rekor's pkg/pki
// artifact factory: one entry point per operation, dispatching on the format
// name, with Rekor's parsing rules, canonical forms and error texts.
//
//   - x509: a PEM public key, certificate or chain (package pki); the
//     signature is raw bytes, verified over the whole message with SHA-256
//     (RSA PKCS #1 v1.5, ECDSA) or as pure Ed25519, through sigstore/sigstore;
//   - pgp: an OpenPGP key ring and detached signature (package pki/pgp);
//   - minisign: a minisign or signify key and signature (package pki/minisign);
//   - ssh: an authorized_keys line and an SSHSIG armored signature (package
//     pki/ssh).
//
// CanonicalKey gives the bytes Rekor stores (and hashes for its search index)
// for a key; hex(SHA-256(CanonicalKey(format, key))) is the key's fingerprint
// search key, for x509 the same as pki.FingerprintPEM of hashedrekord.
package keyformat

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/pki/minisign"
	"github.com/tabularium/tabula/pki/pgp"
	"github.com/tabularium/tabula/pki/ssh"
)

// The format names, as in Rekor's rekord schema and search API.
const (
	X509     = "x509"
	PGP      = "pgp"
	Minisign = "minisign"
	SSH      = "ssh"
)

// Formats lists the supported formats in the rekord schema's enum order.
func Formats() []string { return []string{PGP, Minisign, X509, SSH} }

// Key is a parsed public key of one format.
type Key interface {
	// Canonical is the key as Rekor stores it in a canonical body.
	Canonical() ([]byte, error)
	// Identities are the identities Rekor indexes the key under, by kind:
	// emails (certificate email SANs, OpenPGP user-id emails, an ssh key's
	// email comment) and the others (a certificate's other SANs); case is
	// kept.
	Identities() (emails, others []string)
}

// Signature is a parsed detached signature of one format.
type Signature interface {
	// Canonical is the signature as Rekor stores it in a canonical body.
	Canonical() ([]byte, error)
	// Verify checks the signature over message with key, which must be of
	// the same format.
	Verify(message []byte, key Key) error
}

// unsupported is Rekor's NewArtifactFactory error.
func unsupported(format string) error {
	return fmt.Errorf("%v is not a supported PKI format", format)
}

// ParseKey parses a public key of the given format.
func ParseKey(format string, content []byte) (Key, error) {
	switch format {
	case X509:
		k, err := pki.ParsePEM(content)
		if err != nil {
			return nil, err
		}
		return x509Key{k}, nil
	case PGP:
		k, err := pgp.ParsePublicKey(content)
		if err != nil {
			return nil, err
		}
		return pgpKey{k}, nil
	case Minisign:
		k, err := minisign.ParsePublicKey(content)
		if err != nil {
			return nil, err
		}
		return minisignKey{k}, nil
	case SSH:
		k, err := ssh.ParsePublicKey(content)
		if err != nil {
			return nil, err
		}
		return sshKey{k}, nil
	}
	return nil, unsupported(format)
}

// ParseSignature parses a detached signature of the given format.
func ParseSignature(format string, content []byte) (Signature, error) {
	switch format {
	case X509:
		return x509Signature(bytes.Clone(content)), nil
	case PGP:
		s, err := pgp.ParseSignature(content)
		if err != nil {
			return nil, err
		}
		return pgpSignature{s}, nil
	case Minisign:
		s, err := minisign.ParseSignature(content)
		if err != nil {
			return nil, err
		}
		return minisignSignature{s}, nil
	case SSH:
		s, err := ssh.ParseSignature(content)
		if err != nil {
			return nil, err
		}
		return sshSignature{s}, nil
	}
	return nil, unsupported(format)
}

// CanonicalKey parses a public key of the given format and returns its
// canonical bytes, for the publicKey query of /api/v1/index/retrieve.
func CanonicalKey(format string, content []byte) ([]byte, error) {
	k, err := ParseKey(format, content)
	if err != nil {
		return nil, err
	}
	return k.Canonical()
}

// Fingerprint is hex(SHA-256(canonical)): a key's search-index key. It is
// pki.FingerprintPEM, so that x509 keys index alike in rekord and hashedrekord.
func Fingerprint(canonical []byte) string { return pki.FingerprintPEM(canonical) }

// wrongKey is Rekor's error for a key of another format.
func wrongKey(k Key) error { return fmt.Errorf("invalid public key type for: %v", k) }

type x509Key struct{ k *pki.Key }

func (k x509Key) Canonical() ([]byte, error)            { return k.k.CanonicalPEM() }
func (k x509Key) Identities() (emails, others []string) { return k.k.Identities() }

// x509Signature is Rekor's x509 signature: raw bytes, kept as sent.
type x509Signature []byte

func (s x509Signature) Canonical() ([]byte, error) { return bytes.Clone(s), nil }

// Verify is Rekor's x509 Signature.Verify: a chain is checked first, then
// sigstore's default verifier for the key (SHA-256; pure Ed25519) checks the
// signature over the whole message.
func (s x509Signature) Verify(message []byte, key Key) error {
	if len(s) == 0 {
		return errors.New("X509 signature has not been initialized")
	}
	k, ok := key.(x509Key)
	if !ok || k.k == nil {
		return wrongKey(key)
	}
	pub := k.k.PublicKey()
	if pub == nil {
		return errors.New("no public key found")
	}
	if err := k.k.VerifyChain(); err != nil {
		return err
	}
	v, err := signature.LoadVerifierWithOpts(pub)
	if err != nil {
		return err
	}
	return v.VerifySignature(bytes.NewReader(s), bytes.NewReader(message))
}

type pgpKey struct{ k *pgp.PublicKey }

func (k pgpKey) Canonical() ([]byte, error)            { return k.k.Canonical() }
func (k pgpKey) Identities() (emails, others []string) { return k.k.Emails(), nil }

type pgpSignature struct{ s *pgp.Signature }

func (s pgpSignature) Canonical() ([]byte, error) { return s.s.Canonical() }
func (s pgpSignature) Verify(message []byte, key Key) error {
	k, ok := key.(pgpKey)
	if !ok {
		return errors.New("cannot use Verify with a non-PGP signature")
	}
	return s.s.Verify(message, k.k)
}

type minisignKey struct{ k *minisign.PublicKey }

func (k minisignKey) Canonical() ([]byte, error)            { return k.k.Canonical() }
func (k minisignKey) Identities() (emails, others []string) { return nil, nil }

type minisignSignature struct{ s *minisign.Signature }

func (s minisignSignature) Canonical() ([]byte, error) { return s.s.Canonical() }
func (s minisignSignature) Verify(message []byte, key Key) error {
	k, ok := key.(minisignKey)
	if !ok {
		return errors.New("cannot use Verify with a non-minisign key")
	}
	return s.s.Verify(message, k.k)
}

type sshKey struct{ k *ssh.PublicKey }

func (k sshKey) Canonical() ([]byte, error)            { return k.k.Canonical() }
func (k sshKey) Identities() (emails, others []string) { return k.k.Emails(), nil }

type sshSignature struct{ s *ssh.Signature }

func (s sshSignature) Canonical() ([]byte, error) { return s.s.Canonical() }
func (s sshSignature) Verify(message []byte, key Key) error {
	k, ok := key.(sshKey)
	if !ok {
		return wrongKey(key)
	}
	return s.s.Verify(message, k.k)
}
