package tsa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

var (
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// ChainValidity is how long a generated chain is valid.
const ChainValidity = 10 * 365 * 24 * time.Hour

// VerifyChain checks a TSA certificate chain as timestamp-authority does
// (pkg/x509 VerifyCertChain, with intermediates held to the timestamping
// EKU, its default): the signing certificate first, then its issuers, the
// root last; the chain verifies at now for id-kp-timeStamping; every
// issuer is a CA, the signing certificate is not, has exactly one extended
// key usage, id-kp-timeStamping, in a critical extension (RFC 3161 2.3),
// and holds pub.
func VerifyChain(chain []*x509.Certificate, pub crypto.PublicKey, now time.Time) error {
	if len(chain) < 2 {
		return errors.New("tsa: the certificate chain must hold the signing certificate and at least a root")
	}
	leaf := chain[0]
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(chain[len(chain)-1])
	for _, c := range chain[1 : len(chain)-1] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}); err != nil {
		return fmt.Errorf("tsa: the certificate chain does not verify: %w", err)
	}
	for i, c := range chain[1:] {
		if !c.IsCA {
			return fmt.Errorf("tsa: certificate %d of the chain (%s) is not a CA", i+1, c.Subject)
		}
	}
	if leaf.IsCA {
		return errors.New("tsa: the signing certificate is a CA; it must be an end-entity certificate")
	}
	if len(leaf.ExtKeyUsage)+len(leaf.UnknownExtKeyUsage) != 1 {
		return errors.New("tsa: the signing certificate must have exactly one extended key usage, id-kp-timeStamping")
	}
	critical := false
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(oidExtKeyUsage) {
			critical = ext.Critical
		}
	}
	if !critical {
		return errors.New("tsa: the signing certificate's extended key usage must be critical")
	}
	for i, c := range chain[1 : len(chain)-1] {
		if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
			return fmt.Errorf("tsa: intermediate %d of the chain (%s) lacks the timestamping extended key usage", i+1, c.Subject)
		}
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if k, ok := leaf.PublicKey.(equaler); !ok || !k.Equal(pub) {
		return errors.New("tsa: the signing certificate does not hold the TSA key")
	}
	return nil
}

// GenerateChain makes a two-certificate chain for key: a self-signed root
// CA, whose private key is discarded, and the signing certificate it
// issues, with the critical id-kp-timeStamping EKU, both valid from now
// (less a minute for clock skew) for ChainValidity. name goes into the
// subjects.
func GenerateChain(key crypto.Signer, name string, now time.Time) ([]*x509.Certificate, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tsa: generating the root key: %w", err)
	}
	notBefore, notAfter := now.Add(-time.Minute).UTC(), now.Add(ChainValidity).UTC()
	rootTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name + " TSA root", Organization: []string{"Tabula"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("tsa: creating the root certificate: %w", err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, fmt.Errorf("tsa: parsing the root certificate: %w", err)
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidKPTimeStamping})
	if err != nil {
		return nil, fmt.Errorf("tsa: encoding the EKU: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name + " timestamping", Organization: []string{"Tabula"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		// crypto/x509 writes ExtKeyUsage non-critical; RFC 3161 wants it critical.
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, key.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("tsa: creating the signing certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, fmt.Errorf("tsa: parsing the signing certificate: %w", err)
	}
	chain := []*x509.Certificate{leaf, root}
	if err := VerifyChain(chain, key.Public(), now); err != nil {
		return nil, err
	}
	return chain, nil
}

// serial is a random positive 127-bit serial number.
func serial() *big.Int {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	b[0] &= 0x7f
	b[0] |= 0x40
	return new(big.Int).SetBytes(b)
}
