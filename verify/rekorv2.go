// Rekor v2 no longer logs dsse 0.0.2 (its fields are deprecated in
// rekor-tiles' proto), but entries it logged stay verifiable.
//lint:file-ignore SA1019 reading deprecated dsse 0.0.2 fields of entries already logged is intended

package verify

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
)

// isRekorV2 reports whether a tlog entry is a Rekor v2 entry (hashedrekord
// or dsse 0.0.2; Rekor v1's intoto 0.0.2 is not one).
func isRekorV2(e *protorekor.TransparencyLogEntry) bool {
	kv := e.GetKindVersion()
	return kv.GetVersion() == "0.0.2" && (kv.GetKind() == "hashedrekord" || kv.GetKind() == "dsse")
}

// matchRekorV2 checks that a Rekor v2 entry's canonicalized body logs what
// the bundle carries: the same signature(s), a verifier that is the
// bundle's certificate or its public key (or the given signing key), and
// the same digest (the artifact's, the envelope's PAE's, or the DSSE
// payload's). The body is the leaf the inclusion proof was verified for.
// sigstore-go v1.3.0 cannot do this for dsse 0.0.2 bodies nor for
// hashedrekord 0.0.2 bodies that log the certificate's public key rather
// than the certificate. artifact, if not nil, is the artifact's content
// (for message signatures); digest, if not nil, its digest.
func matchRekorV2(e *protorekor.TransparencyLogEntry, pb *protobundle.Bundle, cert *x509.Certificate, key crypto.PublicKey, artifact io.Reader, digest []byte) error {
	var entry rekortilespb.Entry
	if err := protojson.Unmarshal(e.GetCanonicalizedBody(), &entry); err != nil {
		return fmt.Errorf("reading the Rekor v2 body: %w", err)
	}
	kv := e.GetKindVersion()
	if entry.GetKind() != kv.GetKind() || entry.GetApiVersion() != kv.GetVersion() {
		return fmt.Errorf("body is %s %s, the bundle says %s %s", entry.GetKind(), entry.GetApiVersion(), kv.GetKind(), kv.GetVersion())
	}
	switch {
	case entry.GetKind() == "hashedrekord" && entry.GetSpec().GetHashedRekordV002() != nil:
		return matchHashedRekordV002(entry.GetSpec().GetHashedRekordV002(), pb, cert, key, artifact, digest)
	case entry.GetKind() == "dsse" && entry.GetSpec().GetDsseV002() != nil:
		return matchDSSEV002(entry.GetSpec().GetDsseV002(), pb, cert, key)
	}
	return fmt.Errorf("body of kind %s has no %s 0.0.2 spec", entry.GetKind(), entry.GetKind())
}

func matchHashedRekordV002(hr *rekortilespb.HashedRekordLogEntryV002, pb *protobundle.Bundle, cert *x509.Certificate, key crypto.PublicKey, artifact io.Reader, digest []byte) error {
	if err := verifierMatches(hr.GetSignature().GetVerifier(), cert, key); err != nil {
		return err
	}
	logged := hr.GetData().GetDigest()
	var want, sig []byte
	switch {
	case pb.GetMessageSignature() != nil:
		ms := pb.GetMessageSignature()
		if ms.GetMessageDigest().GetAlgorithm() != hr.GetData().GetAlgorithm() {
			return fmt.Errorf("logged digest algorithm %s, the bundle's %s", hr.GetData().GetAlgorithm(), ms.GetMessageDigest().GetAlgorithm())
		}
		want, sig = ms.GetMessageDigest().GetDigest(), ms.GetSignature()
		if digest != nil && !bytes.Equal(digest, logged) {
			return fmt.Errorf("logged digest %x is not the artifact's digest %x", logged, digest)
		}
		if artifact != nil {
			h, err := newHash(hr.GetData().GetAlgorithm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(h, artifact); err != nil {
				return fmt.Errorf("hashing the artifact: %w", err)
			}
			if d := h.Sum(nil); !bytes.Equal(d, logged) {
				return fmt.Errorf("logged digest %x is not the artifact's digest %x", logged, d)
			}
		}
	case pb.GetDsseEnvelope() != nil:
		// Rekor v2 logs a DSSE envelope signed once as a hashedrekord of
		// its PAE.
		env := pb.GetDsseEnvelope()
		if len(env.GetSignatures()) != 1 {
			return fmt.Errorf("a hashedrekord entry logs one signature, the envelope has %d", len(env.GetSignatures()))
		}
		h, err := newHash(hr.GetData().GetAlgorithm())
		if err != nil {
			return err
		}
		h.Write(dsse.PAE(env.GetPayloadType(), env.GetPayload()))
		want, sig = h.Sum(nil), env.GetSignatures()[0].GetSig()
	default:
		return errors.New("bundle has neither a message signature nor a DSSE envelope")
	}
	if !bytes.Equal(want, logged) {
		return fmt.Errorf("logged digest %x, the bundle's %x", logged, want)
	}
	if !bytes.Equal(sig, hr.GetSignature().GetContent()) {
		return errors.New("logged signature is not the bundle's")
	}
	return nil
}

func matchDSSEV002(d *rekortilespb.DSSELogEntryV002, pb *protobundle.Bundle, cert *x509.Certificate, key crypto.PublicKey) error {
	env := pb.GetDsseEnvelope()
	if env == nil {
		return errors.New("a dsse entry needs a bundle with a DSSE envelope")
	}
	h, err := newHash(d.GetPayloadHash().GetAlgorithm())
	if err != nil {
		return err
	}
	h.Write(env.GetPayload())
	if got := h.Sum(nil); !bytes.Equal(got, d.GetPayloadHash().GetDigest()) {
		return fmt.Errorf("logged payload hash %x, the envelope's %x", d.GetPayloadHash().GetDigest(), got)
	}
	if len(d.GetSignatures()) != len(env.GetSignatures()) {
		return fmt.Errorf("%d signatures logged, %d in the envelope", len(d.GetSignatures()), len(env.GetSignatures()))
	}
	for i, s := range env.GetSignatures() {
		found := false
		for _, ls := range d.GetSignatures() {
			if bytes.Equal(ls.GetContent(), s.GetSig()) {
				if err := verifierMatches(ls.GetVerifier(), cert, key); err != nil {
					return fmt.Errorf("signature %d: %w", i, err)
				}
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("the envelope's signature %d is not logged", i)
		}
	}
	return nil
}

// verifierMatches checks a logged verifier against the bundle's signer: its
// certificate (logged as is, or as the certificate's public key), or, for
// a key-signed bundle, the given key.
func verifierMatches(v *rekortilespb.Verifier, cert *x509.Certificate, key crypto.PublicKey) error {
	switch {
	case cert != nil:
		if c := v.GetX509Certificate().GetRawBytes(); c != nil && bytes.Equal(c, cert.Raw) {
			return nil
		}
		if k := v.GetPublicKey().GetRawBytes(); k != nil && bytes.Equal(k, cert.RawSubjectPublicKeyInfo) {
			return nil
		}
		return errors.New("logged verifier is neither the bundle's certificate nor its public key")
	case key != nil:
		der, err := x509.MarshalPKIXPublicKey(key)
		if err != nil {
			return fmt.Errorf("encoding the signing key: %w", err)
		}
		if k := v.GetPublicKey().GetRawBytes(); k != nil && bytes.Equal(k, der) {
			return nil
		}
		return errors.New("logged verifier is not the given signing key")
	}
	return errors.New("bundle has no certificate and no signing key was given")
}

func newHash(alg protocommon.HashAlgorithm) (hash.Hash, error) {
	switch alg {
	case protocommon.HashAlgorithm_SHA2_256:
		return sha256.New(), nil
	case protocommon.HashAlgorithm_SHA2_384:
		return sha512.New384(), nil
	case protocommon.HashAlgorithm_SHA2_512:
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unsupported digest algorithm %s", alg)
}
