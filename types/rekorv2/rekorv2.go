// Package rekorv2 turns a Rekor v2 CreateEntryRequest (the protojson body of
// POST /api/v2/log/entries) into the canonical hashedrekord 0.0.2 entry that
// becomes the Merkle leaf, byte for byte as sigstore/rekor-tiles v2.3.0 does
// (internal/server/http.go, internal/server/service.go CreateEntry,
// pkg/types/hashedrekord ToLogEntry):
//
//  1. ParseRequest decodes the body as rekor-tiles' grpc-gateway does: the
//     first JSON value, then protojson with DiscardUnknown false (camelCase
//     and snake_case names, base64 in either alphabet, enum names or
//     numbers; unknown and duplicate fields refused with protojson's text).
//     An empty body is an empty request.
//  2. Canonicalize accepts only hashedRekordRequestV002 ("invalid type, must
//     be hashedrekord", also for dsseRequestV002, which v2.3.0 dropped), then
//     checks in upstream's order: signature content, verifier and digest
//     present; exactly one of publicKey or x509Certificate, with rawBytes;
//     the DER key or certificate parses (x509.ParsePKIXPublicKey,
//     x509.ParseCertificate); keyDetails; the digest's length is the size
//     of keyDetails' hash; the signature verifies over the digest
//     (sigstore's LoadVerifierWithOpts with Ed25519ph, WithDigest).
//  3. The body is protojson of Entry{kind, apiVersion, spec.hashedRekordV002
//     {data{algorithm, digest}, signature}}, then RFC 8785, with
//     data.algorithm derived from keyDetails and the signature (content,
//     verifier, rawBytes) logged as sent.
//
// Where Tabula differs from v2.3.0, on purpose:
//
//   - Messages. Upstream answers every failed check with the bare "invalid
//     hashedrekord request"; an *Error's Message starts with upstream's text
//     and goes on to say what was wrong.
//   - keyDetails must describe the key: one of the algorithms upstream
//     allows by default, of the key's type, RSA size or curve. Upstream only
//     checks that (key, hash of keyDetails) is some allowed pair, so it logs
//     e.g. PKIX_RSA_PSS_2048_SHA256 over a PKCS #1 v1.5 signature, or
//     PKIX_ECDSA_P384_SHA_256 for a P-256 key; Tabula refuses those.
//   - Pure Ed25519 (PKIX_ED25519) is refused, as on rekor-tiles main after
//     v2.3.0 (commits 0e3a969, 74e3eb0): it signs the message, not a
//     digest, and v2.3.0 panics on it (crypto.Hash(0).Size()).
//   - Data after the first JSON value is refused; the gateway ignores it.
//   - A body longer than merkle.MaxBundleEntry is refused before the
//     signature is verified; upstream fails later, in its storage.
package rekorv2

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
)

const (
	// Kind is the kind of every entry this package makes.
	Kind = "hashedrekord"
	// APIVersion is its apiVersion.
	APIVersion = "0.0.2"
)

// CodeInvalidArgument is the gRPC status code (InvalidArgument) of every
// *Error; grpc-gateway answers it with HTTP 400.
const CodeInvalidArgument = 3

// Upstream's messages, as rekor-tiles v2.3.0 answers them.
const (
	// MsgInvalidRequest answers any failed check of a hashedrekord request.
	MsgInvalidRequest = "invalid hashedrekord request"
	// MsgInvalidType answers a request that is not a hashedrekord one.
	MsgInvalidType = "invalid type, must be hashedrekord"
	// MsgInvalidEntry answers a failed canonicalization.
	MsgInvalidEntry = "invalid entry"
)

// Error is a refused request, in the shape grpc-gateway writes errors:
// {"code":Code,"message":Message,"details":[]}.
type Error struct {
	// Code is the gRPC status code, always CodeInvalidArgument.
	Code int
	// Message starts with the text rekor-tiles v2.3.0 answers the same
	// request with (MsgInvalidRequest, MsgInvalidType, or the decoder's
	// own message) and says what was wrong.
	Message string
	// err is what errors.Is finds: ErrEntryTooLarge, or nil.
	err error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns ErrEntryTooLarge for an entry too large, else nil.
func (e *Error) Unwrap() error { return e.err }

// ErrEntryTooLarge is wrapped by the *Error refusing an entry longer than
// merkle.MaxBundleEntry, which a door may answer with 413 as the v1 API does.
var ErrEntryTooLarge = errors.New("entry too large")

// invalid is a failed check of a hashedrekord request.
func invalid(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidArgument, Message: MsgInvalidRequest + ": " + fmt.Sprintf(format, args...)}
}

// Entry is an accepted request: the canonical entry and what it was made of.
type Entry struct {
	// Body is the RFC 8785 canonical entry: the leaf, and the
	// canonicalizedBody of the TransparencyLogEntry.
	Body []byte
	// LeafHash is the RFC 6962 leaf hash of Body.
	LeafHash merkle.Hash
	// SearchKeys are the keys v1 hashedrekord indexes the same signature
	// under: the key fingerprint, the certificate's email and other SANs,
	// and "sha256:<hex digest>" (sha384, sha512).
	SearchKeys []types.SearchKey
	// Key is the verifier: a public key, or a certificate.
	Key *pki.Key
	// KeyDetails is the request's keyDetails.
	KeyDetails protocommon.PublicKeyDetails
	// HashAlgorithm is the digest's hash, derived from KeyDetails.
	HashAlgorithm protocommon.HashAlgorithm
	// Digest is the signed digest.
	Digest []byte
}

// Canonical is the entry as the log set stores every entry.
func (e *Entry) Canonical() types.Canonical {
	return types.Canonical{Body: e.Body, SearchKeys: e.SearchKeys}
}

// LogValue describes the entry for logs: kind, key details, verifier
// fingerprint and digest.
func (e *Entry) LogValue() slog.Value {
	fp, _ := e.Key.Fingerprint()
	verifier := "publicKey"
	if e.Key.Leaf() != nil {
		verifier = "x509Certificate"
	}
	return slog.GroupValue(
		slog.String("kind", Kind+" "+APIVersion),
		slog.String("keyDetails", e.KeyDetails.String()),
		slog.String("verifier", verifier),
		slog.String("fingerprint", fp),
		slog.String("digest", hex.EncodeToString(e.Digest)),
	)
}

// ParseRequest decodes the body of POST /api/v2/log/entries as rekor-tiles'
// HTTP gateway does (see the package comment). Bad input yields an *Error
// whose Message is the decoder's text (protojson's "proto: (line 1:2):
// unknown field \"x\"", with a plain space after "proto:").
func ParseRequest(body []byte) (*pb.CreateEntryRequest, error) {
	req := &pb.CreateEntryRequest{}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return req, nil // the gateway passes an empty request on
		}
		msg := err.Error()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("%s (at byte %d)", msg, se.Offset)}
		}
		return nil, &Error{Code: CodeInvalidArgument, Message: msg}
	}
	if rest := body[dec.InputOffset():]; !onlyJSONSpace(rest) {
		msg := fmt.Sprintf("invalid request body: data after the JSON value, at byte %d", dec.InputOffset())
		return nil, &Error{Code: CodeInvalidArgument, Message: msg}
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(raw, req); err != nil {
		// protojson prefixes "proto:" and a space that is, per binary, a
		// plain or a no-break one (to deter matching); write a plain one.
		msg := strings.Replace(err.Error(), "proto:\u00a0", "proto: ", 1)
		return nil, &Error{Code: CodeInvalidArgument, Message: msg}
	}
	return req, nil
}

// onlyJSONSpace reports whether b holds nothing but JSON whitespace.
func onlyJSONSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// CanonicalizeJSON is ParseRequest then Canonicalize.
func CanonicalizeJSON(body []byte) (*Entry, error) {
	req, err := ParseRequest(body)
	if err != nil {
		return nil, err
	}
	return Canonicalize(req)
}

// Canonicalize validates req, verifies its signature and returns the
// canonical entry, in the order of the package comment. Every failure is an
// *Error.
func Canonicalize(req *pb.CreateEntryRequest) (*Entry, error) {
	var hr *pb.HashedRekordRequestV002
	switch s := req.GetSpec().(type) {
	case *pb.CreateEntryRequest_HashedRekordRequestV002:
		hr = s.HashedRekordRequestV002
	case *pb.CreateEntryRequest_DsseRequestV002:
		return nil, &Error{Code: CodeInvalidArgument, Message: MsgInvalidType +
			": dsseRequestV002 is no longer accepted (rekor-tiles v2.3.0 dropped it); send the envelope's PAE digest and signature as a hashedRekordRequestV002"}
	}
	if hr == nil {
		return nil, &Error{Code: CodeInvalidArgument, Message: MsgInvalidType + ": the request has no hashedRekordRequestV002"}
	}

	// Presence, as upstream's validate.
	sig := hr.GetSignature()
	switch {
	case sig == nil:
		return nil, invalid("missing signature: the request has no signature")
	case len(sig.GetContent()) == 0:
		return nil, invalid("missing signature: signature.content is empty")
	case sig.GetVerifier() == nil:
		return nil, invalid("missing verifier: the signature has no verifier")
	case len(hr.GetDigest()) == 0:
		return nil, invalid("missing digest: digest is empty")
	}
	v := sig.GetVerifier()
	pubKey, cert := v.GetPublicKey(), v.GetX509Certificate()
	switch {
	case pubKey == nil && cert == nil:
		return nil, invalid("invalid verifier: missing signature public key or X.509 certificate: the verifier has neither publicKey nor x509Certificate")
	case pubKey != nil && len(pubKey.GetRawBytes()) == 0:
		return nil, invalid("invalid verifier: missing public key raw bytes: publicKey.rawBytes is empty")
	case cert != nil && len(cert.GetRawBytes()) == 0:
		return nil, invalid("invalid verifier: missing X.509 certificate raw bytes: x509Certificate.rawBytes is empty")
	}

	// The verifier, as upstream's extractVerifier.
	var key *pki.Key
	if pubKey != nil {
		pub, err := x509.ParsePKIXPublicKey(pubKey.GetRawBytes())
		if err != nil {
			return nil, invalid("parsing verifier: parsing public key: publicKey.rawBytes is not a DER PKIX public key: %v", err)
		}
		key = pki.FromPublicKey(pub)
	} else {
		c, err := x509.ParseCertificate(cert.GetRawBytes())
		if err != nil {
			return nil, invalid("parsing verifier: parsing certificate: x509Certificate.rawBytes is not a DER X.509 certificate: %v", err)
		}
		key = pki.FromCertificate(c)
	}

	kd := v.GetKeyDetails()
	details, err := checkKeyDetails(kd, key.PublicKey())
	if err != nil {
		return nil, err
	}
	hash := details.GetHashType()
	if len(hr.GetDigest()) != hash.Size() {
		return nil, invalid("the digest is %d bytes; %s needs %d (%s)", len(hr.GetDigest()), kd, hash.Size(), hash)
	}

	body := canonicalBody(hr.GetDigest(), details.GetProtoHashType(), sig)
	if len(body) > merkle.MaxBundleEntry {
		e := invalid("the entry would be %d bytes; this log holds entries of at most %d bytes (a C2SP entry bundle's limit)", len(body), merkle.MaxBundleEntry)
		e.err = ErrEntryTooLarge
		return nil, e
	}

	if err := key.VerifyDigest(sig.GetContent(), hr.GetDigest(), hash); err != nil {
		return nil, invalid("verifying signature: %v", err)
	}

	return &Entry{
		Body:          body,
		LeafHash:      merkle.LeafHash(body),
		SearchKeys:    searchKeys(key, details.GetProtoHashType(), hr.GetDigest()),
		Key:           key,
		KeyDetails:    kd,
		HashAlgorithm: details.GetProtoHashType(),
		Digest:        hr.GetDigest(),
	}, nil
}

// canonicalBody writes upstream's body, protojson of Entry{kind,
// apiVersion, spec.hashedRekordV002{data, signature}} then RFC 8785,
// directly: its keys in RFC 8785's order, bytes in standard base64 with
// padding and enums by name as protojson writes them, no string needing an
// escape. Canonicalize has checked that every field is set (protojson
// omits empty ones) and that keyDetails and the algorithm are known values.
// It was protojson.Marshal and jsoncanonicalizer.Transform, 9 % of the
// server's CPU per write; TestUpstreamAgrees and FuzzCanonicalizeJSON hold
// it to them.
func canonicalBody(digest []byte, alg protocommon.HashAlgorithm, sig *pb.Signature) []byte {
	v := sig.GetVerifier()
	raw, field := v.GetPublicKey().GetRawBytes(), `","publicKey":{"rawBytes":"`
	if c := v.GetX509Certificate(); c != nil {
		raw, field = c.GetRawBytes(), `","x509Certificate":{"rawBytes":"`
	}
	b64 := base64.StdEncoding
	b := make([]byte, 0, 240+b64.EncodedLen(len(digest))+b64.EncodedLen(len(sig.GetContent()))+b64.EncodedLen(len(raw)))
	b = append(b, `{"apiVersion":"`+APIVersion+`","kind":"`+Kind+`","spec":{"hashedRekordV002":{"data":{"algorithm":"`...)
	b = append(b, enumName(alg)...)
	b = append(b, `","digest":"`...)
	b = b64.AppendEncode(b, digest)
	b = append(b, `"},"signature":{"content":"`...)
	b = b64.AppendEncode(b, sig.GetContent())
	b = append(b, `","verifier":{"keyDetails":"`...)
	b = append(b, enumName(v.GetKeyDetails())...)
	b = append(b, field...)
	b = b64.AppendEncode(b, raw)
	return append(b, `"}}}}}}`...)
}

// enumName is the name protojson writes for a known enum value.
func enumName(e protoreflect.Enum) string {
	return string(e.Descriptor().Values().ByNumber(e.Number()).Name())
}

// AllowedKeyDetails lists the keyDetails accepted: rekor-tiles v2.3.0's
// default --client-signing-algorithms less pure Ed25519.
func AllowedKeyDetails() []protocommon.PublicKeyDetails { return slices.Clone(allowed) }

var allowed = []protocommon.PublicKeyDetails{
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
	protocommon.PublicKeyDetails_PKIX_ED25519_PH,
}

// checkKeyDetails returns kd's algorithm when kd is one of allowed and
// describes pub (its type, RSA size or curve), which implies upstream's check
// that (pub, kd's hash) is an allowed pair.
func checkKeyDetails(kd protocommon.PublicKeyDetails, pub crypto.PublicKey) (signature.AlgorithmDetails, error) {
	details, err := signature.GetAlgorithmDetails(kd)
	if err != nil {
		return details, invalid("getting key algorithm details: keyDetails %s is not a signing algorithm; this log accepts %s", kd, allowedNames())
	}
	if kd == protocommon.PublicKeyDetails_PKIX_ED25519 {
		return details, invalid("unsupported entry algorithm: keyDetails PKIX_ED25519 is pure Ed25519, which signs a message, not a digest; sign the digest with Ed25519ph and send PKIX_ED25519_PH")
	}
	if !slices.Contains(allowed, kd) {
		return details, invalid("unsupported entry algorithm: keyDetails %s is not accepted; this log accepts %s", kd, allowedNames())
	}
	reg, err := signature.NewAlgorithmRegistryConfig([]protocommon.PublicKeyDetails{kd})
	if err != nil {
		return details, invalid("getting key algorithm details: %v", err) // unreachable: kd has details
	}
	if ok, err := reg.IsAlgorithmPermitted(pub, details.GetHashType()); err != nil || !ok {
		return details, invalid("unsupported entry algorithm: keyDetails %s does not describe the verifier's key, %s", kd, describeKey(pub))
	}
	return details, nil
}

// allowedNames lists allowed for messages.
func allowedNames() string {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = a.String()
	}
	return strings.Join(names, ", ")
}

// describeKey names a key's algorithm and size for messages.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("an RSA %d-bit key", k.Size()*8)
	case *ecdsa.PublicKey:
		return fmt.Sprintf("an ECDSA %s key", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "an Ed25519 key"
	case nil:
		return "a key of an unknown algorithm"
	default:
		return fmt.Sprintf("a %T key", k)
	}
}

// digestNames are the v1 hashedrekord names of the digest algorithms.
var digestNames = map[protocommon.HashAlgorithm]string{
	protocommon.HashAlgorithm_SHA2_256: "sha256",
	protocommon.HashAlgorithm_SHA2_384: "sha384",
	protocommon.HashAlgorithm_SHA2_512: "sha512",
}

// searchKeys are v1 hashedrekord's keys for the same signature: the
// verifier's fingerprint (of its canonical PEM, as v1 computes it), the
// certificate's email SANs and other SANs, and "<alg>:<hex digest>".
func searchKeys(key *pki.Key, alg protocommon.HashAlgorithm, digest []byte) []types.SearchKey {
	var keys types.KeySet
	if fp, err := key.Fingerprint(); err == nil {
		keys.Add(types.KindKey, fp)
	}
	emails, others := key.Identities()
	keys.Add(types.KindEmail, emails...)
	keys.Add(types.KindSubject, others...)
	if name, ok := digestNames[alg]; ok {
		keys.Add(types.KindDigest, name+":"+hex.EncodeToString(digest))
	}
	return keys.Keys()
}
