package interop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// inTotoPayloadType is the DSSE payload type of in-toto statements.
const inTotoPayloadType = "application/vnd.in-toto+json"

// statement is an in-toto v1 statement about artifact.
func statement(t *testing.T, name string, artifact []byte) []byte {
	t.Helper()
	d := sha256.Sum256(artifact)
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": hex.EncodeToString(d[:])}}},
		"predicateType": "https://interop.invalid/predicate/v1",
		"predicate":     map[string]any{"builder": "tabula interop"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSigstoreGoSign signs with sigstore-go's pkg/sign against Tabula (Rekor
// v1 API, hashedrekord for message signatures and dsse for envelopes), with
// the test CA standing in for Fulcio or with a bare key, then verifies the
// bundle, after a JSON round trip, with sigstore-go's verifier, the trusted
// root from `tabula trusted-root` and an identity policy. Uploading the
// same bundle again takes sigstore-go's 409 path, which must recover the
// same entry.
func TestSigstoreGoSign(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		ca := newTestCA(t)
		// Built on the empty log: the key is trusted from a minute ago.
		tr := c.trustedRoot(t, ca)
		const uri = "https://github.com/interop/repo/.github/workflows/sign.yml@refs/heads/main"
		cases := []struct {
			name, kind string
			identity   string // empty: key-based
			dsse       bool
			alg        protocommon.PublicKeyDetails // zero: sigstore-go's default, ECDSA P-256
		}{
			{"message/cert", "hashedrekord", "dave@interop.invalid", false, 0},
			{"message/key", "hashedrekord", "", false, 0},
			{"message/key-p384", "hashedrekord", "", false, protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384},
			{"message/cert-p521", "hashedrekord", "dave@interop.invalid", false, protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512},
			{"message/key-rsa", "hashedrekord", "", false, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256},
			{"dsse/cert", "dsse", uri, true, 0},
			{"dsse/key", "dsse", "", true, 0},
			// No DSSE with P-384: sigstore-go signs it with SHA-384, and
			// rekor's dsse type (client and server) verifies envelopes with
			// SHA-256 only, so rekor's own CreateProposedEntry refuses it
			// before anything is sent.
		}
		nSigned := 0
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				requireKind(t, tc.kind)
				artifact := []byte("sigstore-go signed " + tc.name)
				var content sign.Content = &sign.PlainData{Data: artifact}
				if tc.dsse {
					content = &sign.DSSEData{Data: statement(t, "artifact.bin", artifact), PayloadType: inTotoPayloadType}
				}
				kp, err := sign.NewEphemeralKeypair(&sign.EphemeralKeypairOptions{Algorithm: tc.alg})
				if err != nil {
					t.Fatal(err)
				}
				rekor := sign.NewRekor(&sign.RekorOptions{BaseURL: s.URL})
				opts := sign.BundleOptions{Context: ctx(t), TransparencyLogs: []sign.Transparency{rekor}}
				if tc.identity != "" {
					opts.CertificateProvider = &certProvider{ca: ca, identity: tc.identity}
				}
				pb, err := sign.Bundle(content, kp, opts)
				if err != nil {
					t.Fatalf("sigstore-go sign.Bundle against Tabula: %v", err)
				}
				nSigned++
				if n := len(pb.GetVerificationMaterial().GetTlogEntries()); n != 1 {
					t.Fatalf("%d tlog entries in the bundle, want 1", n)
				}
				tle := pb.VerificationMaterial.TlogEntries[0]
				if tle.GetKindVersion().GetKind() != tc.kind {
					t.Errorf("logged as %v, want %s", tle.GetKindVersion(), tc.kind)
				}

				// What a verifier reads: the bundle's JSON.
				raw, err := protojson.Marshal(pb)
				if err != nil {
					t.Fatal(err)
				}
				var b bundle.Bundle
				if err := b.UnmarshalJSON(raw); err != nil {
					t.Fatalf("sigstore-go cannot read the bundle it wrote: %v\n%s", err, raw)
				}
				var material root.TrustedMaterial = tr
				if tc.identity == "" {
					material = root.TrustedMaterialCollection{tr, keyMaterial(t, string(kp.GetHint()), kp.GetPublicKey())}
				}
				v, err := verify.NewVerifier(material, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))
				if err != nil {
					t.Fatal(err)
				}
				policy := func(artifact []byte, identity string) verify.PolicyBuilder {
					art := verify.WithArtifact(bytes.NewReader(artifact))
					if tc.identity == "" {
						return verify.NewPolicy(art, verify.WithKey())
					}
					id, err := verify.NewShortCertificateIdentity(oidcIssuer, "", identity, "")
					if err != nil {
						t.Fatal(err)
					}
					return verify.NewPolicy(art, verify.WithCertificateIdentity(id))
				}
				res, err := v.Verify(&b, policy(artifact, tc.identity))
				if err != nil {
					t.Fatalf("sigstore-go verify: %v", err)
				}
				if len(res.VerifiedTimestamps) == 0 || res.VerifiedTimestamps[0].Type != "Tlog" {
					t.Errorf("verified timestamps %+v: want the log's integrated time", res.VerifiedTimestamps)
				}
				if _, err := v.Verify(&b, policy([]byte("not what was signed"), tc.identity)); err == nil {
					t.Error("sigstore-go accepted the bundle for another artifact")
				}
				if tc.identity != "" {
					if _, err := v.Verify(&b, policy(artifact, "mallory@interop.invalid")); err == nil {
						t.Error("sigstore-go accepted the bundle for another identity")
					}
				}

				// Uploading the same signature again: 409, and sigstore-go
				// fetches the existing entry from the Location.
				keyOrCert := []byte(mustPublicKeyPEM(t, kp))
				if cert := pb.VerificationMaterial.GetCertificate(); cert != nil {
					keyOrCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.RawBytes})
				}
				again := proto.Clone(pb).(*protobundle.Bundle)
				if err := rekor.GetTransparencyLogEntry(ctx(t), keyOrCert, again); err != nil {
					t.Fatalf("sigstore-go re-upload (409 path): %v", err)
				}
				dup := again.VerificationMaterial.TlogEntries[1]
				if dup.LogIndex != tle.LogIndex || dup.IntegratedTime != tle.IntegratedTime ||
					!bytes.Equal(dup.CanonicalizedBody, tle.CanonicalizedBody) {
					t.Errorf("the entry recovered after 409 is %d@%d, want %d@%d", dup.LogIndex, dup.IntegratedTime, tle.LogIndex, tle.IntegratedTime)
				}
			})
		}
		if n := *c.logInfo(t).TreeSize; n != int64(nSigned) {
			t.Errorf("tree size %d after %d signatures: want one entry each, none for the re-uploads", n, nSigned)
		}
	})
}

func mustPublicKeyPEM(t *testing.T, kp *sign.EphemeralKeypair) string {
	t.Helper()
	p, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
