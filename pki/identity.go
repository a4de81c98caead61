package pki

import (
	"crypto/x509"
	"encoding/asn1"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Fulcio certificate extensions naming the OIDC issuer that vouched for the
// signer (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
var (
	// OIDIssuer is 1.3.6.1.4.1.57264.1.1, deprecated: the value is the raw
	// issuer URL, not DER.
	OIDIssuer = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	// OIDIssuerV2 is 1.3.6.1.4.1.57264.1.8: a DER UTF8String.
	OIDIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// Subjects lists the leaf certificate's subject alternative names in Rekor's
// order (sigstore cryptoutils.GetSubjectAlternateNames): DNS names, email
// addresses, IP addresses, URIs, then the Fulcio OtherName (username) SAN. It
// is nil for a bare public key. Case is kept; Rekor lower-cases index keys
// when it stores them.
func (k *Key) Subjects() []string {
	leaf := k.Leaf()
	if leaf == nil {
		return nil
	}
	return cryptoutils.GetSubjectAlternateNames(leaf)
}

// Identities splits Subjects by kind: the leaf certificate's email address
// SANs, and the others (DNS names, IP addresses, URIs, the Fulcio OtherName
// SAN), each in Subjects' order. Both are nil for a bare public key.
func (k *Key) Identities() (emails, others []string) {
	leaf := k.Leaf()
	if leaf == nil {
		return nil, nil
	}
	emails = append(emails, leaf.EmailAddresses...)
	others = append(others, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		others = append(others, ip.String())
	}
	for _, uri := range leaf.URIs {
		others = append(others, uri.String())
	}
	// As cryptoutils.GetSubjectAlternateNames: no OtherName SAN is no error.
	if on, _ := cryptoutils.UnmarshalOtherNameSAN(leaf.Extensions); on != "" {
		others = append(others, on)
	}
	return emails, others
}

// OIDCIssuer is the Fulcio OIDC issuer recorded in the leaf certificate
// (extension 1.3.6.1.4.1.57264.1.8, else the deprecated .1.1), or "" when
// there is none. Rekor v1 does not index it; it is here for policy and for
// entry types that do.
func (k *Key) OIDCIssuer() string {
	return OIDCIssuer(k.Leaf())
}

// OIDCIssuer reads the Fulcio OIDC issuer extension of c; "" if c is nil or
// carries none.
func OIDCIssuer(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	var v1 string
	for _, ext := range c.Extensions {
		switch {
		case ext.Id.Equal(OIDIssuerV2):
			var s string
			if rest, err := asn1.Unmarshal(ext.Value, &s); err == nil && len(rest) == 0 {
				return s
			}
		case ext.Id.Equal(OIDIssuer):
			v1 = string(ext.Value)
		}
	}
	return v1
}
