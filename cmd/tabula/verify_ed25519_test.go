package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/signer"
)

// TestVerifyEd25519Log uploads to a log keyed with Ed25519 and verifies the
// bundles: sigstore-go v1.3.0 takes SETs only from ECDSA log keys, so the
// SET is Tabula's to verify; a tampered SET must still fail.
func TestVerifyEd25519Log(t *testing.T) {
	c := defaultConfig(t)
	c.Key = filepath.Join(t.TempDir(), "log-key.pem")
	logKey := filepath.Join(t.TempDir(), "log-key.pub.pem")
	priv, err := signer.Generate(signer.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.WriteFiles(priv, c.Key, logKey); err != nil {
		t.Fatal(err)
	}
	url, _ := startServe(t, c)
	dir := t.TempDir()
	srv := []string{"--server", url, "--log-key", logKey}

	k, pub := keyPair(t, dir)
	art := []byte("signed under an Ed25519 log\n")
	artifact := writeFile(t, dir, "artifact.txt", art)
	sig := writeFile(t, dir, "artifact.sig", signFile(t, k, art))
	bundle := filepath.Join(dir, "artifact.bundle.json")
	mustTabula(t, append([]string{"upload", "--artifact", artifact, "--signature", sig, "--key", pub, "--bundle", bundle}, srv...)...)
	env := writeFile(t, dir, "env.json", dsseEnvelope(t, k, "application/vnd.in-toto+json",
		[]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"artifact.txt","digest":{"sha256":"`+sha256Hex(art)+`"}}],"predicateType":"https://example.com/p","predicate":{}}`)))
	dsseBundle := filepath.Join(dir, "dsse.bundle.json")
	mustTabula(t, append([]string{"upload", "--envelope", env, "--key", pub, "--bundle", dsseBundle}, srv...)...)

	for _, b := range []string{bundle, dsseBundle} {
		out := mustTabula(t, "verify", "--bundle", b, "--log-key", logKey, "--key", pub, "--artifact", artifact, "--online", "--server", url)
		for _, want := range []string{"✓ signed entry timestamp", "✓ checkpoint signature", "✓ log entry matches the bundle", "✓ artifact signature", "✓ entry is in the live log", "Verified OK"} {
			if !strings.Contains(out, want) {
				t.Fatalf("verify %s: no %q\n%s", filepath.Base(b), want, out)
			}
		}
	}

	// Tampered SET (one bit), and a wrong artifact: both fail.
	raw := readJSON(t, bundle)
	tle := raw["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
	promise := tle["inclusionPromise"].(map[string]any)
	set, err := base64.StdEncoding.DecodeString(promise["signedEntryTimestamp"].(string))
	if err != nil {
		t.Fatal(err)
	}
	set[len(set)/2] ^= 1
	promise["signedEntryTimestamp"] = base64.StdEncoding.EncodeToString(set)
	tampered := writeJSON(t, dir, "tampered.bundle.json", raw)
	for _, bad := range []struct {
		bundle, artifact, check string
	}{
		{tampered, artifact, "✗ signed entry timestamp"},
		{bundle, writeFile(t, dir, "other.txt", []byte("other")), "✗ artifact signature"},
	} {
		code, out, _ := tabula(t, "verify", "--bundle", bad.bundle, "--log-key", logKey, "--key", pub, "--artifact", bad.artifact)
		if code != 1 || !strings.Contains(out, bad.check) || !strings.Contains(out, "FAILED") {
			t.Fatalf("verify %s: exit %d, want %q\n%s", filepath.Base(bad.bundle), code, bad.check, out)
		}
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	var m map[string]any
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, b.Bytes())
}

// TestVerifyEd25519LogCertificate verifies a certificate-signed bundle from
// an Ed25519-keyed log against a trusted root (`tabula trustedroot`): the
// certificate chain is checked at the integrated time the SET signs.
func TestVerifyEd25519LogCertificate(t *testing.T) {
	c := defaultConfig(t)
	c.Key = filepath.Join(t.TempDir(), "log-key.pem")
	logKey := filepath.Join(t.TempDir(), "log-key.pub.pem")
	priv, err := signer.Generate(signer.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.WriteFiles(priv, c.Key, logKey); err != nil {
		t.Fatal(err)
	}
	url, _ := startServe(t, c)
	dir := t.TempDir()

	// A throwaway CA and a Fulcio-style leaf for alice.
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := asn1.MarshalWithParams("https://issuer.example", "utf8")
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, EmailAddresses: []string{"alice@example.com"},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: issuer}}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }
	caFile := writeFile(t, dir, "ca.pem", pemOf(caDER))
	leafFile := writeFile(t, dir, "alice.pem", pemOf(leafDER))

	art := []byte("certificate-signed under an Ed25519 log\n")
	artifact := writeFile(t, dir, "artifact.txt", art)
	sig := writeFile(t, dir, "artifact.sig", signFile(t, leafKey, art))
	bundle := filepath.Join(dir, "artifact.bundle.json")
	mustTabula(t, "upload", "--artifact", artifact, "--signature", sig, "--certificate", leafFile, "--bundle", bundle, "--server", url, "--log-key", logKey)
	root := filepath.Join(dir, "root.json")
	rootJSON := mustTabula(t, "trusted-root", "--server", url, "--fulcio-cert", caFile)
	writeFile(t, dir, "root.json", []byte(rootJSON))

	out := mustTabula(t, "verify", "--bundle", bundle, "--trusted-root", root, "--artifact", artifact,
		"--certificate-identity", "alice@example.com", "--certificate-oidc-issuer", "https://issuer.example")
	for _, want := range []string{"✓ signed entry timestamp", "✓ certificate chain to the trusted CA", "✓ certificate identity policy", "✓ artifact signature", "Verified OK"} {
		if !strings.Contains(out, want) {
			t.Fatalf("verify: no %q\n%s", want, out)
		}
	}
	for _, bad := range []struct {
		args  []string
		check string
	}{
		{[]string{"--certificate-identity", "mallory@example.com", "--certificate-oidc-issuer", "https://issuer.example"}, "✗ certificate identity policy"},
		// Without the CA, the chain fails.
		{[]string{"--log-key", logKey, "--insecure-ignore-identity"}, "✗ certificate chain"},
	} {
		args := []string{"verify", "--bundle", bundle, "--artifact", artifact}
		if bad.args[0] != "--log-key" {
			args = append(args, "--trusted-root", root)
		}
		code, out, _ := tabula(t, append(args, bad.args...)...)
		if code != 1 || !strings.Contains(out, bad.check) {
			t.Fatalf("verify %v: exit %d, want %q\n%s", bad.args, code, bad.check, out)
		}
	}
}
