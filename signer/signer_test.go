package signer

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	for _, alg := range []string{ECDSAP256, Ed25519} {
		t.Run(alg, func(t *testing.T) {
			priv, err := Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(priv)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.SignMessage([]byte("message"))
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(s.Public(), []byte("message"), sig); err != nil {
				t.Fatal(err)
			}
			if Verify(s.Public(), []byte("messagE"), sig) == nil {
				t.Fatal("signature verified over another message")
			}
			der, _ := x509.MarshalPKIXPublicKey(s.Public())
			if s.LogID() != sha256.Sum256(der) || string(s.PublicKeyDER()) != string(der) {
				t.Fatal("log ID / DER mismatch")
			}
		})
	}
	if _, err := Generate("rsa"); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "k.pem")
	s, created, err := LoadOrCreate(priv, filepath.Join(dir, "k.pub.pem"))
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	s2, created, err := LoadOrCreate(priv, filepath.Join(dir, "k.pub.pem"))
	if err != nil || created || s2.LogID() != s.LogID() {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	if err := WriteFiles(s.priv, priv, ""); err == nil {
		t.Fatal("WriteFiles overwrote a private key")
	}
	if err := os.Chmod(priv, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(priv); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key: %v", err)
	}

	// A SEC 1 "EC PRIVATE KEY" (what openssl ecparam writes) loads too.
	ec := s.priv.(*ecdsa.PrivateKey)
	der, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	sec1 := filepath.Join(dir, "sec1.pem")
	if err := os.WriteFile(sec1, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	s3, err := LoadFile(sec1)
	if err != nil || s3.LogID() != s.LogID() {
		t.Fatalf("SEC 1 key: %v", err)
	}
	for _, bad := range []string{"", "not pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		if _, err := ParsePrivateKeyPEM([]byte(bad)); err == nil {
			t.Fatalf("ParsePrivateKeyPEM(%q) succeeded", bad)
		}
	}
}

// TestSignConcurrent signs from several goroutines with one Local, as the
// log does for a batch's SETs (run with -race): every signature verifies
// over its own message.
func TestSignConcurrent(t *testing.T) {
	for _, alg := range []string{ECDSAP256, Ed25519} {
		t.Run(alg, func(t *testing.T) {
			priv, err := Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(priv)
			if err != nil {
				t.Fatal(err)
			}
			const goroutines, each = 8, 16
			errs := make(chan error, goroutines)
			for g := range goroutines {
				go func() {
					for i := range each {
						msg := fmt.Appendf(nil, "message %d/%d", g, i)
						sig, err := s.SignMessage(msg)
						if err == nil {
							err = Verify(s.Public(), msg, sig)
						}
						if err != nil {
							errs <- fmt.Errorf("goroutine %d message %d: %w", g, i, err)
							return
						}
					}
					errs <- nil
				}()
			}
			for range goroutines {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}
