// Package tsa is Tabula's RFC 3161 timestamp authority. It parses time-stamp
// requests and signs time-stamp responses as sigstore/timestamp-authority
// does (the same checks, defaults and messages), with the RFC 3161 library
// that service uses, github.com/digitorus/timestamp.
package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/digitorus/timestamp"
)

// DefaultPolicy is the TSA policy OID of timestamps whose request names none,
// and the only one a request may name: timestamp-authority's default
// (--default-policy-oid, --accepted-policy-oids), Sigstore's arc.
var DefaultPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}

// MaxRequestBody is the largest request body accepted, in bytes:
// timestamp-authority's --max-request-body-size default.
const MaxRequestBody = 1 << 20

// MaxJSONRequest is the largest JSON request accepted, in bytes, as in
// timestamp-authority: its only unbounded field, the decimal nonce, costs
// time quadratic in its length to parse.
const MaxJSONRequest = 1024

// Accuracy is the accuracy stated in every timestamp, as in timestamp-authority.
const Accuracy = time.Second

// Content types of the API.
const (
	QueryContentType = "application/timestamp-query"
	ReplyContentType = "application/timestamp-reply"
	JSONContentType  = "application/json"
	ChainContentType = "application/pem-certificate-chain"
)

// timestamp-authority's error messages (pkg/api/error.go).
const (
	msgFailed            = "Error generating timestamp response"
	msgLongOID           = "OID should be comprised of at most 128 components"
	msgTooLarge          = "timestamp request is too large"
	msgWeakHash          = "Weak hash algorithm in timestamp request"
	msgDigestLength      = "Message digest has incorrect length for specified algorithm"
	msgUnacceptedPolicy  = "unaccepted policy: requested TSA policy is not supported by the TSA"
	msgUnacceptedExtn    = "unaccepted extension: requested extensions are not supported by the TSA"
	errWeakHashCause     = "SHA-1 is refused; use SHA-256, SHA-384 or SHA-512"
	errUnsupportedHashOK = "supported: SHA-256, SHA-384, SHA-512"
)

// errUnknownHash is the library's error for a hash algorithm it does not know.
var errUnknownHash = timestamp.ParseError("Time-Stamp request uses unknown hash function")

// RequestError is a request the authority refuses.
type RequestError struct {
	// Status is the HTTP status timestamp-authority answers it with.
	Status int
	// Message is timestamp-authority's message for it.
	Message string
	// Err is what was wrong (timestamp-authority only logs it).
	Err error
}

// Error is the message followed by the cause.
func (e *RequestError) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

func (e *RequestError) Unwrap() error { return e.Err }

func badRequest(msg string, err error) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Message: msg, Err: err}
}

// Config configures an Authority.
type Config struct {
	// Signer signs timestamps: an ECDSA (P-256, P-384, P-521) or RSA key.
	Signer crypto.Signer
	// Chain is the signing certificate and its issuers, root last; see
	// VerifyChain.
	Chain []*x509.Certificate
	// Policy is the TSA policy OID (nil: DefaultPolicy).
	Policy asn1.ObjectIdentifier
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Authority issues timestamps. It is safe for concurrent use.
type Authority struct {
	signer   crypto.Signer
	hash     crypto.Hash
	chain    []*x509.Certificate
	chainPEM []byte
	policy   asn1.ObjectIdentifier
	now      func() time.Time
}

// New checks the chain against the key (VerifyChain) and returns the authority.
func New(cfg Config) (*Authority, error) {
	if cfg.Signer == nil {
		return nil, errors.New("tsa: no signing key")
	}
	hash, err := signerHash(cfg.Signer.Public())
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if err := VerifyChain(cfg.Chain, cfg.Signer.Public(), now()); err != nil {
		return nil, err
	}
	policy := cfg.Policy
	if len(policy) == 0 {
		policy = DefaultPolicy
	}
	if _, err := asn1.Marshal(policy); err != nil {
		return nil, fmt.Errorf("tsa: policy OID %s: %w", policy, err)
	}
	var chainPEM bytes.Buffer
	for _, c := range cfg.Chain {
		if err := pem.Encode(&chainPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return nil, fmt.Errorf("tsa: encoding chain: %w", err)
		}
	}
	return &Authority{
		signer:   cfg.Signer,
		hash:     hash,
		chain:    cfg.Chain,
		chainPEM: chainPEM.Bytes(),
		policy:   policy,
		now:      now,
	}, nil
}

// signerHash is the digest the signature is made over: SHA-256, or the
// curve's own size for P-384 and P-521.
func signerHash(pub crypto.PublicKey) (crypto.Hash, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, nil
		case elliptic.P384():
			return crypto.SHA384, nil
		case elliptic.P521():
			return crypto.SHA512, nil
		}
		return 0, errors.New("tsa: unsupported ECDSA curve (want P-256, P-384 or P-521)")
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return 0, fmt.Errorf("tsa: RSA key of %d bits; at least 2048 needed", k.N.BitLen())
		}
		return crypto.SHA256, nil
	}
	return 0, fmt.Errorf("tsa: unsupported key type %T (want ECDSA or RSA)", pub)
}

// Chain returns the certificate chain, signing certificate first.
func (a *Authority) Chain() []*x509.Certificate { return a.chain }

// ChainPEM returns the chain as PEM, signing certificate first, as
// GET /api/v1/timestamp/certchain serves it.
func (a *Authority) ChainPEM() []byte { return a.chainPEM }

// Policy returns the TSA policy OID.
func (a *Authority) Policy() asn1.ObjectIdentifier { return a.policy }

// ParseRequest parses a request body of the given Content-Type: a DER
// TimeStampReq (application/timestamp-query) or timestamp-authority's JSON
// form (application/json). Any refusal is a *RequestError.
func (a *Authority) ParseRequest(contentType string, body []byte) (*timestamp.Request, error) {
	media := "application/octet-stream" // what go-openapi assumes when none is given
	if contentType != "" {
		media = contentType
		if m, _, err := mime.ParseMediaType(contentType); err == nil {
			media = m
		}
	}
	var (
		req *timestamp.Request
		err error
	)
	switch media {
	case QueryContentType:
		req, err = timestamp.ParseRequest(body)
		if errors.Is(err, errUnknownHash) {
			return nil, badRequest(msgFailed, fmt.Errorf("unsupported hash algorithm (%s)", errUnsupportedHashOK))
		}
		if err != nil {
			return nil, badRequest(msgFailed, fmt.Errorf("parsing the DER TimeStampReq: %w", derError(err)))
		}
	case JSONContentType:
		req, err = parseJSONRequest(body)
		if err != nil {
			return nil, err
		}
	default:
		return nil, &RequestError{Status: http.StatusUnsupportedMediaType,
			Message: fmt.Sprintf("unsupported media type %q, only [%s %s] are allowed", media, JSONContentType, QueryContentType)}
	}
	if err := a.check(req); err != nil {
		return nil, err
	}
	return req, nil
}

// derError shortens encoding/asn1's structure errors, which print Go
// struct tags, to what a client can act on.
func derError(err error) error {
	var structural asn1.StructuralError
	if errors.As(err, &structural) {
		return errors.New("the body is not a DER TimeStampReq (ASN.1 structure mismatch)")
	}
	return err
}

// check is timestamp-authority's verifyTimestampRequest.
func (a *Authority) check(req *timestamp.Request) error {
	switch req.HashAlgorithm {
	case crypto.SHA1:
		return badRequest(msgWeakHash, errors.New(errWeakHashCause))
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return badRequest(msgFailed, fmt.Errorf("unsupported hash algorithm %v (%s)", req.HashAlgorithm, errUnsupportedHashOK))
	}
	if want, got := req.HashAlgorithm.Size(), len(req.HashedMessage); got != want {
		return badRequest(msgDigestLength, fmt.Errorf("%v digest of %d bytes, expected %d", req.HashAlgorithm, got, want))
	}
	if len(req.TSAPolicyOID) > 0 && !req.TSAPolicyOID.Equal(a.policy) {
		return badRequest(msgUnacceptedPolicy, fmt.Errorf("policy %s asked, this TSA issues %s", req.TSAPolicyOID, a.policy))
	}
	if len(req.Extensions) > 0 {
		return badRequest(msgUnacceptedExtn, fmt.Errorf("%d extension(s), first %s", len(req.Extensions), req.Extensions[0].Id))
	}
	return nil
}

// jsonRequest is timestamp-authority's JSON request form.
type jsonRequest struct {
	ArtifactHash  string   `json:"artifactHash"`
	Certificates  bool     `json:"certificates"`
	HashAlgorithm string   `json:"hashAlgorithm"`
	Nonce         *big.Int `json:"nonce"`
	TSAPolicyOID  string   `json:"tsaPolicyOID"`
}

func parseJSONRequest(body []byte) (*timestamp.Request, error) {
	if len(body) > MaxJSONRequest {
		return nil, badRequest(msgTooLarge, fmt.Errorf("a JSON request of %d bytes; at most %d", len(body), MaxJSONRequest))
	}
	var jr jsonRequest
	if err := json.Unmarshal(body, &jr); err != nil {
		return nil, badRequest(msgFailed, fmt.Errorf("parsing the JSON request: %w", err))
	}
	var hash crypto.Hash
	switch strings.ToLower(jr.HashAlgorithm) {
	case "sha256":
		hash = crypto.SHA256
	case "sha384":
		hash = crypto.SHA384
	case "sha512":
		hash = crypto.SHA512
	case "sha1":
		return nil, badRequest(msgWeakHash, errors.New(errWeakHashCause))
	default:
		return nil, badRequest(msgFailed, fmt.Errorf("unsupported hash algorithm %q (%s)", jr.HashAlgorithm, errUnsupportedHashOK))
	}
	var policy asn1.ObjectIdentifier
	if jr.TSAPolicyOID != "" {
		var err error
		if policy, err = parseOID(jr.TSAPolicyOID); err != nil {
			return nil, badRequest(msgLongOID, err)
		}
	}
	digest, err := base64.StdEncoding.DecodeString(jr.ArtifactHash)
	if err != nil {
		return nil, badRequest(msgFailed, fmt.Errorf("artifactHash is not base64: %w", err))
	}
	return &timestamp.Request{
		HashAlgorithm: hash,
		HashedMessage: digest,
		Certificates:  jr.Certificates,
		Nonce:         jr.Nonce,
		TSAPolicyOID:  policy,
	}, nil
}

// parseOID is timestamp-authority's: dotted decimal, at most 129 components.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	if strings.Count(s, ".") > 128 {
		return nil, errors.New("the policy OID has too many components")
	}
	var oid asn1.ObjectIdentifier
	for _, v := range strings.Split(s, ".") {
		i, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("policy OID component %q: %w", v, err)
		}
		oid = append(oid, i)
	}
	return oid, nil
}

// Respond signs a timestamp of the current time for a request ParseRequest
// accepted and returns the DER TimeStampResp: the request's nonce, this
// TSA's policy, an accuracy of a second, and the signing certificate (not
// its issuers) when the request set certReq, as timestamp-authority does by
// default.
func (a *Authority) Respond(req *timestamp.Request) ([]byte, error) {
	ts := timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              a.now().UTC(), // RFC 5280: GeneralizedTime in UTC
		Nonce:             req.Nonce,
		Policy:            a.policy,
		Accuracy:          Accuracy,
		AddTSACertificate: req.Certificates,
	}
	resp, err := ts.CreateResponseWithOpts(a.chain[0], a.signer, a.hash)
	if err != nil {
		return nil, fmt.Errorf("tsa: signing the timestamp: %w", err)
	}
	return resp, nil
}
