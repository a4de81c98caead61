package envelope_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types/internal/envelope"
	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
)

// verifyReference is Verify as it was before its cost was bounded (commit
// 77f94ea), which is Rekor v1's verifyEnvelope: one go-securesystemslib
// EnvelopeVerifier per key, each run over the whole envelope. The
// differential test holds Verify to it.
func verifyReference(env *dsse.Envelope, pemKeys [][]byte, stopWhenAllVerified bool) (map[string]*pki.Key, []*pki.Key, error) {
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
			return nil, nil, fmt.Errorf("could not parse public key as x509: %w", err)
		}
		parsed = append(parsed, key)
		v, err := signature.LoadVerifier(key.PublicKey(), crypto.SHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("could not load verifier: %w", err)
		}
		ev, err := dsse.NewEnvelopeVerifier(&sigdsse.VerifierAdapter{SignatureVerifier: v})
		if err != nil {
			return nil, nil, fmt.Errorf("could not use public key as a dsse verifier: %w", err)
		}
		accepted, err := ev.Verify(context.Background(), env)
		if err != nil {
			return nil, nil, fmt.Errorf("could not verify envelope: %w", err)
		}
		for _, a := range accepted {
			delete(pending, a.Sig.Sig)
			bySig[a.Sig.Sig] = key
		}
	}
	if len(pending) > 0 {
		return nil, nil, errors.New(envelope.ErrUnverifiedSignature)
	}
	return bySig, parsed, nil
}

// canon is a key's canonical PEM, or the test fails.
func canon(t *testing.T, k *pki.Key) string {
	t.Helper()
	c, err := k.CanonicalPEM()
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

// otherKeyID is a keyid in the form go-securesystemslib would compare a
// signature's keyid with (an SSH SHA256 fingerprint), naming no key here.
func otherKeyID() string { return "SHA256:" + strings.Repeat("A", 43) }

// p1363 re-encodes an ASN.1 ECDSA signature (base64) as IEEE P1363 r||s.
func p1363(t *testing.T, b64sig string) string {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(b64sig)
	if err != nil {
		t.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return base64.StdEncoding.EncodeToString(out)
}

// urlSafe re-encodes a base64 signature with the URL-safe alphabet.
func urlSafe(t *testing.T, b64sig string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64sig)
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(b)
}

func p224PEM(t *testing.T) (envelopetest.Key, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return envelopetest.Key{Signer: k, PEM: p}, p
}

// garbageSig is a well-formed ASN.1 ECDSA signature that verifies nothing.
func garbageSig(t *testing.T) string {
	t.Helper()
	k := envelopetest.ECDSA(t)
	sum := sha256.Sum256([]byte("something else"))
	sig, err := k.Signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// TestVerifyDifferential: Verify accepts and refuses exactly what Rekor's
// loop (verifyReference) does, with the same message, the same keys and the
// same key for every signature, with and without stopWhenAllVerified.
func TestVerifyDifferential(t *testing.T) {
	const pt = "text/plain"
	payload := []byte("payload")
	a, b, c := envelopetest.ECDSA(t), envelopetest.ECDSA(t), envelopetest.ECDSA(t)
	r := envelopetest.RSA(t, 2048)
	ed := envelopetest.Ed25519(t, 3)
	cert := envelopetest.Cert(t, "x@example.com")
	p224, p224Key := p224PEM(t)
	sign := func(k envelopetest.Key) dsse.Signature {
		return dsse.Signature{Sig: envelopetest.Sign(t, k, pt, payload)}
	}
	env := func(sigs ...dsse.Signature) *dsse.Envelope {
		return &dsse.Envelope{PayloadType: pt, Payload: base64.StdEncoding.EncodeToString(payload), Signatures: sigs}
	}
	withKeyID := func(s dsse.Signature, id string) dsse.Signature { s.KeyID = id; return s }
	sa, sb, sc := sign(a), sign(b), sign(c)
	sa2 := sign(a) // ECDSA: a second, different signature by a
	bare := func(k envelopetest.Key) []byte {
		der, err := x509.MarshalPKIXPublicKey(k.Signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	keys := func(ks ...[]byte) [][]byte { return ks }
	tests := []struct {
		name string
		env  *dsse.Envelope
		keys [][]byte
	}{
		{"one ECDSA", env(sa), keys(a.PEM)},
		{"one RSA", env(sign(r)), keys(r.PEM)},
		{"one Ed25519", env(sign(ed)), keys(ed.PEM)},
		{"certificate", env(sign(cert)), keys(cert.PEM)},
		{"chain", env(sign(cert)), keys(cert.ChainPEM)},
		{"P-224", env(sign(p224)), keys(p224Key)},
		{"two in order", env(sa, sb), keys(a.PEM, b.PEM)},
		{"two reversed", env(sa, sb), keys(b.PEM, a.PEM)},
		{"three mixed", env(sc, sign(ed), sa), keys(a.PEM, ed.PEM, c.PEM)},
		{"mixed types", env(sign(r), sign(ed), sa), keys(ed.PEM, a.PEM, r.PEM)},
		{"one bad signature", env(sa, dsse.Signature{Sig: garbageSig(t)}), keys(a.PEM)},
		{"bad signature first", env(dsse.Signature{Sig: garbageSig(t)}, sa), keys(a.PEM)},
		{"wrong key", env(sa), keys(b.PEM)},
		{"wrong second key", env(sa), keys(a.PEM, b.PEM)},
		{"missing key", env(sa, sb), keys(a.PEM)},
		{"no keys", env(sa), keys()},
		{"duplicate signatures", env(sa, sa), keys(a.PEM)},
		{"duplicate signatures two keys", env(sa, sb, sa), keys(a.PEM, b.PEM)},
		{"duplicate verifiers", env(sa), keys(a.PEM, a.PEM)},
		{"duplicate verifiers two sigs", env(sa, sb), keys(a.PEM, a.PEM, b.PEM)},
		{"same key bare and certificate", env(sign(cert)), keys(cert.PEM, bare(cert))},
		{"same key certificate then bare, two sigs", env(sign(cert), sb), keys(cert.PEM, bare(cert), b.PEM)},
		{"one key signed twice", env(sa, sa2), keys(a.PEM, a.PEM)},
		{"one key signed twice, one verifier", env(sa, sa2), keys(a.PEM)},
		{"mismatched keyid", env(withKeyID(sa, otherKeyID())), keys(a.PEM)},
		{"keyids swapped", env(withKeyID(sa, "b"), withKeyID(sb, "a")), keys(a.PEM, b.PEM)},
		{"same signature, different keyids", env(withKeyID(sa, "x"), withKeyID(sa, "y")), keys(a.PEM)},
		{"URL-safe base64", env(dsse.Signature{Sig: urlSafe(t, sa.Sig)}), keys(a.PEM)},
		{"same bytes, two base64 alphabets", env(sa, dsse.Signature{Sig: urlSafe(t, sa.Sig)}), keys(a.PEM, a.PEM)},
		{"IEEE P1363", env(dsse.Signature{Sig: p1363(t, sa.Sig)}), keys(a.PEM)},
		{"bad base64 signature", env(sa, dsse.Signature{Sig: "!!!"}), keys(a.PEM)},
		{"bad base64 signature, verified first", env(sa, dsse.Signature{Sig: "!!!"}), keys(a.PEM, b.PEM)},
		{"empty signature", env(sa, dsse.Signature{Sig: ""}), keys(a.PEM)},
		{"bad base64 payload", &dsse.Envelope{PayloadType: pt, Payload: "%%", Signatures: []dsse.Signature{sa}}, keys(a.PEM)},
		{"other payload type", &dsse.Envelope{PayloadType: "x", Payload: base64.StdEncoding.EncodeToString(payload), Signatures: []dsse.Signature{sa}}, keys(a.PEM)},
		{"junk key", env(sa), keys([]byte("junk"))},
		{"junk key after", env(sa), keys(a.PEM, []byte("junk"))},
		{"junk key before", env(sa), keys([]byte("junk"), a.PEM)},
		{"private key block", env(sa), keys(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}))},
		{"Ed25519 key, ECDSA signature", env(sa), keys(ed.PEM)},
		{"RSA key, Ed25519 signature", env(sign(ed)), keys(r.PEM)},
		{"no signatures", env(), keys(a.PEM)},
	}
	for _, tc := range tests {
		for _, stop := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/stop=%v", tc.name, stop), func(t *testing.T) {
				wantBySig, wantKeys, wantErr := verifyReference(tc.env, tc.keys, stop)
				got, err := envelope.Verify(context.Background(), tc.env, tc.keys, stop)
				if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
					t.Fatalf("error %v, reference %v", err, wantErr)
				}
				if err != nil {
					return
				}
				if len(got.Keys) != len(wantKeys) {
					t.Fatalf("%d keys, reference %d", len(got.Keys), len(wantKeys))
				}
				for i := range wantKeys {
					if canon(t, got.Keys[i]) != canon(t, wantKeys[i]) {
						t.Errorf("key %d differs", i)
					}
				}
				if len(got.BySig) != len(wantBySig) {
					t.Fatalf("%d signatures attributed, reference %d", len(got.BySig), len(wantBySig))
				}
				for s, k := range wantBySig {
					if g, ok := got.BySig[s]; !ok || canon(t, g) != canon(t, k) {
						t.Errorf("signature %.12s… attributed to another key", s)
					}
				}
			})
		}
	}
}

// TestVerifyLimits: at the limits an envelope verifies; one more signature
// or verifier is refused, naming the limit, before any key is parsed.
func TestVerifyLimits(t *testing.T) {
	const pt = "text/plain"
	payload := []byte("p")
	ks := make([]envelopetest.Key, 25)
	for i := range ks {
		ks[i] = envelopetest.ECDSA(t)
	}
	pems := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = ks[i%len(ks)].PEM
		}
		return out
	}
	tests := []struct {
		name    string
		sigs    int
		keys    [][]byte
		wantErr string
	}{
		{"at both limits", envelope.MaxSignatures, pems(envelope.MaxVerifiers), ""},
		{"one signature over", envelope.MaxSignatures + 1, pems(envelope.MaxSignatures + 1),
			fmt.Sprintf("DSSE envelope has %d signatures; at most %d are accepted", envelope.MaxSignatures+1, envelope.MaxSignatures)},
		{"one verifier over", 1, append(pems(envelope.MaxVerifiers), []byte("never parsed")),
			fmt.Sprintf("%d verifiers given; at most %d are accepted", envelope.MaxVerifiers+1, envelope.MaxVerifiers)},
		{"many signatures", 25, pems(25),
			fmt.Sprintf("DSSE envelope has 25 signatures; at most %d are accepted", envelope.MaxSignatures)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := envelopetest.Envelope(t, pt, payload, ks[:tc.sigs]...)
			_, err := envelope.Verify(context.Background(), env, tc.keys, false)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestVerifyRSASize: RSA keys up to MaxRSABits verify; a larger one is
// refused with the limit.
func TestVerifyRSASize(t *testing.T) {
	const pt = "text/plain"
	payload := []byte("p")
	tests := []struct {
		bits    int
		wantErr string
	}{
		{envelope.MaxRSABits, ""},
		{envelope.MaxRSABits + 512, fmt.Sprintf("RSA key of %d bits; at most %d are accepted", envelope.MaxRSABits+512, envelope.MaxRSABits)},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.bits), func(t *testing.T) {
			k := envelopetest.RSAMultiPrime(t, tc.bits, 65537)
			env := envelopetest.Envelope(t, pt, payload, k)
			_, err := envelope.Verify(context.Background(), env, [][]byte{k.PEM}, true)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			wrapped, err := pki.ParsePEM(k.PEM)
			if err != nil {
				t.Fatal(err)
			}
			envJSON := envelopetest.JSON(t, env)
			err = envelope.VerifyWrapped(context.Background(), wrapped, string(envJSON))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("wrapped: %v", err)
				}
			} else if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("wrapped: error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestVerifyChecks counts signature checks: each key tries the signatures
// in envelope order up to the first it verifies, a key equal to an earlier
// one checks nothing, and a signature equal to one the key failed is not
// tried again. Keyids neither choose nor exclude a key (as in Rekor).
func TestVerifyChecks(t *testing.T) {
	const pt = "text/plain"
	payload := []byte("p")
	a, b, c := envelopetest.ECDSA(t), envelopetest.ECDSA(t), envelopetest.ECDSA(t)
	sig := func(k envelopetest.Key, keyid string) dsse.Signature {
		return dsse.Signature{KeyID: keyid, Sig: envelopetest.Sign(t, k, pt, payload)}
	}
	sa, sb, sc := sig(a, ""), sig(b, ""), sig(c, "")
	env := func(s ...dsse.Signature) *dsse.Envelope {
		return &dsse.Envelope{PayloadType: pt, Payload: base64.StdEncoding.EncodeToString(payload), Signatures: s}
	}
	tests := []struct {
		name   string
		env    *dsse.Envelope
		keys   [][]byte
		stop   bool
		checks int
	}{
		{"in order", env(sa, sb, sc), [][]byte{a.PEM, b.PEM, c.PEM}, false, 1 + 2 + 3},
		{"reversed", env(sc, sb, sa), [][]byte{a.PEM, b.PEM, c.PEM}, false, 3 + 2 + 1},
		{"duplicate verifiers check once", env(sa), [][]byte{a.PEM, a.PEM, a.PEM}, false, 1},
		{"duplicate signatures tried once", env(sb, sb, sa), [][]byte{a.PEM, b.PEM}, false, 2 + 1},
		{"stop when all verified", env(sa), [][]byte{a.PEM, b.PEM}, true, 1},
		{"mismatched keyid still verifies", env(sig(a, otherKeyID())), [][]byte{a.PEM}, false, 1},
		{"keyid does not reorder", env(sig(b, "b"), sig(a, "a")), [][]byte{a.PEM, b.PEM}, false, 2 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := envelope.Verify(context.Background(), tc.env, tc.keys, tc.stop)
			if err != nil {
				t.Fatal(err)
			}
			if v.Checks != tc.checks {
				t.Fatalf("%d checks, want %d", v.Checks, tc.checks)
			}
		})
	}
}

// TestVerifyCancelled: a done context stops verification with an error
// that wraps the context's, before any check runs.
func TestVerifyCancelled(t *testing.T) {
	const pt = "text/plain"
	payload := []byte("p")
	a := envelopetest.ECDSA(t)
	env := envelopetest.Envelope(t, pt, payload, a)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline passed", expired, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := envelope.Verify(tc.ctx, env, [][]byte{a.PEM}, true); !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			key, err := pki.ParsePEM(a.PEM)
			if err != nil {
				t.Fatal(err)
			}
			if err := envelope.VerifyWrapped(tc.ctx, key, string(envelopetest.JSON(t, env))); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyWrapped: %v, want %v", err, tc.want)
			}
		})
	}
}
