package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/pki"
)

// rekorKeyPEM is the P-256 key of the rekor-v1-samples 01 entry, exactly as
// Rekor stored it (canonical form).
const rekorKeyPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+ormZpLbJXCOxOLn08GNgIeITM76
7UhfpNYrzY3NX3gxLv4q8q7jnVCun5hjShGXpw46LPefkVKtEFIxw304JQ==
-----END PUBLIC KEY-----
`

func pubPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// issue makes a certificate for pub signed by (parent, parentKey); a nil parent
// self-signs with parentKey.
func issue(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) (*x509.Certificate, []byte) {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, der
}

type pkiFixture struct {
	rootKey, interKey, leafKey *ecdsa.PrivateKey
	root, inter, leaf          *x509.Certificate
	rootDER, interDER, leafDER []byte
}

// fixture builds root → intermediate → leaf; the leaf is already expired, to
// show chains verify at the leaf's NotBefore.
func fixture(t testing.TB) *pkiFixture {
	t.Helper()
	f := &pkiFixture{}
	gen := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	f.rootKey, f.interKey, f.leafKey = gen(), gen(), gen()
	start := time.Now().Add(-48 * time.Hour)
	ca := func(cn string, serial int64) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: start, NotAfter: start.Add(365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}
	}
	f.root, f.rootDER = issue(t, ca("root", 1), nil, f.rootKey.Public(), f.rootKey)
	f.inter, f.interDER = issue(t, ca("intermediate", 2), f.root, f.interKey.Public(), f.rootKey)
	issuer, _ := asn1.MarshalWithParams("https://issuer.example", "utf8")
	u, _ := url.Parse("https://github.com/Org/Repo/.github/workflows/x.yml@refs/heads/main")
	f.leaf, f.leafDER = issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(3),
		NotBefore:    start.Add(time.Minute), NotAfter: start.Add(11 * time.Minute),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		DNSNames:       []string{"Host.Example"},
		EmailAddresses: []string{"Alice@Example.com"},
		IPAddresses:    []net.IP{net.ParseIP("192.0.2.1")},
		URIs:           []*url.URL{u},
		ExtraExtensions: []pkix.Extension{
			{Id: pki.OIDIssuer, Value: []byte("https://old.example")},
			{Id: pki.OIDIssuerV2, Value: issuer},
		},
	}, f.inter, f.leafKey.Public(), f.interKey)
	return f
}

func TestParsePEM(t *testing.T) {
	f := fixture(t)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, _ := x509.MarshalECPrivateKey(p256)
	chain3 := slices.Concat(certPEM(f.leafDER), certPEM(f.interDER), certPEM(f.rootDER))

	tests := []struct {
		name      string
		in        []byte
		wantErr   string // exact, or prefix when ending in "…"
		wantCerts int
		canonical []byte // expected CanonicalPEM; nil = input as is
	}{
		{name: "public key", in: []byte(rekorKeyPEM)},
		{name: "public key with whitespace and CRLF",
			in:        []byte("\n\t " + strings.ReplaceAll(rekorKeyPEM, "\n", "\r\n") + "\r\n\n"),
			canonical: []byte(rekorKeyPEM)},
		{name: "public key with PEM headers", in: []byte(strings.Replace(rekorKeyPEM, "-----\n", "-----\nComment: hi\n\n", 1)),
			canonical: []byte(rekorKeyPEM)},
		{name: "certificate", in: certPEM(f.leafDER), wantCerts: 1},
		{name: "chain of three", in: chain3, wantCerts: 3},
		{name: "chain blocks of any type", in: slices.Concat(certPEM(f.leafDER),
			pem.EncodeToMemory(&pem.Block{Type: "WHATEVER", Bytes: f.rootDER})),
			wantCerts: 2, canonical: slices.Concat(certPEM(f.leafDER), certPEM(f.rootDER))},
		{name: "ten certificates", in: bytes.Repeat(certPEM(f.rootDER), 10), wantCerts: 10},
		{name: "eleven certificates", in: bytes.Repeat(certPEM(f.rootDER), 11), wantErr: "too many certificates specified in PEM block"},
		{name: "empty", in: nil, wantErr: "invalid public key: failure decoding PEM"},
		{name: "not PEM", in: []byte("MFkwEwYHKoZIzj0CAQYI"), wantErr: "invalid public key: failure decoding PEM"},
		{name: "EC private key", in: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: privDER}),
			wantErr: "invalid public key: cannot handle type EC PRIVATE KEY"},
		{name: "PKCS1 RSA public key", in: pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: []byte{0x30, 0}}),
			wantErr: "invalid public key: cannot handle type RSA PUBLIC KEY"},
		{name: "public key with bad DER", in: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}),
			wantErr: "asn1: structure error: …"},
		{name: "certificate with bad DER", in: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}),
			wantErr: "x509: …"},
		{name: "certificate then junk", in: append(certPEM(f.leafDER), "junk"...), wantErr: "error during PEM decoding"},
		{name: "public key then certificate", in: slices.Concat([]byte(rekorKeyPEM), certPEM(f.leafDER)), wantErr: "x509: …"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := pki.ParsePEM(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatal("parsed, want error")
				}
				if p, ok := strings.CutSuffix(tt.wantErr, "…"); ok {
					if !strings.HasPrefix(err.Error(), p) {
						t.Fatalf("error %q, want prefix %q", err, p)
					}
				} else if err.Error() != tt.wantErr {
					t.Fatalf("error %q, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(k.Certificates()); got != tt.wantCerts {
				t.Fatalf("%d certificates, want %d", got, tt.wantCerts)
			}
			if k.IsChain() != (tt.wantCerts > 1) {
				t.Fatalf("IsChain %v", k.IsChain())
			}
			if k.PublicKey() == nil {
				t.Fatal("no public key")
			}
			want := tt.canonical
			if want == nil {
				want = tt.in
			}
			got, err := k.CanonicalPEM()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("canonical PEM\n got %q\nwant %q", got, want)
			}
			fp, _ := k.Fingerprint()
			sum := sha256.Sum256(want)
			if fp != hex.EncodeToString(sum[:]) {
				t.Fatalf("fingerprint %s", fp)
			}
		})
	}
}

func TestSubjectsAndIssuer(t *testing.T) {
	f := fixture(t)
	k, err := pki.ParsePEM(slices.Concat(certPEM(f.leafDER), certPEM(f.interDER)))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Host.Example", "Alice@Example.com", "192.0.2.1",
		"https://github.com/Org/Repo/.github/workflows/x.yml@refs/heads/main",
	}
	if got := k.Subjects(); !slices.Equal(got, want) {
		t.Fatalf("subjects\n got %q\nwant %q", got, want)
	}
	if got := k.OIDCIssuer(); got != "https://issuer.example" {
		t.Fatalf("issuer %q", got)
	}
	key, _ := pki.ParsePEM([]byte(rekorKeyPEM))
	if key.Subjects() != nil || key.OIDCIssuer() != "" || key.Leaf() != nil {
		t.Fatal("a bare key has no subjects, issuer or leaf")
	}
	// Only the deprecated raw extension.
	old := &x509.Certificate{Extensions: []pkix.Extension{{Id: pki.OIDIssuer, Value: []byte("https://old.example")}}}
	if got := pki.OIDCIssuer(old); got != "https://old.example" {
		t.Fatalf("v1 issuer %q", got)
	}
}

func TestVerifyDigest(t *testing.T) {
	msg := []byte("artifact")
	d256, d384, d512 := sha256.Sum256(msg), sha512.Sum384(msg), sha512.Sum512(msg)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	r2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	f := fixture(t)

	sign := func(k crypto.Signer, d []byte, o crypto.SignerOpts) []byte {
		s, err := k.Sign(rand.Reader, d, o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p1363 := func(k *ecdsa.PrivateKey, d []byte) []byte {
		r, s, err := ecdsa.Sign(rand.Reader, k, d)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
	edph := &ed25519.Options{Hash: crypto.SHA512}
	leafChain := slices.Concat(certPEM(f.leafDER), certPEM(f.interDER), certPEM(f.rootDER))
	wrongRoot := slices.Concat(certPEM(f.leafDER), certPEM(f.rootDER))

	tests := []struct {
		name    string
		key     []byte
		sig     []byte
		digest  []byte
		hash    crypto.Hash
		wantErr string // "" = verifies; prefix otherwise
		allowed bool   // CheckAlgorithm verdict for (key, hash)
	}{
		{"p256 sha256", pubPEM(t, p256.Public()), sign(p256, d256[:], crypto.SHA256), d256[:], crypto.SHA256, "", true},
		{"p256 sha256 IEEE P1363", pubPEM(t, p256.Public()), p1363(p256, d256[:]), d256[:], crypto.SHA256, "", true},
		{"p384 sha384", pubPEM(t, p384.Public()), sign(p384, d384[:], crypto.SHA384), d384[:], crypto.SHA384, "", true},
		{"p521 sha512", pubPEM(t, p521.Public()), sign(p521, d512[:], crypto.SHA512), d512[:], crypto.SHA512, "", true},
		{"p256 sha512 verifies but is not allowed", pubPEM(t, p256.Public()), sign(p256, d512[:], crypto.SHA512), d512[:], crypto.SHA512, "", false},
		{"rsa2048 sha256", pubPEM(t, r2048.Public()), sign(r2048, d256[:], crypto.SHA256), d256[:], crypto.SHA256, "", true},
		{"ed25519ph sha512", pubPEM(t, ed.Public()), sign(ed, d512[:], edph), d512[:], crypto.SHA512, "", true},
		{"ed25519 sha256", pubPEM(t, ed.Public()), []byte{1}, d256[:], crypto.SHA256, `unsupported hash algorithm: "SHA-256" not in [SHA-512]`, false},
		{"certificate chain", leafChain, sign(f.leafKey, d256[:], crypto.SHA256), d256[:], crypto.SHA256, "", true},
		{"chain to the wrong root", wrongRoot, sign(f.leafKey, d256[:], crypto.SHA256), d256[:], crypto.SHA256, "x509: certificate signed by unknown authority", true},
		{"wrong digest", pubPEM(t, p256.Public()), sign(p256, d256[:], crypto.SHA256), make([]byte, 32), crypto.SHA256,
			"invalid signature when validating ASN.1 encoded signature", true},
		{"digest length mismatch", pubPEM(t, p256.Public()), sign(p256, d256[:], crypto.SHA256), d256[:], crypto.SHA384,
			"unexpected length of digest for hash function specified", false},
		{"empty signature", pubPEM(t, p256.Public()), nil, d256[:], crypto.SHA256, "X509 signature has not been initialized", true},
		{"rsa wrong signature", pubPEM(t, r2048.Public()), make([]byte, 256), d256[:], crypto.SHA256, "crypto/rsa: verification error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := pki.ParsePEM(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			err = k.VerifyDigest(tt.sig, tt.digest, tt.hash)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("VerifyDigest: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("VerifyDigest error %v, want prefix %q", err, tt.wantErr)
			}
			err = pki.CheckAlgorithm(k.PublicKey(), tt.hash)
			if tt.allowed != (err == nil) {
				t.Fatalf("CheckAlgorithm = %v, want allowed=%v", err, tt.allowed)
			}
			if err != nil && !errors.Is(err, pki.ErrAlgorithmNotAllowed) {
				t.Fatalf("CheckAlgorithm error %v is not ErrAlgorithmNotAllowed", err)
			}
		})
	}
}

func TestCheckAlgorithm(t *testing.T) {
	rsaOf := func(bits int) *rsa.PublicKey {
		// Only the modulus size matters; no key generation needed.
		return &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), E: 65537}
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	hashes := []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}
	tests := []struct {
		name    string
		pub     crypto.PublicKey
		allowed crypto.Hash // the one hash allowed; 0 = none
	}{
		{"rsa1024", rsaOf(1024), 0},
		{"rsa2047 counts as 2048", rsaOf(2047), crypto.SHA256},
		{"rsa2048", rsaOf(2048), crypto.SHA256},
		{"rsa3072", rsaOf(3072), crypto.SHA256},
		{"rsa4096", rsaOf(4096), crypto.SHA256},
		{"rsa8192", rsaOf(8192), 0},
		{"rsa nil modulus", &rsa.PublicKey{}, 0},
		{"p224", &p224.PublicKey, 0},
		{"p256", &p256.PublicKey, crypto.SHA256},
		{"p384", &p384.PublicKey, crypto.SHA384},
		{"p521", &p521.PublicKey, crypto.SHA512},
		{"ed25519", ed, crypto.SHA512},
		{"nil", nil, 0},
		{"string", "key", 0},
	}
	for _, tt := range tests {
		for _, h := range hashes {
			err := pki.CheckAlgorithm(tt.pub, h)
			if (err == nil) != (h == tt.allowed) {
				t.Errorf("%s with %v: %v", tt.name, h, err)
			}
		}
	}
	if got := pki.ErrAlgorithmNotAllowed.Error(); got != "entry algorithms are not allowed" {
		t.Fatalf("message %q", got)
	}
}

func FuzzParsePEM(f *testing.F) {
	fx := fixture(f)
	f.Add([]byte(rekorKeyPEM))
	f.Add(certPEM(fx.leafDER))
	f.Add(slices.Concat(certPEM(fx.leafDER), certPEM(fx.interDER), certPEM(fx.rootDER)))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte(base64.StdEncoding.EncodeToString([]byte(rekorKeyPEM))))
	digest := sha256.Sum256([]byte("x"))
	sig, _ := fx.leafKey.Sign(rand.Reader, digest[:], crypto.SHA256)
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := pki.ParsePEM(in)
		if err != nil {
			if k != nil {
				t.Fatal("key and error")
			}
			return
		}
		canon, err := k.CanonicalPEM()
		if err != nil {
			t.Fatalf("parsed key has no canonical form: %v", err)
		}
		// The canonical form parses to itself.
		k2, err := pki.ParsePEM(canon)
		if err != nil {
			t.Fatalf("canonical PEM does not parse: %v\n%s", err, canon)
		}
		canon2, _ := k2.CanonicalPEM()
		if !bytes.Equal(canon, canon2) {
			t.Fatalf("canonical PEM not stable\n%s\n%s", canon, canon2)
		}
		// None of these may panic whatever was parsed.
		_ = k.Subjects()
		_ = k.OIDCIssuer()
		_ = k.VerifyDigest(sig, digest[:], crypto.SHA256)
		_ = k.VerifyDigest(sig, digest[:], crypto.SHA512)
		_ = pki.CheckAlgorithm(k.PublicKey(), crypto.SHA256)
	})
}
