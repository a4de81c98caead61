// Package envelopetest makes keys, certificates and signed DSSE envelopes for
// the dsse and intoto tests. Keys are throwaway; nothing here is fit for real
// signing.
package envelopetest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/tabularium/tabula/types"
)

// Key is a signing key and the PEM an entry carries for it.
type Key struct {
	Signer crypto.Signer
	// PEM is a PUBLIC KEY block, or the leaf CERTIFICATE block.
	PEM []byte
	// ChainPEM is the leaf followed by its CA, for certificate keys.
	ChainPEM []byte
}

func publicPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ECDSA returns a fresh P-256 key.
func ECDSA(t testing.TB) Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Signer: k, PEM: publicPEM(t, k.Public())}
}

// ECDSAKeys returns n fresh ECDSA P-256 keys and their PEMs.
func ECDSAKeys(t testing.TB, n int) ([]Key, [][]byte) {
	t.Helper()
	keys := make([]Key, n)
	pems := make([][]byte, n)
	for i := range keys {
		keys[i] = ECDSA(t)
		pems[i] = keys[i].PEM
	}
	return keys, pems
}

// RSA returns a fresh RSA key of the given size.
func RSA(t testing.TB, bits int) Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Signer: k, PEM: publicPEM(t, k.Public())}
}

// Ed25519 returns the key for a fixed seed byte (signatures are deterministic).
func Ed25519(t testing.TB, seed byte) Key {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	k := ed25519.NewKeyFromSeed(s)
	return Key{Signer: k, PEM: publicPEM(t, k.Public())}
}

// Cert returns a fresh P-256 key with a Fulcio-like leaf certificate (the
// given email as its only SAN) issued by a throwaway P-256 CA.
func Cert(t testing.TB, email string) Key {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "envelopetest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(2),
		NotBefore:      now.Add(-time.Minute),
		NotAfter:       now.Add(10 * time.Minute),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{email},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, k.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return Key{Signer: k, PEM: leafPEM, ChainPEM: append(append([]byte{}, leafPEM...), caPEM...)}
}

// Sign returns the base64 DSSE signature of k over PAE(payloadType, payload):
// ECDSA and RSA PKCS #1 v1.5 over its SHA-256, Ed25519 over the PAE itself.
func Sign(t testing.TB, k Key, payloadType string, payload []byte) string {
	t.Helper()
	pae := dsse.PAE(payloadType, payload)
	var (
		sig []byte
		err error
	)
	switch s := k.Signer.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(s, pae)
	default:
		sum := sha256.Sum256(pae)
		sig, err = k.Signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// Envelope returns a DSSE envelope over payload signed by each key in turn.
func Envelope(t testing.TB, payloadType string, payload []byte, keys ...Key) *dsse.Envelope {
	t.Helper()
	env := &dsse.Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
	}
	for _, k := range keys {
		env.Signatures = append(env.Signatures, dsse.Signature{Sig: Sign(t, k, payloadType, payload)})
	}
	return env
}

// JSON marshals v or fails the test.
func JSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Statement is a small in-toto v1 statement about one subject.
func Statement(t testing.TB, name, sha256Hex string) []byte {
	t.Helper()
	return JSON(t, map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": sha256Hex}}},
		"predicateType": "https://tabula.invalid/test/v1",
		"predicate":     map[string]any{"note": "test"},
	})
}

// Golden reads testdata/golden/<name> of the calling package, trimmed.
func Golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// EditSpec returns the proposed entry or body b with f applied to its spec.
func EditSpec(t testing.TB, b []byte, f func(spec map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m["spec"].(map[string]any))
	return JSON(t, m)
}

// GoldenProposals are the calling package's testdata/golden/*.request.json,
// the fuzz targets' seeds.
func GoldenProposals(t testing.TB) []types.ProposedEntry {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.request.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden requests: %v", err)
	}
	out := make([]types.ProposedEntry, len(files))
	for i, f := range files {
		if err := json.Unmarshal(Golden(t, filepath.Base(f)), &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// CheckFuzzed is the fuzz targets' property: Canonicalize of any spec does
// not panic, fails only with *types.InvalidError, and an accepted spec gives
// valid JSON, the same body twice.
func CheckFuzzed(t *testing.T, typ types.Type, apiVersion string, spec []byte) {
	t.Helper()
	c, err := typ.Canonicalize(context.Background(), apiVersion, spec)
	if err != nil {
		var ie *types.InvalidError
		if !errors.As(err, &ie) {
			t.Fatalf("error %v (%T) is not a *types.InvalidError", err, err)
		}
		return
	}
	if !json.Valid(c.Body) {
		t.Fatalf("invalid JSON body %q", c.Body)
	}
	c2, err := typ.Canonicalize(context.Background(), apiVersion, spec)
	if err != nil || string(c2.Body) != string(c.Body) {
		t.Fatalf("second run: %v, body %q vs %q", err, c2.Body, c.Body)
	}
}

// Strings returns each key as "<kind>:<value>" (SearchKey.String), for
// comparing with expected keys written out.
func Strings(keys []types.SearchKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	return out
}

// RekorKeys returns the texts Rekor's dsse and intoto types index: the
// values, without the types.KindKey copy of the key fingerprint (Rekor
// writes only the "sha256:<hex>" digest form). The golden files record
// those texts.
func RekorKeys(keys []types.SearchKey) []string {
	var out []string
	for _, k := range keys {
		// The key fingerprint is also a digest key "sha256:<hex>", Rekor's
		// text; the types.KindKey copy is Tabula's own, not Rekor's.
		if k.Kind != types.KindKey {
			out = append(out, k.Value)
		}
	}
	return out
}

// WantInvalid checks err: nil when want is empty, else a *types.InvalidError
// (the API's 400) whose message is want.
func WantInvalid(t testing.TB, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	var ie *types.InvalidError
	if !errors.As(err, &ie) || err.Error() != want {
		t.Fatalf("error %v (%T), want *types.InvalidError %q", err, err, want)
	}
}
