// Package trustroot builds the Sigstore documents that tell clients
// (cosign, sigstore-go, sigstore-python, sigstore-js) what to trust and
// where to write: the TrustedRoot (every log key with its validity, the
// certificate and timestamp authorities) and the SigningConfig v0.2 (the
// Rekor logs and timestamp authority to use), both protobuf-specs
// dev.sigstore.trustroot.v1 messages written as proto3 JSON.
//
// It is fed by data, not by HTTP: `tabula trusted-root --server` and
// `tabula signing-config --server` describe a server from what it serves
// (GET /logs, checked), `tabula serve` from its own log sets
// (FromLogSets), and both get the same documents for the same server.
package trustroot

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TrustedRootMediaType is the media type of a Sigstore TrustedRoot document
// (protobuf-specs dev.sigstore.trustroot.v1.TrustedRoot, proto3 JSON).
const TrustedRootMediaType = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"

// SigningConfigMediaType is the media type of a Sigstore SigningConfig v0.2
// (protobuf-specs dev.sigstore.trustroot.v1.SigningConfig, proto3 JSON).
const SigningConfigMediaType = "application/vnd.dev.sigstore.signingconfig.v0.2+json"

// StartMargin is how far before the earliest entry (or now) a validity
// start is put, and after the last entry a frozen log's end: it absorbs
// clock differences between replicas.
const StartMargin = time.Minute

// TimestampPath is the path, under a server's base URL, of its RFC 3161
// timestamp authority.
const TimestampPath = "/api/v1/timestamp"

// Log is a log key to trust.
type Log struct {
	// PublicKey is the log's key (ECDSA P-256/P-384/P-521 or Ed25519).
	PublicKey crypto.PublicKey
	// KeyID is the key ID clients file the key under (nil: Rekor v1's log
	// ID, SHA-256 of the DER key, as LogID).
	KeyID []byte
	// BaseURL names the log: https://<the name its checkpoints are signed
	// under>.
	BaseURL string
	// Start and End bound the key's validity (zero End: still in service).
	Start, End time.Time
}

// Authority is a certificate or timestamp authority to trust.
type Authority struct {
	// Chain is its certificate chain: the issuing (or timestamp signing)
	// certificate first, the root last. It must not be empty.
	Chain []*x509.Certificate
	// URI is where it is reached (optional).
	URI string
}

// TrustedRoot is the content of a TrustedRoot document.
type TrustedRoot struct {
	Logs []Log
	// Operator is written into every log instance (optional).
	Operator               string
	CertificateAuthorities []Authority
	TimestampAuthorities   []Authority
}

// LogID is Rekor's log ID of pub: SHA-256 of its DER SubjectPublicKeyInfo
// (nil if pub has none).
func LogID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	id := sha256.Sum256(der)
	return id[:]
}

// JSON writes the trusted root as indented proto3 JSON with a stable layout
// and the lists Sigstore's own trusted roots always carry, empty when there
// is nothing in them.
func (t TrustedRoot) JSON() ([]byte, error) {
	if len(t.Logs) == 0 {
		return nil, errors.New("trustroot: a trusted root needs a log")
	}
	tr := &prototrustroot.TrustedRoot{MediaType: TrustedRootMediaType}
	for _, l := range t.Logs {
		tlog, err := tlogInstance(l, t.Operator)
		if err != nil {
			return nil, err
		}
		tr.Tlogs = append(tr.Tlogs, tlog)
	}
	for _, a := range t.CertificateAuthorities {
		ca, err := authorityOf(a)
		if err != nil {
			return nil, err
		}
		tr.CertificateAuthorities = append(tr.CertificateAuthorities, ca)
	}
	for _, a := range t.TimestampAuthorities {
		ca, err := authorityOf(a)
		if err != nil {
			return nil, err
		}
		tr.TimestampAuthorities = append(tr.TimestampAuthorities, ca)
	}
	return marshalOrdered(tr, []string{"mediaType", "tlogs", "certificateAuthorities", "ctlogs", "timestampAuthorities"})
}

// tlogInstance describes l.
func tlogInstance(l Log, operator string) (*prototrustroot.TransparencyLogInstance, error) {
	var details protocommon.PublicKeyDetails
	switch k := l.PublicKey.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
		case elliptic.P384():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384
		case elliptic.P521():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512
		default:
			return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		details = protocommon.PublicKeyDetails_PKIX_ED25519
	default:
		return nil, fmt.Errorf("unsupported log key type %T (want ECDSA or Ed25519)", l.PublicKey)
	}
	der, err := x509.MarshalPKIXPublicKey(l.PublicKey)
	if err != nil {
		return nil, err
	}
	keyID := l.KeyID
	if keyID == nil {
		id := sha256.Sum256(der) // Rekor's log ID: SHA-256 of the DER SubjectPublicKeyInfo
		keyID = id[:]
	}
	tlog := &prototrustroot.TransparencyLogInstance{
		BaseUrl:       l.BaseURL,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey: &protocommon.PublicKey{
			RawBytes:   der,
			KeyDetails: details,
			ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(l.Start)},
		},
		LogId:    &protocommon.LogId{KeyId: keyID},
		Operator: operator,
	}
	if !l.End.IsZero() {
		tlog.PublicKey.ValidFor.End = timestamppb.New(l.End)
	}
	return tlog, nil
}

// authorityOf is the CertificateAuthority of a, valid from the first
// certificate's NotBefore.
func authorityOf(a Authority) (*prototrustroot.CertificateAuthority, error) {
	if len(a.Chain) == 0 {
		return nil, errors.New("trustroot: an authority without certificates")
	}
	ca := &prototrustroot.CertificateAuthority{
		Subject: &protocommon.DistinguishedName{
			Organization: strings.Join(a.Chain[0].Subject.Organization, ", "),
			CommonName:   a.Chain[0].Subject.CommonName,
		},
		Uri:       a.URI,
		CertChain: &protocommon.X509CertificateChain{},
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(a.Chain[0].NotBefore)},
	}
	for _, cert := range a.Chain {
		ca.CertChain.Certificates = append(ca.CertChain.Certificates, &protocommon.X509Certificate{RawBytes: cert.Raw})
	}
	return ca, nil
}

// Service is a service of a signing config.
type Service struct {
	URL             string
	MajorAPIVersion uint32
	// Start is when it came into service (written UTC, to the second).
	Start time.Time
}

// SigningConfig is the content of a SigningConfig v0.2 document. Every
// service is selected with ANY.
type SigningConfig struct {
	// Operator is the operator of every service, a scheme-less URI.
	Operator string
	CAs      []Service // Fulcio
	OIDC     []Service // OIDC issuers
	Rekor    []Service
	TSAs     []Service
}

// JSON writes the signing config as indented proto3 JSON with a stable
// layout.
func (s SigningConfig) JSON() ([]byte, error) {
	if len(s.Rekor) == 0 {
		return nil, errors.New("trustroot: a signing config needs a Rekor log")
	}
	sc := &prototrustroot.SigningConfig{
		MediaType:       SigningConfigMediaType,
		RekorTlogConfig: &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
		TsaConfig:       &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
	}
	for _, l := range []struct {
		in  []Service
		out *[]*prototrustroot.Service
	}{{s.CAs, &sc.CaUrls}, {s.OIDC, &sc.OidcUrls}, {s.Rekor, &sc.RekorTlogUrls}, {s.TSAs, &sc.TsaUrls}} {
		for _, v := range l.in {
			*l.out = append(*l.out, &prototrustroot.Service{
				Url:             v.URL,
				MajorApiVersion: v.MajorAPIVersion,
				ValidFor:        &protocommon.TimeRange{Start: timestamppb.New(v.Start.UTC().Truncate(time.Second))},
				Operator:        s.Operator,
			})
		}
	}
	return marshalOrdered(sc, []string{"mediaType", "caUrls", "oidcUrls", "rekorTlogUrls", "rekorTlogConfig", "tsaUrls", "tsaConfig"})
}

// marshalOrdered writes m as indented proto3 JSON with its top-level fields
// in the order of names (protojson's own layout varies on purpose); a
// missing field is written as an empty list, as Sigstore's own documents
// carry them.
func marshalOrdered(m proto.Message, names []string) ([]byte, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("{")
	for i, name := range names {
		v, ok := fields[name]
		if !ok {
			v = json.RawMessage("[]")
		}
		if i > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, "%q:%s", name, v)
		delete(fields, name)
	}
	buf.WriteString("}")
	if len(fields) != 0 {
		return nil, fmt.Errorf("internal error: unexpected fields %v", fields)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
