package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/base64"
	"os"
	"testing"

	"github.com/tabularium/tabula/pki"
)

// FuzzVerifyDigest: no signature or digest bytes make VerifyDigest panic,
// under an ECDSA key (sigstore-conformance's managed key) and an Ed25519 key;
// and nothing but the real signature verifies.
func FuzzVerifyDigest(f *testing.F) {
	pemText, err := os.ReadFile("testdata/conformance-managed-key.pem")
	if err != nil {
		f.Fatal(err)
	}
	ecKey, err := pki.ParsePEM(pemText)
	if err != nil {
		f.Fatal(err)
	}
	edPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	edPEM := []byte("-----BEGIN PUBLIC KEY-----\n" +
		base64.StdEncoding.EncodeToString(append([]byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}, edPriv.Public().(ed25519.PublicKey)...)) +
		"\n-----END PUBLIC KEY-----\n")
	edKey, err := pki.ParsePEM(edPEM)
	if err != nil {
		f.Fatal(err)
	}

	// The signature of bundle-v0.3-hashedrekord-publickey.json (public good)
	// over SHA-256 of artifact-a.txt, and an Ed25519ph signature.
	ecSig, _ := base64.StdEncoding.DecodeString("MEUCIQCACfhpIX3+zVXJjwEeIS0yFTK2jRfBjduXAaLHJSARHAIgSUdTM+S5xucODRFtrGHN2uClS0MRPhqZm76g0ZHEQ5c=")
	ecDigest, _ := base64.StdEncoding.DecodeString("oM/HEnHW4njlfNMy/5V8P3BD/do1TEy7GQow1W76Ab8=")
	if err := ecKey.VerifyDigest(ecSig, ecDigest, crypto.SHA256); err != nil {
		f.Fatalf("public-good signature does not verify: %v", err)
	}
	edDigest := sha512.Sum512([]byte("artifact"))
	edSig, err := edPriv.Sign(nil, edDigest[:], &ed25519.Options{Hash: crypto.SHA512})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ecSig, ecDigest, uint8(0))
	f.Add(edSig, edDigest[:], uint8(1))
	f.Add(ecSig[:8], ecDigest[:31], uint8(2))
	p1363 := make([]byte, 64)
	f.Add(p1363, ecDigest, uint8(0))

	hashes := []crypto.Hash{crypto.SHA256, crypto.SHA512, crypto.SHA384, crypto.SHA1, 0}
	f.Fuzz(func(t *testing.T, sig, digest []byte, h uint8) {
		hash := hashes[int(h)%len(hashes)]
		// ECDSA signatures are malleable and come in two encodings, but
		// none verifies over another digest (ECDSA reads only the
		// digest's first 32 bytes for P-256).
		if ecKey.VerifyDigest(sig, digest, hash) == nil && !bytes.HasPrefix(digest, ecDigest) {
			t.Fatalf("ECDSA signature %x verified over %x", sig, digest)
		}
		// Ed25519ph signatures are unique.
		if edKey.VerifyDigest(sig, digest, hash) == nil && (!bytes.Equal(sig, edSig) || !bytes.Equal(digest, edDigest[:])) {
			t.Fatalf("Ed25519ph signature %x verified over %x", sig, digest)
		}
	})
}
