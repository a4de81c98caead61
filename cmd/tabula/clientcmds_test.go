package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/signer"
)

// tabula runs one command in-process and returns its exit code and output.
func tabula(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func mustTabula(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := tabula(t, args...)
	if code != 0 {
		t.Fatalf("tabula %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// keyPair writes a fresh ECDSA P-256 key's public half and returns a signer.
func keyPair(t *testing.T, dir string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signer.PublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return k, writeFile(t, dir, "signer.pub.pem", pub)
}

func signFile(t *testing.T, k crypto.Signer, artifact []byte) []byte {
	t.Helper()
	d := sha256.Sum256(artifact)
	sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(sig) + "\n")
}

// dsseEnvelope signs payload into a DSSE envelope (JSON).
func dsseEnvelope(t *testing.T, k crypto.Signer, payloadType string, payload []byte) []byte {
	t.Helper()
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
	d := sha256.Sum256([]byte(pae))
	sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"payloadType": payloadType, "payload": payload, "signatures": []map[string]any{{"keyid": "", "sig": sig}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var uuidRE = regexp.MustCompile(`UUID:\s+([0-9a-f]{80})`)

// TestClientCommands drives upload, get, search, loginfo and verify --online
// against a real `tabula serve`, on SQLite and PostgreSQL.
func TestClientCommands(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			c := defaultConfig(t)
			if engine == "postgres" {
				c.DatabaseURL = pgtest.NewDatabase(t)
			}
			url, _ := startServe(t, c)
			logKey := filepath.Join(c.DataDir, "log-key.pub.pem")
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			srv := []string{"--server", url, "--log-key", logKey}

			k, pub := keyPair(t, dir)
			art := []byte("hello, tabula\n")
			artifact := writeFile(t, dir, "artifact.txt", art)
			sig := writeFile(t, dir, "artifact.sig", signFile(t, k, art))
			bundle := filepath.Join(dir, "artifact.bundle.json")

			// loginfo on the empty log remembers its checkpoint.
			out := mustTabula(t, append([]string{"loginfo", "--state-dir", state}, srv...)...)
			if !strings.Contains(out, "Tree size:    0") || !strings.Contains(out, "first checkpoint") {
				t.Fatalf("loginfo:\n%s", out)
			}

			out = mustTabula(t, append([]string{"upload", "--artifact", artifact, "--signature", sig, "--key", pub, "--bundle", bundle}, srv...)...)
			m := uuidRE.FindStringSubmatch(out)
			if m == nil || !strings.Contains(out, "Index: 0") {
				t.Fatalf("upload:\n%s", out)
			}
			uuid := m[1]
			out = mustTabula(t, append([]string{"upload", "--artifact", artifact, "--signature", sig, "--key", pub}, srv...)...)
			if !strings.Contains(out, "already in the log") || !strings.Contains(out, uuid) {
				t.Fatalf("second upload:\n%s", out)
			}
			// A bad signature is refused by the log with Rekor's message.
			code, _, errs := tabula(t, append([]string{"upload", "--artifact", artifact, "--signature", writeFile(t, dir, "bad.sig", signFile(t, k, []byte("other"))), "--key", pub}, srv...)...)
			if code != 1 || !strings.Contains(errs, "400") {
				t.Fatalf("bad signature upload: exit %d, %s", code, errs)
			}

			// A certificate-signed entry by digest; get shows its identity.
			cs, err := testentry.NewCertSigner("alice@example.com")
			if err != nil {
				t.Fatal(err)
			}
			art2 := []byte("second artifact")
			d2 := sha256.Sum256(art2)
			sig2, err := cs.SignDigest(d2[:])
			if err != nil {
				t.Fatal(err)
			}
			cert := writeFile(t, dir, "alice.crt", cs.PublicKeyPEM())
			out = mustTabula(t, append([]string{"upload", "--digest", fmt.Sprintf("sha256:%x", d2), "--signature", writeFile(t, dir, "a2.sig", sig2), "--certificate", cert}, srv...)...)
			if !strings.Contains(out, "Index: 1") {
				t.Fatalf("cert upload:\n%s", out)
			}

			// DSSE and in-toto envelopes.
			stmt := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"artifact.txt","digest":{"sha256":"` + fmt.Sprintf("%x", sha256.Sum256(art)) + `"}}],"predicateType":"https://example.com/p","predicate":{}}`)
			env := writeFile(t, dir, "env.json", dsseEnvelope(t, k, "application/vnd.in-toto+json", stmt))
			dsseBundle := filepath.Join(dir, "dsse.bundle.json")
			out = mustTabula(t, append([]string{"upload", "--envelope", env, "--key", pub, "--bundle", dsseBundle}, srv...)...)
			if !strings.Contains(out, "Index: 2") {
				t.Fatalf("dsse upload:\n%s", out)
			}
			env2 := writeFile(t, dir, "env2.json", dsseEnvelope(t, k, "application/vnd.in-toto+json", bytes.Replace(stmt, []byte("{}}"), []byte(`{"x":1}}`), 1)))
			out = mustTabula(t, append([]string{"upload", "--envelope", env2, "--type", "intoto", "--key", pub}, srv...)...)
			if !strings.Contains(out, "Index: 3") {
				t.Fatalf("intoto upload:\n%s", out)
			}

			// get: pretty and verified, by index and UUID; raw JSON.
			out = mustTabula(t, append([]string{"get", "--log-index", "0"}, srv...)...)
			if !strings.Contains(out, uuid) || !strings.Contains(out, "inclusion proof, checkpoint and SET verified (pinned log key)") || !strings.Contains(out, "hashedrekord 0.0.1") {
				t.Fatalf("get:\n%s", out)
			}
			out = mustTabula(t, append([]string{"get", "--uuid", uuid[16:]}, srv...)...)
			if !strings.Contains(out, "Index:           0") {
				t.Fatalf("get --uuid:\n%s", out)
			}
			out = mustTabula(t, append([]string{"get", "--log-index", "1"}, srv...)...)
			if !strings.Contains(out, "Signer:          alice@example.com (OIDC issuer "+testentry.OIDCIssuer+")") {
				t.Fatalf("get cert entry:\n%s", out)
			}
			out = mustTabula(t, append([]string{"get", "--log-index", "0", "--json"}, srv...)...)
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &raw); err != nil || raw[uuid] == nil {
				t.Fatalf("get --json: %v\n%s", err, out)
			}
			// verify --entry checks a saved entry offline; a tampered one fails.
			entryFile := writeFile(t, dir, "entry.json", []byte(out))
			if out := mustTabula(t, "verify", "--entry", entryFile, "--log-key", logKey); !strings.Contains(out, "Verified OK") {
				t.Fatalf("verify --entry:\n%s", out)
			}
			tampered := strings.Replace(out, `"integratedTime": `, `"integratedTime": 1`, 1)
			if code, vout, _ := tabula(t, "verify", "--entry", writeFile(t, dir, "bad-entry.json", []byte(tampered)), "--log-key", logKey); code != 1 || !strings.Contains(vout, "✗ signed entry timestamp") {
				t.Fatalf("verify --entry tampered: exit %d\n%s", code, vout)
			}
			// get with the wrong pinned key fails.
			_, other := keyPair(t, t.TempDir())
			if code, _, _ := tabula(t, "get", "--log-index", "0", "--server", url, "--log-key", other); code != 1 {
				t.Fatalf("get with a wrong log key: exit %d", code)
			}
			if code, _, _ := tabula(t, "get", "--log-index", "99", "--server", url); code != 1 {
				t.Fatalf("get of a missing entry: exit %d", code)
			}

			// search by artifact, digest, key, email.
			for _, q := range [][]string{
				{"--artifact", artifact},
				{"--digest", fmt.Sprintf("sha256:%x", sha256.Sum256(art))},
				{"--public-key", pub},
			} {
				out = mustTabula(t, append(append([]string{"search"}, q...), "--server", url)...)
				if !strings.Contains(out, uuid[16:]) {
					t.Fatalf("search %v:\n%s", q, out)
				}
			}
			for _, q := range [][]string{{"--email", "alice@example.com"}, {"--certificate-identity", "alice@example.com"}, {"--email", "alice@example.com", "--artifact", artifact}} {
				out = mustTabula(t, append(append([]string{"search"}, q...), "--server", url)...)
				want := 1
				if len(q) > 2 {
					want = 0 // "and": alice did not sign artifact.txt
				}
				if got := len(strings.Fields(out)); got != want {
					t.Fatalf("search %v: %d results, want %d\n%s", q, got, want, out)
				}
			}

			// loginfo proves consistency with the remembered checkpoint.
			out = mustTabula(t, append([]string{"loginfo", "--state-dir", state}, srv...)...)
			if !strings.Contains(out, "Tree size:    4") || !strings.Contains(out, "consistent with the last verified checkpoint (size 0)") {
				t.Fatalf("loginfo:\n%s", out)
			}
			out = mustTabula(t, append([]string{"loginfo", "--state-dir", state}, srv...)...)
			if !strings.Contains(out, "(size 4)") {
				t.Fatalf("loginfo again:\n%s", out)
			}

			// verify the bundles offline with the log key alone, and online.
			out = mustTabula(t, "verify", "--bundle", bundle, "--log-key", logKey, "--key", pub, "--artifact", artifact, "--online", "--server", url)
			if !strings.Contains(out, "Verified OK") || !strings.Contains(out, "✓ entry is in the live log") || !strings.Contains(out, "✓ checkpoint signature") {
				t.Fatalf("verify:\n%s", out)
			}
			out = mustTabula(t, "verify", "--bundle", dsseBundle, "--log-key", logKey, "--key", pub, "--artifact", artifact)
			if !strings.Contains(out, "Verified OK") {
				t.Fatalf("verify dsse:\n%s", out)
			}
			for _, bad := range []struct {
				args  []string
				check string
			}{
				{[]string{"--key", pub, "--artifact", writeFile(t, dir, "other.txt", []byte("other"))}, "✗ artifact signature"},
				{[]string{"--key", other, "--artifact", artifact}, "✗ "},
				{[]string{"--artifact", artifact}, "✗ signing key"},
			} {
				code, out, _ := tabula(t, append([]string{"verify", "--bundle", bundle, "--log-key", logKey}, bad.args...)...)
				if code != 1 || !strings.Contains(out, bad.check) || !strings.Contains(out, "FAILED") {
					t.Fatalf("verify %v: exit %d\n%s", bad.args, code, out)
				}
			}
			// With another log's key, the bundle's log is unknown.
			code, out, _ = tabula(t, "verify", "--bundle", bundle, "--log-key", other, "--key", pub, "--artifact", artifact)
			if code != 1 || !strings.Contains(out, "✗ log is trusted") {
				t.Fatalf("verify with another log key: exit %d\n%s", code, out)
			}
		})
	}
}

// TestVerifyPublicGood runs `tabula verify` on the real public-good bundles
// and negative vectors (copied into verify/testdata/public-good).
func TestVerifyPublicGood(t *testing.T) {
	const pg = "../../verify/testdata/public-good/"
	root := pg + "trusted-root-public-good-full.json"
	accept := [][]string{
		{"bundle-v0.1-hashedrekord-x509chain.json", "--artifact", pg + "artifact-a.txt", "--certificate-identity", "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main", "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com"},
		{"bundle-v0.2-hashedrekord-x509chain.json", "--artifact", pg + "artifact-protobuf-specs-a.txt", "--certificate-identity", "a@tny.town", "--certificate-oidc-issuer", "https://github.com/login/oauth"},
		{"bundle-v0.3-hashedrekord-cert.json", "--digest", "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf", "--certificate-identity-regexp", "^https://github.com/sigstore-conformance/", "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com"},
		{"bundle-v0.3-hashedrekord-cert-rfc3161.json", "--artifact", pg + "artifact-cosign-v3-blob.txt", "--certificate-identity", "w.vollprecht@gmail.com", "--certificate-oidc-issuer", "https://github.com/login/oauth"},
		{"bundle-v0.3-hashedrekord-cert-rsa2048.json", "--artifact", pg + "artifact-a.txt", "--insecure-ignore-identity"},
		{"bundle-v0.3-hashedrekord-publickey.json", "--artifact", pg + "artifact-a.txt", "--key", pg + "publickey-conformance-managed-key.pem"},
		{"bundle-v0.1-intoto-npm-provenance-sigstore-2.0.0.json", "--insecure-ignore-identity"},
		{"bundle-v0.2-intoto-npm-publish-sigstore-1.0.0.json", "--certificate-identity", "brian@dehamer.com", "--certificate-oidc-issuer", "https://github.com/login/oauth"},
		{"bundle-v0.3-dsse-intoto-cert.json", "--artifact", pg + "artifact-a.txt", "--insecure-ignore-identity"},
		{"bundle-v0.3-dsse-npm-publish-sigstore-1.0.0.json", "--insecure-ignore-identity"},
		{"bundle-v0.1-hashedrekord-proof-no-checkpoint-cpython-3.12.5.json", "--digest", "sha256:38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405", "--certificate-identity", "thomas@python.org", "--certificate-oidc-issuer-regexp", ".+"},
		{"bundle-npm-publish-intoto-set-only.json", "--key", pg + "publickey-npm-publish.pem"},
		{"bundle-v0.3-rekor2-prod-hashedrekord002-dsse-cert.json", "--insecure-ignore-identity"},
		{"bundle-v0.3-rekor2-prod-hashedrekord002-cert.transcribed.json", "--artifact", pg + "artifact-hello-world.txt", "--insecure-ignore-identity"},
		{"bundle-v0.3-rekor2-prod-dsse002-cert.transcribed.json", "--certificate-identity", "brian@dehamer.com", "--certificate-oidc-issuer", "https://github.com/login/oauth"},
	}
	for _, a := range accept {
		t.Run("accept/"+a[0], func(t *testing.T) {
			out := mustTabula(t, append([]string{"verify", "--bundle", pg + a[0], "--trusted-root", root}, a[1:]...)...)
			if !strings.Contains(out, "Verified OK") {
				t.Fatalf("%s", out)
			}
		})
	}
	// Staging Rekor v2 bundles with their own roots.
	for _, a := range [][]string{
		{"bundle-v0.3-rekor2-staging-hashedrekord002-cert.json", "trusted-root-staging-rekor2-alpha1.json"},
		{"bundle-v0.3-rekor2-staging-checkpoint-cosig-before-log-sig.json", "trusted-root-staging-rekor2-alpha1.json"},
		{"bundle-v0.3-rekor2-staging-dsse-witnessed-checkpoint.json", "trusted-root-staging-rekor2-alpha3.json"},
	} {
		t.Run("accept/"+a[0], func(t *testing.T) {
			mustTabula(t, "verify", "--bundle", pg+a[0], "--trusted-root", pg+a[1], "--artifact", pg+"artifact-a.txt", "--insecure-ignore-identity")
		})
	}
	reject := []struct {
		file, root, check string
		extra             []string
	}{
		{"reject-inclusion-proof-corrupted-hash.json", "", "inclusion proof", nil},
		{"reject-inclusion-proof-stale-no-checkpoint.json", "", "inclusion proof", nil},
		{"reject-checkpoint-wrong-roothash.json", "", "checkpoint matches the proof", nil},
		{"reject-checkpoint-invalid-signature.json", "", "checkpoint signature", nil},
		{"reject-checkpoint-bad-keyhint.json", "", "checkpoint signature", nil},
		{"reject-set-invalid-signature.json", "", "signed entry timestamp", nil},
		{"reject-body-tampered-public-key.json", "", "inclusion proof", nil},
		{"reject-wrong-instance-staging-log.json", "", "log is trusted", nil},
		{"reject-v0.2-missing-inclusion-proof.json", "", "inclusion proof", nil},
		{"reject-v0.3-no-signed-time.json", "", "signed time", []string{"--artifact", pg + "artifact-no-signed-time.txt"}},
		{"reject-negative-log-index.json", "", "log index", nil},
		{"reject-unknown-bundle-version.json", "", "bundle format", nil},
		{"reject-artifact-signature-mismatch.json", "", "log entry matches the bundle", nil},
		{"reject-hashedrekord-entry-for-other-artifact.json", "", "log entry matches the bundle", nil},
		{"reject-dsse-envelope-not-the-logged-one.json", "", "log entry matches the bundle", nil},
		{"reject-integrated-time-outside-cert-validity.json", "", "integrated time within the certificate's validity", nil},
		{"reject-rekor2-staging-no-inclusion-proof.json", "trusted-root-staging-rekor2-alpha1.json", "inclusion proof", nil},
		{"reject-rekor2-staging-checkpoint-wrong-signer-name.json", "trusted-root-staging-rekor2-alpha1.json", "checkpoint signature", nil},
		// A key-signed bundle without --key, and a right bundle with the wrong identity.
		{"bundle-v0.3-hashedrekord-publickey.json", "", "signing key", nil},
		{"bundle-v0.3-hashedrekord-cert.json", "", "certificate identity policy", []string{"--artifact", pg + "artifact-a.txt", "--certificate-identity", "mallory@example.com", "--certificate-oidc-issuer", "https://github.com/login/oauth"}},
	}
	for _, r := range reject {
		t.Run("reject/"+r.file, func(t *testing.T) {
			rt := root
			if r.root != "" {
				rt = pg + r.root
			}
			args := []string{"verify", "--bundle", pg + r.file, "--trusted-root", rt}
			if r.extra != nil {
				args = append(args, r.extra...)
			} else {
				args = append(args, "--artifact", pg+"artifact-a.txt", "--insecure-ignore-identity")
			}
			code, out, errs := tabula(t, args...)
			if code != 1 || !strings.Contains(out, "✗ "+r.check) || !strings.Contains(out, "FAILED") {
				t.Fatalf("exit %d, want 1 with ✗ %s\n%s%s", code, r.check, out, errs)
			}
		})
	}
}
