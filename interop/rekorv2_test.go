package interop

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// v2KeyFile is where `tabula log create --api v2` keeps the key of the
// data directory's Rekor v2 logs (cmd/tabula/logcmd.go).
const v2KeyFile = "log-key-v2.pem"

// createV2Log runs `tabula log create --api v2 --origin origin` (with
// --key s.V2Key when set) on s's database while s serves it, and waits
// (bounded) until s lists the new log in GET /logs.
func (s *server) createV2Log(t *testing.T, origin string) {
	t.Helper()
	args := []string{"log", "create", "--api", "v2", "--origin", origin, "--data-dir", s.DataDir}
	if s.DatabaseURL != "" {
		args = append(args, "--database-url", s.DatabaseURL)
	}
	if s.V2Key != "" {
		args = append(args, "--key", s.V2Key)
	}
	tabula(t, args...)
	for range 200 {
		if _, ok := s.listedLog(t, "v2", origin); ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("tabula serve does not list the Rekor v2 log %s after `tabula %s`", origin, strings.Join(args, " "))
}

// listedLog is the log of api at origin in GET /logs, if listed.
func (s *server) listedLog(t *testing.T, api, origin string) (listed listedLog, ok bool) {
	t.Helper()
	resp, err := http.Get(s.URL + "/logs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Logs []listedLog `json:"logs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET /logs: %v", err)
	}
	for _, l := range out.Logs {
		if l.API == api && l.Origin == origin {
			return l, true
		}
	}
	return listedLog{}, false
}

// listedLog is a log of GET /logs.
type listedLog struct {
	API      string `json:"api"`
	Origin   string `json:"origin"`
	TreeSize uint64 `json:"treeSize"`
}

// v2Setup is what a sigstore-go user of a Tabula server with a Rekor v2
// log holds: the services its signing config selects, and the trusted root.
type v2Setup struct {
	origin string
	rekor  root.Service // the Rekor service selected, the v2 log
	tsa    root.Service
	tr     *root.TrustedRoot
	keyID  []byte // the v2 log's key ID in the trusted root
}

// newV2Setup creates a Rekor v2 log at origin on s, selects the services
// of `tabula signing-config` as sigstore-go's signers do (highest API
// version first) and reads `tabula trusted-root` (with ca as the CA).
func newV2Setup(t *testing.T, s *server, origin string, ca *testCA) *v2Setup {
	t.Helper()
	s.createV2Log(t, origin)
	out := tabula(t, "signing-config", "--server", s.URL)
	sc, err := root.NewSigningConfigFromJSON(out)
	if err != nil {
		t.Fatalf("sigstore-go cannot read `tabula signing-config`: %v\n%s", err, out)
	}
	now := time.Now()
	rekors, err := root.SelectServices(sc.RekorLogURLs(), sc.RekorLogURLsConfig(), sign.RekorAPIVersions, now)
	if err != nil {
		t.Fatalf("sigstore-go selects no Rekor from the signing config: %v\n%s", err, out)
	}
	if len(rekors) != 1 || rekors[0].MajorAPIVersion != 2 {
		t.Fatalf("sigstore-go selects %+v from the signing config, want the Rekor v2 log alone\n%s", rekors, out)
	}
	tsas, err := root.SelectServices(sc.TimestampAuthorityURLs(), sc.TimestampAuthorityURLsConfig(), sign.TimestampAuthorityAPIVersions, now)
	if err != nil || len(tsas) != 1 {
		t.Fatalf("sigstore-go selects TSAs %+v (%v) from the signing config, want Tabula's\n%s", tsas, err, out)
	}
	if want := s.URL + "/api/v1/timestamp"; tsas[0].URL != want {
		t.Errorf("TSA URL %q, want %q", tsas[0].URL, want)
	}

	args := []string{"trusted-root", "--server", s.URL, "--fulcio-cert", ca.certPath}
	out = tabula(t, args...)
	tr, err := root.NewTrustedRootFromJSON(out)
	if err != nil {
		t.Fatalf("sigstore-go cannot read `tabula %s`: %v\n%s", strings.Join(args, " "), err, out)
	}
	if n := len(tr.TimestampingAuthorities()); n != 1 {
		t.Fatalf("%d timestamp authorities in the trusted root, want Tabula's", n)
	}
	st := &v2Setup{origin: origin, rekor: rekors[0], tsa: tsas[0], tr: tr}
	for _, l := range tr.RekorLogs() {
		if l.BaseURL == "https://"+origin {
			st.keyID = l.ID
		}
	}
	if st.keyID == nil {
		t.Fatalf("no log with baseUrl https://%s in the trusted root\n%s", origin, out)
	}
	return st
}

// v2Case is one way of signing with sigstore-go against the v2 log.
type v2Case struct {
	name     string
	identity string // empty: key-based
	tsa      bool   // an RFC 3161 timestamp from Tabula's TSA
	dsse     bool
	alg      protocommon.PublicKeyDetails // zero: sigstore-go's default, ECDSA P-256
}

// v2Signed is a bundle sigstore-go signed, and how to verify it.
type v2Signed struct {
	tc       v2Case
	artifact []byte
	pb       *protobundle.Bundle
	material root.TrustedMaterial
	verifier *verify.Verifier
	rekor    *sign.Rekor
	pem      []byte // the key or certificate sent to the log
}

// sign signs artifact as tc says, with the services st selected; sign.Bundle
// checks the new bundle against the trusted material (as cosign does with
// --trusted-root).
func (st *v2Setup) sign(t *testing.T, tc v2Case, ca *testCA, artifact []byte) *v2Signed {
	t.Helper()
	var content sign.Content = &sign.PlainData{Data: artifact}
	if tc.dsse {
		content = &sign.DSSEData{Data: statement(t, "artifact.bin", artifact), PayloadType: inTotoPayloadType}
	}
	kp, err := sign.NewEphemeralKeypair(&sign.EphemeralKeypairOptions{Algorithm: tc.alg})
	if err != nil {
		t.Fatal(err)
	}
	var material root.TrustedMaterial = st.tr
	if tc.identity == "" {
		material = root.TrustedMaterialCollection{st.tr, keyMaterial(t, string(kp.GetHint()), kp.GetPublicKey())}
	}
	rekor := sign.NewRekor(&sign.RekorOptions{BaseURL: st.rekor.URL, Version: st.rekor.MajorAPIVersion})
	opts := sign.BundleOptions{
		Context:          ctx(t),
		TransparencyLogs: []sign.Transparency{rekor},
		TrustedRoot:      material,
	}
	if tc.tsa {
		opts.TimestampAuthorities = []*sign.TimestampAuthority{sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: st.tsa.URL})}
	}
	if tc.identity != "" {
		opts.CertificateProvider = &certProvider{ca: ca, identity: tc.identity}
	}
	pb, err := sign.Bundle(content, kp, opts)
	if err != nil {
		t.Fatalf("sigstore-go sign.Bundle against Tabula's Rekor v2 log: %v", err)
	}
	vopts := []verify.VerifierOption{verify.WithTransparencyLog(1)}
	if tc.tsa {
		vopts = append(vopts, verify.WithSignedTimestamps(1))
	} else {
		vopts = append(vopts, verify.WithNoObserverTimestamps())
	}
	v, err := verify.NewVerifier(material, vopts...)
	if err != nil {
		t.Fatal(err)
	}
	keyOrCert := []byte(mustPublicKeyPEM(t, kp))
	if cert := pb.GetVerificationMaterial().GetCertificate(); cert != nil {
		keyOrCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.RawBytes})
	}
	return &v2Signed{tc: tc, artifact: artifact, pb: pb, material: material, verifier: v, rekor: rekor, pem: keyOrCert}
}

// verify verifies b (after a JSON round trip, as a verifier reads it) for
// artifact and identity (the key, when the bundle is key-based).
func (sg *v2Signed) verify(t *testing.T, b *protobundle.Bundle, artifact []byte, identity string) (*verify.VerificationResult, error) {
	t.Helper()
	raw, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var rb bundle.Bundle
	if err := rb.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("reading the bundle: %w", err)
	}
	var art verify.ArtifactPolicyOption
	if sg.tc.dsse {
		// The statement's subject names the artifact's digest.
		art = verify.WithArtifactDigest("sha256", sha256Of(artifact))
	} else {
		art = verify.WithArtifact(bytes.NewReader(artifact))
	}
	if sg.tc.identity == "" {
		return sg.verifier.Verify(&rb, verify.NewPolicy(art, verify.WithKey()))
	}
	id, err := verify.NewShortCertificateIdentity(oidcIssuer, "", identity, "")
	if err != nil {
		t.Fatal(err)
	}
	return sg.verifier.Verify(&rb, verify.NewPolicy(art, verify.WithCertificateIdentity(id)))
}

// TestSigstoreGoRekorV2 signs with sigstore-go's pkg/sign against a Rekor v2
// log of Tabula, selected from `tabula signing-config`: key-based, with and
// without an RFC 3161 timestamp from Tabula's TSA, and with a certificate of
// the test CA (a stand-in for Fulcio) and a timestamp, as keyless signing
// does. Each bundle must hold the v2 log's hashedrekord 0.0.2 entry (its
// checkpoint under the log's origin, its key ID) and verify with
// sigstore-go's verifier and the trusted root from `tabula trusted-root`;
// for another artifact or identity it must not. Uploading a signature again
// gets 409 (sigstore-go reports it as an error) and logs nothing.
func TestSigstoreGoRekorV2(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		ca := newTestCA(t)
		st := newV2Setup(t, s, "log2026-1.interop.invalid", ca)
		cases := []v2Case{
			{name: "message/key"},
			{name: "message/key-p384", alg: protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384},
			{name: "message/key+tsa", tsa: true},
			{name: "message/cert+tsa", identity: "dave@interop.invalid", tsa: true},
			{name: "dsse/cert+tsa", identity: "https://github.com/interop/repo/.github/workflows/sign.yml@refs/heads/main", tsa: true, dsse: true},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				artifact := []byte("sigstore-go signed, Rekor v2: " + tc.name)
				sg := st.sign(t, tc, ca, artifact)
				vm := sg.pb.GetVerificationMaterial()
				if n := len(vm.GetTlogEntries()); n != 1 {
					t.Fatalf("%d tlog entries in the bundle, want 1", n)
				}
				tle := vm.GetTlogEntries()[0]
				if kv := tle.GetKindVersion(); kv.GetKind() != "hashedrekord" || kv.GetVersion() != "0.0.2" {
					t.Errorf("logged as %v, want hashedrekord 0.0.2", kv)
				}
				if got := tle.GetLogId().GetKeyId(); !bytes.Equal(got, st.keyID) {
					t.Errorf("logId.keyId %x, want the v2 log's %x", got, st.keyID)
				}
				if tle.GetLogIndex() != int64(i) {
					t.Errorf("log index %d, want %d", tle.GetLogIndex(), i)
				}
				if tle.GetIntegratedTime() != 0 || tle.GetInclusionPromise() != nil {
					t.Errorf("integrated time %d, promise %v: a Rekor v2 entry has neither", tle.GetIntegratedTime(), tle.GetInclusionPromise())
				}
				cp := tle.GetInclusionProof().GetCheckpoint().GetEnvelope()
				if origin, _, _ := strings.Cut(cp, "\n"); origin != st.origin {
					t.Errorf("checkpoint origin %q, want %q", origin, st.origin)
				}
				wantTimestamps, wantVerified := 0, ""
				if tc.tsa {
					wantTimestamps, wantVerified = 1, "TimestampAuthority"
				}
				if n := len(vm.GetTimestampVerificationData().GetRfc3161Timestamps()); n != wantTimestamps {
					t.Errorf("%d RFC 3161 timestamps in the bundle (TSA used: %v)", n, tc.tsa)
				}

				res, err := sg.verify(t, sg.pb, artifact, tc.identity)
				if err != nil {
					t.Fatalf("sigstore-go verify: %v", err)
				}
				var kinds []string
				for _, ts := range res.VerifiedTimestamps {
					kinds = append(kinds, ts.Type)
				}
				if strings.Join(kinds, ",") != wantVerified {
					t.Errorf("verified timestamps %v, want %q", kinds, wantVerified)
				}
				if _, err := sg.verify(t, sg.pb, []byte("not what was signed"), tc.identity); err == nil {
					t.Error("sigstore-go accepted the bundle for another artifact")
				}
				if tc.identity != "" {
					if _, err := sg.verify(t, sg.pb, artifact, "mallory@interop.invalid"); err == nil {
						t.Error("sigstore-go accepted the bundle for another identity")
					}
				}

				again := proto.Clone(sg.pb).(*protobundle.Bundle)
				err = sg.rekor.GetTransparencyLogEntry(ctx(t), sg.pem, again)
				if err == nil || !strings.Contains(err.Error(), "unexpected response: 409") {
					t.Errorf("re-upload: %v, want rekor-tiles' client's error for a 409", err)
				}
			})
		}
		if l, _ := s.listedLog(t, "v2", st.origin); l.TreeSize != uint64(len(cases)) {
			t.Errorf("v2 tree size %d after %d signatures: want one entry each, none for the re-uploads", l.TreeSize, len(cases))
		}
	})
}

// TestSigstoreGoRekorV2Tampering makes sure sigstore-go refuses bundles of
// Tabula's Rekor v2 log that were changed: the artifact, the inclusion
// proof, the checkpoint (signed by another key, or under another origin,
// even with the log's own key) and the RFC 3161 timestamp (one for another
// signature). The unchanged bundle must verify, so the refusals are the
// changes'.
func TestSigstoreGoRekorV2Tampering(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		ca := newTestCA(t)
		const origin = "log2026-2.interop.invalid"
		st := newV2Setup(t, s, origin, ca)
		tc := v2Case{name: "cert+tsa", identity: "erin@interop.invalid", tsa: true}
		// Three entries, so the middle one's proof has hashes.
		var signed []*v2Signed
		for i := range 3 {
			signed = append(signed, st.sign(t, tc, ca, fmt.Appendf(nil, "tampering %d", i)))
		}
		sg, other := signed[1], signed[2]
		if len(sg.pb.GetVerificationMaterial().GetTlogEntries()[0].GetInclusionProof().GetHashes()) == 0 {
			t.Fatal("the entry's inclusion proof has no hashes to change")
		}
		logKey := loadEd25519(t, filepath.Join(s.DataDir, v2KeyFile))
		otherKey := newEd25519(t)
		tsa := sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: st.tsa.URL})

		cases := []struct {
			name     string
			artifact []byte // nil: the signed one
			f        func(t *testing.T, b *protobundle.Bundle)
			ok       bool
		}{
			{name: "unchanged", ok: true},
			{name: "another artifact", artifact: []byte("tampering 0")},
			{name: "proof hash", f: func(t *testing.T, b *protobundle.Bundle) {
				h := b.VerificationMaterial.TlogEntries[0].InclusionProof.Hashes
				h[0] = bytes.Clone(h[0])
				h[0][0] ^= 1
			}},
			{name: "proof of another entry", f: func(t *testing.T, b *protobundle.Bundle) {
				b.VerificationMaterial.TlogEntries[0] = proto.Clone(other.pb.VerificationMaterial.TlogEntries[0]).(*protorekor.TransparencyLogEntry)
			}},
			{name: "checkpoint re-signed by the log's key (control)", ok: true, f: func(t *testing.T, b *protobundle.Bundle) {
				resign(t, b, origin, logKey)
			}},
			{name: "checkpoint signed by another key", f: func(t *testing.T, b *protobundle.Bundle) {
				resign(t, b, origin, otherKey)
			}},
			{name: "checkpoint of another origin, the log's key", f: func(t *testing.T, b *protobundle.Bundle) {
				resign(t, b, "log2026-3.interop.invalid", logKey)
			}},
			{name: "checkpoint of another origin, another key", f: func(t *testing.T, b *protobundle.Bundle) {
				resign(t, b, "log2026-3.interop.invalid", otherKey)
			}},
			{name: "timestamp of another signature", f: func(t *testing.T, b *protobundle.Bundle) {
				ts, err := tsa.GetTimestamp(ctx(t), other.pb.GetMessageSignature().GetSignature())
				if err != nil {
					t.Fatalf("Tabula's TSA: %v", err)
				}
				b.VerificationMaterial.TimestampVerificationData.Rfc3161Timestamps[0].SignedTimestamp = ts
			}},
			{name: "no timestamp", f: func(t *testing.T, b *protobundle.Bundle) {
				b.VerificationMaterial.TimestampVerificationData = nil
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				b := proto.Clone(sg.pb).(*protobundle.Bundle)
				if c.f != nil {
					c.f(t, b)
				}
				artifact := sg.artifact
				if c.artifact != nil {
					artifact = c.artifact
				}
				_, err := sg.verify(t, b, artifact, tc.identity)
				switch {
				case c.ok && err != nil:
					t.Errorf("sigstore-go refused it: %v", err)
				case !c.ok && err == nil:
					t.Error("sigstore-go accepted it")
				case err != nil:
					t.Logf("refused: %v", err)
				}
			})
		}
	})
}

// resign replaces the checkpoint of b's entry by one with the same tree
// size and root hash under origin, signed by key under that name (a C2SP
// signed note, the Ed25519 key ID as the signed-note rules say).
func resign(t *testing.T, b *protobundle.Bundle, origin string, key ed25519.PrivateKey) {
	t.Helper()
	cp := b.VerificationMaterial.TlogEntries[0].InclusionProof.Checkpoint
	text, _, ok := strings.Cut(cp.Envelope, "\n\n")
	if !ok {
		t.Fatalf("checkpoint without signatures: %q", cp.Envelope)
	}
	_, rest, _ := strings.Cut(text, "\n")
	name := origin
	vkey, err := note.NewEd25519VerifierKey(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, v.KeyHash(), base64.StdEncoding.EncodeToString(append([]byte{1}, key.Seed()...)))
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	signedNote, err := note.Sign(&note.Note{Text: origin + "\n" + rest + "\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	cp.Envelope = string(signedNote)
}

// loadEd25519 reads a PKCS #8 Ed25519 private key (PEM).
func loadEd25519(t *testing.T, path string) ed25519.PrivateKey {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("%s: a %T, want an Ed25519 key", path, k)
	}
	return ek
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
