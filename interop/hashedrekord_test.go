package interop

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/go-openapi/swag/conv"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	"github.com/sigstore/rekor/pkg/types/hashedrekord"
	hashedrekord001 "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
	rekorverify "github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// signed is an artifact signed by a key or certificate signer, and the
// hashedrekord proposed entry rekor's own type builds for it.
type signed struct {
	artifact []byte
	digest   []byte
	sig      []byte
	key      *ecdsa.PrivateKey
	pemKey   []byte // PUBLIC KEY or CERTIFICATE PEM, as sent to the log
	certDER  []byte // nil for a key signer
	identity string // SAN, for a certificate signer
	entry    models.ProposedEntry
}

// newHashedRekord signs artifact and builds the proposed entry the way
// sigstore-go's signer does (rekor types/hashedrekord CreateProposedEntry).
func newHashedRekord(t *testing.T, key *ecdsa.PrivateKey, pemKey []byte, artifact []byte) *signed {
	t.Helper()
	digest, sig := signArtifact(t, key, artifact)
	pe, err := hashedrekord.New().CreateProposedEntry(ctx(t), "", types.ArtifactProperties{
		ArtifactHash:   "sha256:" + hex.EncodeToString(digest),
		SignatureBytes: sig,
		PublicKeyBytes: [][]byte{pemKey},
		PKIFormat:      "x509",
	})
	if err != nil {
		t.Fatalf("rekor hashedrekord.CreateProposedEntry: %v", err)
	}
	return &signed{artifact: artifact, digest: digest, sig: sig, key: key, pemKey: pemKey, entry: pe}
}

func keySigned(t *testing.T, artifact string) *signed {
	t.Helper()
	k := newKeySigner(t)
	return newHashedRekord(t, k.key, k.pemPub, []byte(artifact))
}

func certSigned(t *testing.T, ca *testCA, identity, artifact string) *signed {
	t.Helper()
	c := ca.newCertSigner(t, identity)
	s := newHashedRekord(t, c.key, c.pemCert, []byte(artifact))
	s.certDER, s.identity = c.certDER, identity
	return s
}

// policy is the sigstore-go policy this signature must satisfy: the
// artifact, and the key or the certificate identity.
func (s *signed) policy(t *testing.T, artifact []byte, identity string) verify.PolicyBuilder {
	t.Helper()
	if s.certDER == nil {
		return verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithKey())
	}
	id, err := verify.NewShortCertificateIdentity(oidcIssuer, "", identity, "")
	if err != nil {
		t.Fatal(err)
	}
	return verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithCertificateIdentity(id))
}

// material is what a verifier of s trusts: the trusted root, plus the
// signer's key for key-based signatures.
func (s *signed) material(t *testing.T, tr *root.TrustedRoot) root.TrustedMaterial {
	t.Helper()
	if s.certDER != nil {
		return tr
	}
	return root.TrustedMaterialCollection{tr, keyMaterial(t, keyHint, s.key.Public())}
}

// TestHashedRekord logs key- and certificate-signed hashedrekord entries
// with rekor's client and verifies the answers with rekor pkg/verify,
// sigstore-go pkg/tlog and a full sigstore-go bundle verification under a
// trusted root from `tabula trusted-root`.
func TestHashedRekord(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		ca := newTestCA(t)
		cases := []struct {
			name string
			sign func(t *testing.T) *signed
		}{
			{"key", func(t *testing.T) *signed { return keySigned(t, "key-signed artifact") }},
			{"cert-email", func(t *testing.T) *signed {
				return certSigned(t, ca, "alice@interop.invalid", "email-cert-signed artifact")
			}},
			{"cert-uri", func(t *testing.T) *signed {
				return certSigned(t, ca, "https://github.com/interop/repo/.github/workflows/release.yml@refs/heads/main", "uri-cert-signed artifact")
			}},
		}
		var logged []*signed
		var uuids []string
		for _, tc := range cases {
			sg := tc.sign(t)
			uuid, e := c.create(t, sg.entry)
			c.verifyEntry(t, e)
			checkCanonical(t, sg.entry, e)

			hr, ok := body(t, e).(*hashedrekord001.V001Entry)
			if !ok {
				t.Fatalf("%s: body is %T, want hashedrekord v0.0.1", tc.name, body(t, e))
			}
			if got := hr.HashedRekordObj.Data.Hash.Value; got == nil || *got != hex.EncodeToString(sg.digest) {
				t.Errorf("%s: logged digest %v, want %x", tc.name, got, sg.digest)
			}
			if got := hr.HashedRekordObj.Signature.Content; !bytes.Equal(got, sg.sig) {
				t.Errorf("%s: logged signature differs from the one sent", tc.name)
			}
			if e.LogIndex == nil || *e.LogIndex != int64(len(logged)) {
				t.Errorf("%s: logIndex %v, want %d", tc.name, e.LogIndex, len(logged))
			}
			logged, uuids = append(logged, sg), append(uuids, uuid)
		}

		// The trusted root is built once the log has entries: --server
		// takes the key's validity start from entry 0.
		tr := c.trustedRoot(t, ca)
		for i, sg := range logged {
			name := cases[i].name
			_, e := c.getByUUID(t, uuids[i])
			c.verifyEntry(t, e)
			c.verifyTlogEntry(t, tr, e)

			v, err := verify.NewVerifier(sg.material(t, tr), verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))
			if err != nil {
				t.Fatal(err)
			}
			b := messageBundle(t, e, sg.digest, sg.sig, sg.certDER)
			res, err := v.Verify(b, sg.policy(t, sg.artifact, sg.identity))
			if err != nil {
				t.Fatalf("%s: sigstore-go verify: %v", name, err)
			}
			if sg.certDER != nil && (res.Signature == nil || res.Signature.Certificate == nil ||
				res.Signature.Certificate.SubjectAlternativeName != sg.identity) {
				t.Errorf("%s: verified identity %+v, want SAN %s", name, res.Signature, sg.identity)
			}

			// The same checks must reject what they should.
			if _, err := v.Verify(b, sg.policy(t, []byte("another artifact"), sg.identity)); err == nil {
				t.Errorf("%s: sigstore-go accepted the bundle for another artifact", name)
			}
			if sg.certDER != nil {
				if _, err := v.Verify(b, sg.policy(t, sg.artifact, "mallory@interop.invalid")); err == nil {
					t.Errorf("%s: sigstore-go accepted the bundle for another identity", name)
				}
			}
		}
	})
}

// TestVerificationRejectsTampering makes sure the verification the other
// tests rely on can fail: a changed body, proof or SET must not verify.
func TestVerificationRejectsTampering(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		for i := range 3 {
			c.create(t, keySigned(t, "tamper "+string(rune('a'+i))).entry)
		}
		_, good := c.getByIndex(t, 1)
		c.verifyEntry(t, good)
		tr := c.trustedRoot(t, nil)

		tamper := []struct {
			name string
			f    func(e *models.LogEntryAnon)
		}{
			{"body", func(e *models.LogEntryAnon) {
				_, other := c.getByIndex(t, 2)
				e.Body = other.Body
			}},
			{"integratedTime", func(e *models.LogEntryAnon) { e.IntegratedTime = conv.Pointer(*e.IntegratedTime + 1) }},
			{"logIndex", func(e *models.LogEntryAnon) { e.LogIndex = conv.Pointer(*e.LogIndex + 1) }},
			{"proof hash", func(e *models.LogEntryAnon) {
				h, err := hex.DecodeString(e.Verification.InclusionProof.Hashes[0])
				if err != nil {
					t.Fatal(err)
				}
				h[0] ^= 1
				e.Verification.InclusionProof.Hashes[0] = hex.EncodeToString(h)
			}},
			{"root hash", func(e *models.LogEntryAnon) {
				e.Verification.InclusionProof.RootHash = conv.Pointer(strings.Repeat("0", 64))
			}},
			{"SET", func(e *models.LogEntryAnon) {
				set := bytes.Clone(e.Verification.SignedEntryTimestamp)
				set[len(set)-1] ^= 1
				e.Verification.SignedEntryTimestamp = set
			}},
		}
		for _, tc := range tamper {
			_, e := c.getByIndex(t, 1)
			proof := *e.Verification.InclusionProof
			proof.Hashes = append([]string(nil), proof.Hashes...)
			e.Verification = &models.LogEntryAnonVerification{InclusionProof: &proof, SignedEntryTimestamp: e.Verification.SignedEntryTimestamp}
			tc.f(&e)
			if err := rekorverify.VerifyLogEntry(ctx(t), &e, c.verifier); err == nil {
				t.Errorf("tampered %s: rekor VerifyLogEntry accepted it", tc.name)
			}
			_, te := tlogEntry(t, e)
			errSET := tlog.VerifySET(te, tr.RekorLogs())
			errProof := tlog.VerifyInclusion(te, c.verifier)
			if errSET == nil && errProof == nil {
				t.Errorf("tampered %s: sigstore-go accepted both the SET and the inclusion proof", tc.name)
			}
		}
	})
}

// TestDuplicate posts an entry twice: the second answer is 409 with the
// first entry's Location, which the generated client returns as a
// CreateLogEntryConflict; the entry it names is the original.
func TestDuplicate(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		ca := newTestCA(t)
		for _, sg := range []*signed{keySigned(t, "dup"), certSigned(t, ca, "dup@interop.invalid", "dup")} {
			uuid, first := c.create(t, sg.entry)
			p := entries.NewCreateLogEntryParams()
			p.SetProposedEntry(sg.entry)
			_, err := c.rekor.Entries.CreateLogEntryContext(ctx(t), p)
			var conflict *entries.CreateLogEntryConflict
			if !errors.As(err, &conflict) {
				t.Fatalf("second CreateLogEntry: %v (%T), want *entries.CreateLogEntryConflict", err, err)
			}
			if conflict.Payload == nil || conflict.Payload.Code != 409 ||
				!strings.Contains(conflict.Payload.Message, uuid) {
				t.Errorf("409 payload %+v: want code 409 and a message naming %s", conflict.Payload, uuid)
			}
			loc := conflict.Location.String()
			if loc != "/api/v1/log/entries/"+uuid {
				t.Errorf("409 Location %q, want /api/v1/log/entries/%s", loc, uuid)
			}
			got, e := c.getByUUID(t, uuidOf(loc))
			if got != uuid || *e.LogIndex != *first.LogIndex || *e.IntegratedTime != *first.IntegratedTime {
				t.Errorf("the conflicting entry is %s at %d, want %s at %d", got, *e.LogIndex, uuid, *first.LogIndex)
			}
			c.verifyEntry(t, e)
		}
		if n := *c.logInfo(t).TreeSize; n != 2 {
			t.Errorf("tree size %d after two entries and two duplicates, want 2", n)
		}
	})
}
