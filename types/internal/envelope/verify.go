package envelope

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/tabularium/tabula/pki"
)

// Limits on the work one envelope may ask for. Rekor v1 has none. A Sigstore
// bundle's envelope holds exactly one signature and one verification key
// (protobuf-specs' sigstore_bundle.proto); multi-party in-toto envelopes hold
// a few. Verification makes at most MaxVerifiers × MaxSignatures checks, and
// at most MaxSignatures × (MaxSignatures+1) / 2 = 36 for an entry it accepts
// whose keys each verify their own signature.
const (
	// MaxSignatures is the most signatures an envelope may carry.
	MaxSignatures = 8
	// MaxVerifiers is the most verification keys (dsse verifiers, intoto
	// publicKeys) an entry may carry.
	MaxVerifiers = 8
	// MaxRSABits is the largest RSA modulus accepted: an RSA check costs the
	// square of the modulus size. It is what sigstore's
	// cryptoutils.ValidatePubKey and the cloud KMSes allow (2048, 3072 and
	// 4096 bits); Rekor's dsse and intoto types take any size.
	MaxRSABits = 4096
)

// CheckCounts refuses an envelope of more than MaxSignatures signatures or
// an entry of more than MaxVerifiers verifiers, naming the limit.
func CheckCounts(signatures, verifiers int) error {
	if signatures > MaxSignatures {
		return fmt.Errorf("DSSE envelope has %d signatures; at most %d are accepted", signatures, MaxSignatures)
	}
	if verifiers > MaxVerifiers {
		return fmt.Errorf("%d verifiers given; at most %d are accepted", verifiers, MaxVerifiers)
	}
	return nil
}

// checkKeySize refuses RSA keys over MaxRSABits.
func checkKeySize(pub crypto.PublicKey) error {
	if k, ok := pub.(*rsa.PublicKey); ok && k.N != nil && k.N.BitLen() > MaxRSABits {
		return fmt.Errorf("RSA key of %d bits; at most %d are accepted", k.N.BitLen(), MaxRSABits)
	}
	return nil
}

// stopped is the error of a verification whose context ended.
func stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("verification stopped: %w", err)
	}
	return nil
}

// Verify is Rekor's verifyEnvelope (dsse 0.0.1 and intoto 0.0.2): each PEM
// key (public key, certificate or chain) in turn must verify at least one
// signature of env, and in the end every signature must have been verified
// by some key.
//
// What Rekor computes, and Verify with it, through go-securesystemslib's
// EnvelopeVerifier with one sigstore verifier per key: each key takes the
// first signature, in envelope order, that it verifies (a key that verifies
// none fails the entry), and that signature is attributed to it (a later key
// taking the same one replaces the earlier). Signatures' keyids play no part:
// Rekor's verifier adapter carries no public key, so the library's keyid
// filter never applies, and an entry whose keyids name no key (or the wrong
// one) verifies as in Rekor. Which signature a key takes depends on every
// signature before it, so no order of trial (keyid first or any other) can
// save a check without changing what is accepted; the cost is bounded
// instead:
//
//   - CheckCounts first (at most MaxVerifiers × MaxSignatures pairs), and RSA
//     keys over MaxRSABits are refused when reached;
//   - the payload and signatures are decoded, and the PAE built and digested
//     (SHA-256), once per envelope, not once per key and pair;
//   - a key whose public key equals an earlier key's takes the same signature
//     without any check, and a signature whose bytes equal an earlier one's
//     is not tried again by the same key;
//   - ctx is checked before each check: a client that went away stops the
//     work (the error wraps ctx.Err()).
//
// With stopWhenAllVerified (dsse 0.0.1) keys left over once every signature
// is verified are not even parsed; intoto 0.0.2 checks them all. Errors are
// Rekor's texts, in Rekor's order.
func Verify(ctx context.Context, env *dsse.Envelope, pemKeys [][]byte, stopWhenAllVerified bool) (*Verified, error) {
	if err := CheckCounts(len(env.Signatures), len(pemKeys)); err != nil {
		return nil, err
	}
	if err := stopped(ctx); err != nil {
		return nil, err
	}
	bySig := make(map[string]*pki.Key)
	parsed := make([]*pki.Key, 0, len(pemKeys))
	pending := make(map[string]bool, len(env.Signatures))
	for _, s := range env.Signatures {
		pending[s.Sig] = true
	}
	var (
		msg    *message
		byPEM  = make(map[string]*pki.Key, len(pemKeys))
		taken  = make(map[string]int, len(pemKeys)) // by PKIX DER: the signature a key takes
		checks int
	)
	for _, pemKey := range pemKeys {
		if stopWhenAllVerified && len(pending) == 0 {
			break
		}
		key, ok := byPEM[string(pemKey)]
		if !ok {
			var err error
			if key, err = pki.ParsePEM(pemKey); err != nil {
				return nil, fmt.Errorf("could not parse public key as x509: %w", err)
			}
			byPEM[string(pemKey)] = key
		}
		parsed = append(parsed, key)
		pub := key.PublicKey()
		if err := checkKeySize(pub); err != nil {
			return nil, err
		}
		v, err := signature.LoadVerifier(pub, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("could not load verifier: %w", err)
		}
		if msg == nil {
			// Where the library first decodes: after the first key loads.
			if msg, err = decodeEnvelope(env); err != nil {
				return nil, fmt.Errorf("could not verify envelope: %w", err)
			}
		}
		// A key is known by its PKIX DER (every key LoadVerifier takes has
		// one; without it the key is simply not remembered).
		id, idErr := x509.MarshalPKIXPublicKey(pub)
		i, ok := taken[string(id)]
		if !ok || idErr != nil {
			var n int
			i, n, err = msg.first(ctx, pub, v)
			checks += n
			if err != nil {
				return nil, err
			}
			if idErr == nil {
				taken[string(id)] = i
			}
		}
		s := env.Signatures[i].Sig
		delete(pending, s)
		bySig[s] = key
	}
	if len(pending) > 0 {
		return nil, errors.New(ErrUnverifiedSignature)
	}
	return &Verified{BySig: bySig, Keys: parsed, Checks: checks}, nil
}

// Verified is what Verify found, so that callers need not parse the keys again.
type Verified struct {
	// BySig is the key that verified each signature, by the signature's
	// base64 text.
	BySig map[string]*pki.Key
	// Keys are the keys parsed, in the order given; with stopWhenAllVerified
	// the keys never reached are missing from the end. Keys given as the same
	// PEM text are the same *pki.Key.
	Keys []*pki.Key
	// Checks is how many signature checks ran.
	Checks int
}

// message is an envelope decoded once: its PAE, the PAE's SHA-256 and each
// signature's bytes.
type message struct {
	pae    []byte
	digest []byte
	sigs   [][]byte
}

// decodeEnvelope decodes what go-securesystemslib's EnvelopeVerifier decodes,
// with its errors: the payload, then every signature (standard base64, else
// URL-safe, both padded).
func decodeEnvelope(env *dsse.Envelope) (*message, error) {
	if len(env.Signatures) == 0 {
		return nil, dsse.ErrNoSignature
	}
	body, err := env.DecodeB64Payload()
	if err != nil {
		return nil, err
	}
	m := &message{pae: dsse.PAE(env.PayloadType, body), sigs: make([][]byte, len(env.Signatures))}
	sum := sha256.Sum256(m.pae)
	m.digest = sum[:]
	for i, s := range env.Signatures {
		// The library's decoder, with its message, on a one-signature envelope.
		one := dsse.Envelope{Payload: s.Sig}
		if m.sigs[i], err = one.DecodeB64Payload(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// first returns the index of the first signature v verifies and how many
// checks it ran; a key that verifies none fails the entry with the library's
// message. Pure Ed25519 signs the PAE itself; ECDSA and RSA its digest, which
// sigstore's verifiers take as given (WithDigest), as they would compute it.
func (m *message) first(ctx context.Context, pub crypto.PublicKey, v signature.Verifier) (int, int, error) {
	_, pure := pub.(ed25519.PublicKey)
	checks := 0
	for i, sig := range m.sigs {
		if tried(m.sigs[:i], sig) {
			continue
		}
		if err := stopped(ctx); err != nil {
			return 0, checks, err
		}
		checks++
		var err error
		if pure {
			err = v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(m.pae))
		} else {
			err = v.VerifySignature(bytes.NewReader(sig), nil, options.WithDigest(m.digest))
		}
		if err == nil {
			return i, checks, nil
		}
	}
	return 0, checks, errors.New("could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1")
}

// tried reports whether sig equals one of earlier, which the same key has
// failed.
func tried(earlier [][]byte, sig []byte) bool {
	for _, e := range earlier {
		if bytes.Equal(e, sig) {
			return true
		}
	}
	return false
}

// VerifyWrapped is how Rekor's intoto 0.0.1 verifies its envelope: the
// envelope JSON text goes through sigstore's DSSE-wrapped verifier for key,
// which needs one signature to verify (others may not), and skips signatures
// whose keyid is set and differs from the key's SSH SHA256 fingerprint.
// Errors are the libraries' own texts. Envelopes over MaxSignatures and RSA
// keys over MaxRSABits are refused first, and a done ctx stops it before it
// starts (the library then makes at most MaxSignatures checks).
func VerifyWrapped(ctx context.Context, key *pki.Key, envelopeJSON string) error {
	var env dsse.Envelope
	if json.Unmarshal([]byte(envelopeJSON), &env) == nil {
		// Unparsable JSON is left to the library and its message.
		if err := CheckCounts(len(env.Signatures), 1); err != nil {
			return err
		}
	}
	if err := checkKeySize(key.PublicKey()); err != nil {
		return err
	}
	if err := stopped(ctx); err != nil {
		return err
	}
	v, err := signature.LoadVerifier(key.PublicKey(), crypto.SHA256)
	if err != nil {
		return err
	}
	return sigdsse.WrapVerifier(v).VerifySignature(strings.NewReader(envelopeJSON), nil)
}
