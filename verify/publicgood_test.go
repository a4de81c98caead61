package verify_test

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/verify"
)

const pg = "testdata/public-good/"

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(pg + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemKey(t *testing.T, name string) crypto.PublicKey {
	t.Helper()
	k, err := signer.ParsePublicKeyPEM(read(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func digest(t *testing.T, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	fullRoot   = "trusted-root-public-good-full.json"
	v1Key      = "rekor-v1-public-good.pem" // the Rekor v1 key of the full root, as PEM
	alpha1Root = "trusted-root-staging-rekor2-alpha1.json"
	alpha3Root = "trusted-root-staging-rekor2-alpha3.json"

	beacon       = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
	githubIssuer = "https://token.actions.githubusercontent.com"
)

// TestPublicGood runs every real public-good bundle and negative vector
// (README.md in testdata/public-good says where each comes from) through
// verify.Bundle. wantCheck is the check a reject must fail, "" to accept.
func TestPublicGood(t *testing.T) {
	type tc struct {
		bundle    string
		root      string
		artifact  string // file in testdata/public-good
		digest    string // sha256 hex, instead of artifact
		key       string // PEM for key-signed bundles
		logKey    string // pinned log key PEM, besides or instead of root
		identity  *verify.Identity
		wantCheck string
	}
	ignore := (*verify.Identity)(nil)
	cases := []tc{
		// Accept: production Rekor v1.
		{bundle: "bundle-v0.1-hashedrekord-x509chain.json", root: fullRoot, artifact: "artifact-a.txt", identity: &verify.Identity{SAN: beacon, Issuer: githubIssuer}},
		{bundle: "bundle-v0.2-hashedrekord-x509chain.json", root: fullRoot, artifact: "artifact-protobuf-specs-a.txt", identity: &verify.Identity{SAN: "a@tny.town", Issuer: "https://github.com/login/oauth"}},
		{bundle: "bundle-v0.3-hashedrekord-cert.json", root: fullRoot, artifact: "artifact-a.txt", identity: &verify.Identity{SANRegexp: `^https://github\.com/sigstore-conformance/`, Issuer: githubIssuer}},
		{bundle: "bundle-v0.3-hashedrekord-cert.json", root: fullRoot, digest: "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf", identity: ignore},
		{bundle: "bundle-v0.3-hashedrekord-cert-rfc3161.json", root: fullRoot, artifact: "artifact-cosign-v3-blob.txt", identity: &verify.Identity{SAN: "w.vollprecht@gmail.com", Issuer: "https://github.com/login/oauth"}},
		{bundle: "bundle-v0.3-hashedrekord-cert-rsa2048.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore},
		{bundle: "bundle-v0.3-hashedrekord-publickey.json", root: fullRoot, artifact: "artifact-a.txt", key: "publickey-conformance-managed-key.pem"},
		{bundle: "bundle-v0.1-intoto-npm-provenance-sigstore-2.0.0.json", root: fullRoot, identity: &verify.Identity{SAN: "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main", Issuer: githubIssuer}},
		{bundle: "bundle-v0.2-intoto-npm-publish-sigstore-1.0.0.json", root: fullRoot, identity: &verify.Identity{SAN: "brian@dehamer.com", Issuer: "https://github.com/login/oauth"}},
		{bundle: "bundle-v0.3-dsse-intoto-cert.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore},
		{bundle: "bundle-v0.3-dsse-npm-publish-sigstore-1.0.0.json", root: fullRoot, identity: ignore},
		// Accepted under v0.1 rules: the SET is the promise.
		{bundle: "bundle-v0.1-hashedrekord-proof-no-checkpoint-cpython-3.12.5.json", root: fullRoot, digest: "38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405", identity: &verify.Identity{SAN: "thomas@python.org", IssuerRegexp: ".+"}},
		{bundle: "bundle-npm-publish-intoto-set-only.json", root: fullRoot, key: "publickey-npm-publish.pem"},
		// The log parts with a pinned log key alone (no trusted root).
		{bundle: "bundle-npm-publish-intoto-set-only.json", logKey: v1Key, key: "publickey-npm-publish.pem"},
		{bundle: "bundle-v0.3-hashedrekord-publickey.json", logKey: v1Key, artifact: "artifact-a.txt", key: "publickey-conformance-managed-key.pem"},
		// Accept: production Rekor v2 (needs the full root).
		{bundle: "bundle-v0.3-rekor2-prod-hashedrekord002-dsse-cert.json", root: fullRoot, identity: ignore},
		// Transcribed from sigstore-js: a hashedrekord 0.0.2 entry that logs
		// the certificate's public key (not the certificate), and a dsse
		// 0.0.2 entry; sigstore-go v1.3.0 can match neither, Tabula does.
		{bundle: "bundle-v0.3-rekor2-prod-hashedrekord002-cert.transcribed.json", root: fullRoot, artifact: "artifact-hello-world.txt", identity: ignore},
		{bundle: "bundle-v0.3-rekor2-prod-hashedrekord002-cert.transcribed.json", root: fullRoot, digest: "68e656b251e67e8358bef8483ab0d51c6619f3e7a1a9f0e75838d41ff368f728", identity: ignore},
		{bundle: "bundle-v0.3-rekor2-prod-dsse002-cert.transcribed.json", root: fullRoot, identity: ignore},
		{bundle: "bundle-v0.3-rekor2-prod-dsse002-cert.transcribed.json", root: fullRoot, identity: &verify.Identity{SAN: "brian@dehamer.com", Issuer: "https://github.com/login/oauth"}},
		// Accept: staging Rekor v2.
		{bundle: "bundle-v0.3-rekor2-staging-hashedrekord002-cert.json", root: alpha1Root, artifact: "artifact-a.txt", identity: ignore},
		{bundle: "bundle-v0.3-rekor2-staging-checkpoint-cosig-before-log-sig.json", root: alpha1Root, artifact: "artifact-a.txt", identity: ignore},
		{bundle: "bundle-v0.3-rekor2-staging-dsse-witnessed-checkpoint.json", root: alpha3Root, identity: ignore},

		// Rejects.
		{bundle: "bundle-v0.3-hashedrekord-publickey.json", root: fullRoot, artifact: "artifact-a.txt", wantCheck: verify.CheckKey},
		{bundle: "bundle-v0.3-rekor2-prod-hashedrekord002-dsse-cert.json", logKey: v1Key, identity: ignore, wantCheck: verify.CheckLogKnown},
		{bundle: "bundle-v0.3-rekor2-staging-hashedrekord002-cert.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckLogKnown},
		{bundle: "bundle-v0.3-hashedrekord-cert.json", root: fullRoot, artifact: "artifact-a.txt", identity: &verify.Identity{SAN: "someone@else.example", Issuer: githubIssuer}, wantCheck: verify.CheckIdentity},
		{bundle: "bundle-v0.3-hashedrekord-cert.json", root: fullRoot, artifact: "artifact-a.txt", wantCheck: verify.CheckIdentity},
		{bundle: "bundle-v0.3-hashedrekord-cert.json", root: fullRoot, artifact: "artifact-hello-world.txt", identity: ignore, wantCheck: verify.CheckArtifactSig},
		{bundle: "bundle-v0.3-hashedrekord-cert.json", logKey: v1Key, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckCertChain},
		{bundle: "reject-inclusion-proof-corrupted-hash.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckInclusionProof},
		{bundle: "reject-inclusion-proof-stale-no-checkpoint.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckInclusionProof},
		{bundle: "reject-checkpoint-wrong-roothash.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckCheckpointRoot},
		{bundle: "reject-checkpoint-invalid-signature.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckCheckpointSig},
		{bundle: "reject-checkpoint-bad-keyhint.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckCheckpointSig},
		{bundle: "reject-set-invalid-signature.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckSET},
		{bundle: "reject-body-tampered-public-key.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckInclusionProof},
		{bundle: "reject-wrong-instance-staging-log.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckLogKnown},
		{bundle: "reject-v0.2-missing-inclusion-proof.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckInclusionProof},
		{bundle: "reject-v0.3-no-signed-time.json", root: fullRoot, artifact: "artifact-no-signed-time.txt", identity: ignore, wantCheck: verify.CheckSignedTime},
		{bundle: "reject-negative-log-index.json", root: fullRoot, identity: ignore, wantCheck: verify.CheckLogIndex},
		{bundle: "reject-unknown-bundle-version.json", root: fullRoot, identity: ignore, wantCheck: verify.CheckBundleFormat},
		{bundle: "reject-artifact-signature-mismatch.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckEntryMatches},
		{bundle: "reject-hashedrekord-entry-for-other-artifact.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckEntryMatches},
		{bundle: "reject-dsse-envelope-not-the-logged-one.json", root: fullRoot, identity: ignore, wantCheck: verify.CheckEntryMatches},
		{bundle: "reject-integrated-time-outside-cert-validity.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckCertValidity},
		{bundle: "reject-rekor2-staging-no-inclusion-proof.json", root: alpha1Root, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckInclusionProof},
		{bundle: "reject-rekor2-staging-checkpoint-wrong-signer-name.json", root: alpha1Root, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckCheckpointSig},
		// Rejects of the transcribed Rekor v2 vectors, tampered: the
		// body-vs-bundle match for Rekor v2 entries is Tabula's own.
		{bundle: "bundle-v0.3-rekor2-prod-hashedrekord002-cert.transcribed.json", root: fullRoot, artifact: "artifact-a.txt", identity: ignore, wantCheck: verify.CheckEntryMatches},
		{bundle: "bundle-v0.3-rekor2-prod-hashedrekord002-cert.transcribed.json", root: fullRoot, digest: "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf", identity: ignore, wantCheck: verify.CheckEntryMatches},
		{bundle: "bundle-v0.3-rekor2-prod-dsse002-cert.transcribed.json", root: fullRoot, identity: &verify.Identity{SAN: "someone@else.example", Issuer: "https://github.com/login/oauth"}, wantCheck: verify.CheckIdentity},
	}
	for _, c := range cases {
		name := strings.TrimSuffix(c.bundle, ".json") + "/" + strings.TrimSuffix(strings.TrimPrefix(c.root+c.logKey, "trusted-root-"), ".json")
		if c.wantCheck != "" {
			name += "/reject-" + strings.ReplaceAll(c.wantCheck, " ", "-")
		}
		t.Run(name, func(t *testing.T) {
			opts := verify.BundleOptions{Identity: c.identity}
			if c.root != "" {
				opts.TrustedRoot = read(t, c.root)
			}
			if c.logKey != "" {
				k, err := verify.ParseLogKeyPEM(read(t, c.logKey))
				if err != nil {
					t.Fatal(err)
				}
				opts.LogKeys = []verify.LogKey{k}
			}
			// A nil identity on a case without a key and without an
			// expected identity failure means "explicitly ignored".
			opts.InsecureIgnoreIdentity = c.identity == nil && c.wantCheck != verify.CheckIdentity
			if c.artifact != "" {
				opts.Artifact = bytes.NewReader(read(t, c.artifact))
			}
			if c.digest != "" {
				opts.ArtifactDigest = digest(t, c.digest)
			}
			if c.key != "" {
				opts.Key = pemKey(t, c.key)
			}
			r, err := verify.Bundle(read(t, c.bundle), opts)
			if c.wantCheck == "" {
				if err != nil {
					t.Fatalf("rejected: %v (passed: %v)", err, r.Checks)
				}
				for _, must := range []string{verify.CheckBundleFormat, verify.CheckLogKnown, verify.CheckArtifactSig, verify.CheckEntryMatches} {
					if !contains(r.Checks, must) {
						t.Errorf("check %q not reported as passed: %v", must, r.Checks)
					}
				}
				return
			}
			var ce *verify.CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("accepted or untyped error: %v (passed: %v)", err, r.Checks)
			}
			if ce.Check != c.wantCheck {
				t.Fatalf("failed check %q (%v), want %q", ce.Check, ce.Err, c.wantCheck)
			}
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestEveryVectorCovered fails when a bundle or reject vector in testdata
// has no case above, so a new vector cannot be silently skipped.
func TestEveryVectorCovered(t *testing.T) {
	src, err := os.ReadFile("publicgood_test.go")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(pg + "*.json")
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.HasPrefix(base, "bundle-") && !strings.HasPrefix(base, "reject-") {
			continue
		}
		if !bytes.Contains(src, []byte(`"`+base+`"`)) {
			t.Errorf("%s has no test case", base)
		}
	}
}

func readFile(name string) ([]byte, error) { return os.ReadFile(pg + name) }

func mustRead(f *testing.F, name string) []byte {
	b, err := readFile(name)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
