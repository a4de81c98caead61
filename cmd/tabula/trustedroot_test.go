package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/signer"
)

// The trusted root's JSON as a client reads it (field names from the
// protobuf-specs schema). Loading it with sigstore-go is tested in interop/.
type trustedRootJSON struct {
	MediaType string `json:"mediaType"`
	Tlogs     []struct {
		BaseURL       string `json:"baseUrl"`
		HashAlgorithm string `json:"hashAlgorithm"`
		PublicKey     struct {
			RawBytes   []byte `json:"rawBytes"`
			KeyDetails string `json:"keyDetails"`
			ValidFor   struct {
				Start string `json:"start"`
				End   string `json:"end"`
			} `json:"validFor"`
		} `json:"publicKey"`
		LogID struct {
			KeyID []byte `json:"keyId"`
		} `json:"logId"`
	} `json:"tlogs"`
	CertificateAuthorities []struct {
		Subject struct {
			Organization string `json:"organization"`
			CommonName   string `json:"commonName"`
		} `json:"subject"`
		URI       string `json:"uri"`
		CertChain struct {
			Certificates []struct {
				RawBytes []byte `json:"rawBytes"`
			} `json:"certificates"`
		} `json:"certChain"`
		ValidFor struct {
			Start string `json:"start"`
		} `json:"validFor"`
	} `json:"certificateAuthorities"`
	Ctlogs               []json.RawMessage `json:"ctlogs"`
	TimestampAuthorities []json.RawMessage `json:"timestampAuthorities"`
}

// runTR runs `tabula trusted-root args…` and returns its standard output,
// failing the test unless it exits with want.
func runTR(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	if got := run(context.Background(), append([]string{"trusted-root"}, args...), &o, &e); got != want {
		t.Fatalf("tabula trusted-root %v: exit %d, want %d; stderr: %s", args, got, want, e.String())
	}
	return o.String(), e.String()
}

// parseTR decodes the output twice: strictly as the protobuf-specs message
// (unknown fields or bad enum names fail) and as plain JSON for the checks.
func parseTR(t *testing.T, out string) *trustedRootJSON {
	t.Helper()
	return parseTRN(t, out, 1)
}

// parseTRN is parseTR of a trusted root listing n logs.
func parseTRN(t *testing.T, out string, n int) *trustedRootJSON {
	t.Helper()
	var pb prototrustroot.TrustedRoot
	if err := protojson.Unmarshal([]byte(out), &pb); err != nil {
		t.Fatalf("output is not a protobuf-specs TrustedRoot: %v\n%s", err, out)
	}
	var tr trustedRootJSON
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if tr.MediaType != trustedRootMediaType {
		t.Errorf("mediaType = %q, want %q", tr.MediaType, trustedRootMediaType)
	}
	if len(tr.Tlogs) != n {
		t.Fatalf("%d tlogs, want %d:\n%s", len(tr.Tlogs), n, out)
	}
	return &tr
}

func writeKey(t *testing.T, alg string) (privPath, pubPath string, s *signer.Local) {
	t.Helper()
	dir := t.TempDir()
	priv, err := signer.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath = filepath.Join(dir, "log-key.pem"), filepath.Join(dir, "log-key.pub.pem")
	if err := signer.WriteFiles(priv, privPath, pubPath); err != nil {
		t.Fatal(err)
	}
	s, err = signer.New(priv)
	if err != nil {
		t.Fatal(err)
	}
	return privPath, pubPath, s
}

func TestTrustedRootFromKey(t *testing.T) {
	for _, tc := range []struct {
		alg, details string
	}{
		{signer.ECDSAP256, "PKIX_ECDSA_P256_SHA_256"},
		{signer.Ed25519, "PKIX_ED25519"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			priv, pub, s := writeKey(t, tc.alg)
			before := time.Now()
			outPriv, note := runTR(t, 0, "--key", priv, "--url", "https://log.example.com")
			outPub, _ := runTR(t, 0, "--public-key", pub, "--url", "https://log.example.com")
			if !strings.Contains(note, "entries integrated earlier will not verify") {
				t.Errorf("no note about the default start on stderr: %q", note)
			}
			for _, out := range []string{outPriv, outPub} {
				tr := parseTR(t, out)
				tl := tr.Tlogs[0]
				if tl.BaseURL != "https://log.example.com" {
					t.Errorf("baseUrl = %q", tl.BaseURL)
				}
				if tl.HashAlgorithm != "SHA2_256" {
					t.Errorf("hashAlgorithm = %q, want SHA2_256", tl.HashAlgorithm)
				}
				if tl.PublicKey.KeyDetails != tc.details {
					t.Errorf("keyDetails = %q, want %q", tl.PublicKey.KeyDetails, tc.details)
				}
				if !bytes.Equal(tl.PublicKey.RawBytes, s.PublicKeyDER()) {
					t.Errorf("rawBytes is not the log key's DER")
				}
				id := s.LogID()
				if !bytes.Equal(tl.LogID.KeyID, id[:]) {
					t.Errorf("logId.keyId = %x, want %x", tl.LogID.KeyID, id)
				}
				if sum := sha256.Sum256(tl.PublicKey.RawBytes); !bytes.Equal(sum[:], tl.LogID.KeyID) {
					t.Errorf("logId.keyId is not SHA-256 of rawBytes")
				}
				start, err := time.Parse(time.RFC3339, tl.PublicKey.ValidFor.Start)
				if err != nil {
					t.Fatalf("validFor.start %q: %v", tl.PublicKey.ValidFor.Start, err)
				}
				if d := before.Sub(start); d < 30*time.Second || d > 2*time.Minute {
					t.Errorf("validFor.start = %s, want about a minute before %s", start, before)
				}
				if tl.PublicKey.ValidFor.End != "" {
					t.Errorf("validFor.end = %q, want none", tl.PublicKey.ValidFor.End)
				}
				if tr.CertificateAuthorities == nil || len(tr.CertificateAuthorities) != 0 ||
					tr.Ctlogs == nil || len(tr.Ctlogs) != 0 || tr.TimestampAuthorities == nil || len(tr.TimestampAuthorities) != 0 {
					t.Errorf("want empty certificateAuthorities, ctlogs, timestampAuthorities lists:\n%s", out)
				}
			}
		})
	}
}

func TestTrustedRootStartAndCA(t *testing.T) {
	priv, _, _ := writeKey(t, signer.ECDSAP256)

	// A CA chain: use a Fulcio-style leaf's issuer by making a cert signer and
	// writing its certificate as a one-element "chain" (any CERTIFICATE works).
	cs, err := testentry.NewCertSigner("someone@example.com")
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caPath, cs.PublicKeyPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pemBody(t, cs.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}

	out, note := runTR(t, 0, "--key", priv, "--start", "2024-01-02T03:04:05Z",
		"--fulcio-cert", caPath, "--fulcio-url", "https://fulcio.example.com", "--operator", "example")
	if note != "" {
		t.Errorf("stderr with --start: %q", note)
	}
	tr := parseTR(t, out)
	if got := tr.Tlogs[0].PublicKey.ValidFor.Start; got != "2024-01-02T03:04:05Z" {
		t.Errorf("validFor.start = %q, want 2024-01-02T03:04:05Z", got)
	}
	if !strings.Contains(out, `"operator": "example"`) {
		t.Errorf("no operator in\n%s", out)
	}
	if len(tr.CertificateAuthorities) != 1 {
		t.Fatalf("%d certificate authorities, want 1", len(tr.CertificateAuthorities))
	}
	ca := tr.CertificateAuthorities[0]
	if ca.URI != "https://fulcio.example.com" || len(ca.CertChain.Certificates) != 1 ||
		!bytes.Equal(ca.CertChain.Certificates[0].RawBytes, cert.Raw) {
		t.Errorf("certificate authority = %+v", ca)
	}
	if ca.ValidFor.Start != cert.NotBefore.UTC().Format(time.RFC3339) {
		t.Errorf("CA validFor.start = %q, want the certificate's NotBefore %s", ca.ValidFor.Start, cert.NotBefore.UTC())
	}

	// The strict decoding sees the same values.
	var pb prototrustroot.TrustedRoot
	if err := protojson.Unmarshal([]byte(out), &pb); err != nil {
		t.Fatal(err)
	}
	if pb.GetTlogs()[0].GetPublicKey().GetKeyDetails() != protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256 ||
		pb.GetTlogs()[0].GetHashAlgorithm() != protocommon.HashAlgorithm_SHA2_256 {
		t.Errorf("protobuf view: %v", pb.GetTlogs()[0])
	}

	runTR(t, 1, "--key", priv, "--start", "yesterday")
	runTR(t, 1, "--key", priv, "--url", "ftp://x")
	runTR(t, 1, "--key", priv, "--fulcio-cert", priv) // not a certificate
}

func TestTrustedRootUsage(t *testing.T) {
	priv, pub, _ := writeKey(t, signer.ECDSAP256)
	runTR(t, 2)                                     // no key source
	runTR(t, 2, "--key", priv, "--public-key", pub) // two
	runTR(t, 1, "--public-key", priv)               // a private key is not a PUBLIC KEY
	runTR(t, 1, "--key", pub)
}

func TestTrustedRootFromServer(t *testing.T) {
	c := defaultConfig(t)
	url, _ := startServe(t, c)
	s, err := signer.LoadFile(filepath.Join(c.DataDir, "log-key.pem"))
	if err != nil {
		t.Fatal(err)
	}

	// Empty log: the key is trusted from a minute before the log was
	// created; baseUrl is https://<hostname>, the checkpoints' key name;
	// the server's TSA is trusted.
	cl, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := cl.Logs(context.Background())
	if err != nil || len(logs) != 1 {
		t.Fatalf("GET /logs: %v, %v", logs, err)
	}
	created := logs[0].CreatedAt
	out, _ := runTR(t, 0, "--server", url+"/")
	tr := parseTR(t, out)
	tl := tr.Tlogs[0]
	if tl.BaseURL != "https://"+c.Hostname {
		t.Errorf("baseUrl = %q, want https://%s", tl.BaseURL, c.Hostname)
	}
	if !bytes.Equal(tl.PublicKey.RawBytes, s.PublicKeyDER()) {
		t.Errorf("rawBytes is not the served key")
	}
	if want := created.Add(-time.Minute).UTC().Truncate(time.Second).Format(time.RFC3339); tl.PublicKey.ValidFor.Start != want {
		t.Errorf("empty log: validFor.start = %s, want %s", tl.PublicKey.ValidFor.Start, want)
	}
	if len(tr.TimestampAuthorities) != 1 {
		t.Errorf("%d timestamp authorities, want the server's", len(tr.TimestampAuthorities))
	}

	// With entries: still from the creation (before entry 0), and --url
	// names the Rekor v1 logs.
	sg, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	monUpload(t, url, sg, "trusted-root test", 1)
	out, _ = runTR(t, 0, "--server", url, "--url", "https://log.example.com")
	tl = parseTR(t, out).Tlogs[0]
	want := created.Add(-time.Minute).UTC().Truncate(time.Second).Format(time.RFC3339)
	if tl.PublicKey.ValidFor.Start != want || tl.BaseURL != "https://log.example.com" {
		t.Errorf("validFor.start = %q, baseUrl = %q; want %q, https://log.example.com", tl.PublicKey.ValidFor.Start, tl.BaseURL, want)
	}

	runTR(t, 1, "--server", "http://"+freeAddr(t)) // nobody there
}

func pemBody(t *testing.T, b []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return block.Bytes
}

// TestTrustedRootServerFromEnv: TABULA_SERVER (shared with the client
// commands) does not clash with a key named on the command line, but a
// --server on the command line with a key is still refused.
func TestTrustedRootServerFromEnv(t *testing.T) {
	_, pub, _ := writeKey(t, "ecdsa-p256")
	t.Setenv("TABULA_SERVER", "http://127.0.0.1:1")
	out, _ := runTR(t, 0, "--public-key", pub)
	if parseTR(t, out) == nil {
		t.Fatal("no trusted root")
	}
	runTR(t, 2, "--public-key", pub, "--server", "http://127.0.0.1:1")
}
