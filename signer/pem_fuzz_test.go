package signer_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"testing"

	"github.com/tabularium/tabula/signer"
)

// FuzzParsePublicKeyPEM: no input makes ParsePublicKeyPEM panic, and every
// key it accepts re-encodes to PEM that parses to the same key.
func FuzzParsePublicKeyPEM(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParsePublicKeyPEM holds real public-good keys
	// (the Rekor log key, a managed key, npm's), an RSA and a DSA key made
	// with openssl, and broken variants; plus these.
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := signer.ParsePublicKeyPEM(b)
		if err != nil {
			return
		}
		out, err := signer.PublicKeyPEM(pub)
		if err != nil {
			// Parsed but not re-encodable: only key types x509 cannot marshal.
			return
		}
		again, err := signer.ParsePublicKeyPEM(out)
		if err != nil {
			t.Fatalf("re-encoded key does not parse: %v\n%s", err, out)
		}
		type equaler interface{ Equal(x crypto.PublicKey) bool }
		switch k := pub.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
			if !k.(equaler).Equal(again) {
				t.Fatalf("re-encoded key differs: %T", k)
			}
		}
		out2, err := signer.PublicKeyPEM(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("PEM not a fixed point: %v", err)
		}
	})
}
