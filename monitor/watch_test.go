package monitor_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/monitor"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/rekorv2"
)

// TestParseBodyGolden reads the facts of every golden body of the entry
// types and checks them against the search keys the types index the entry
// by (testdata/golden/*.keys.json): every email, and at least one key
// fingerprint.
func TestParseBodyGolden(t *testing.T) {
	files, err := filepath.Glob("../types/*/testdata/golden/*.body.json")
	if err != nil || len(files) < 10 {
		t.Fatalf("golden bodies: %d, %v", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			facts, err := monitor.ParseBody(body)
			if err != nil {
				t.Fatal(err)
			}
			kb, err := os.ReadFile(strings.TrimSuffix(f, ".body.json") + ".keys.json")
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			if err := json.Unmarshal(kb, &keys); err != nil {
				t.Fatal(err)
			}
			fingerprints := 0
			for _, k := range keys {
				switch {
				case strings.Contains(k, "@"):
					if !slices.Contains(facts.Emails, k) {
						t.Errorf("email %s not in %v", k, facts.Emails)
					}
				case slices.Contains(facts.KeyFingerprints, strings.TrimPrefix(k, "sha256:")):
					fingerprints++
				}
			}
			if fingerprints == 0 || len(facts.Digests) == 0 || facts.Kind == "" || facts.APIVersion == "" {
				t.Errorf("facts %+v against search keys %q", facts, keys)
			}
		})
	}
}

// TestParseBodyPublicGood reads real public-good Rekor bodies.
func TestParseBodyPublicGood(t *testing.T) {
	dir := "../types/hashedrekord/testdata/public-good/"
	tests := []struct {
		file  string
		watch monitor.Watch
		want  []string
	}{
		{"bundle-v0.3-hashedrekord-cert.body.json",
			monitor.Watch{URIs: []string{"https://github.com/sigstore-conformance/*"}, OIDCIssuers: []string{"https://token.actions.githubusercontent.com"}},
			[]string{
				"uri:https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
				"oidc-issuer:https://token.actions.githubusercontent.com",
			}},
		{"bundle-v0.3-hashedrekord-cert.body.json", monitor.Watch{URIs: []string{"https://github.com/sigstore-conformance"}}, nil},
		{"bundle-v0.1-hashedrekord-proof-no-checkpoint-cpython-3.12.5.body.json",
			monitor.Watch{Emails: []string{"THOMAS@python.org"}, OIDCIssuers: []string{"https://github.com/login/oauth"}},
			[]string{"email:thomas@python.org"}},
		{"bundle-v0.3-hashedrekord-publickey.body.json",
			monitor.Watch{Digests: []string{"sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"}, Emails: []string{"*"}},
			[]string{"digest:sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"}},
		{"bundle-v0.3-hashedrekord-publickey.body.json",
			monitor.Watch{Digests: []string{"sha512:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"}}, nil},
	}
	for _, tt := range tests {
		b, err := os.ReadFile(dir + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		facts, err := monitor.ParseBody(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := tt.watch.Match(facts); !slices.Equal(got, tt.want) {
			t.Errorf("%s, watch %+v:\n got %q\nwant %q", tt.file, tt.watch, got, tt.want)
		}
	}
}

func TestParseBodyRejects(t *testing.T) {
	for _, b := range []string{"", "[]", `"x"`, "{", `{"kind":1}x`} {
		if _, err := monitor.ParseBody([]byte(b)); err == nil {
			t.Errorf("ParseBody(%q) accepted", b)
		}
	}
	// Unknown kinds and broken keys are read for what they hold.
	f, err := monitor.ParseBody([]byte(`{"kind":"cose","spec":{"publicKey":"LS0tLS1CRUdJTiBnYXJiYWdl","data":{"payloadHash":{"algorithm":"SHA256","value":"AB"}}}}`))
	if err != nil || !slices.Equal(f.Digests, []string{"sha256:ab"}) || len(f.KeyFingerprints) != 0 {
		t.Errorf("cose-like body: %+v, %v", f, err)
	}
}

func FuzzParseBody(f *testing.F) {
	files, _ := filepath.Glob("../types/*/testdata/golden/*.body.json")
	more, _ := filepath.Glob("../types/rekord/testdata/*.body.json")
	v2, _ := filepath.Glob("../types/rekorv2/testdata/public-good/*.body.json")
	for _, name := range slices.Concat(files, more, v2) {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"kind":"x","spec":{"a":[{"algorithm":"sha256","value":"00"}],"k":"LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0K"}}`))
	w := monitor.Watch{Emails: []string{"*"}, URIs: []string{"*"}, OIDCIssuers: []string{"*"}, KeyFingerprints: []string{"00"}, Digests: []string{"00"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		facts, err := monitor.ParseBody(b)
		if err != nil {
			return
		}
		for _, m := range w.Match(facts) {
			if !strings.Contains(m, ":") {
				t.Fatalf("match %q", m)
			}
		}
	})
}

// TestParseBodyRekorV2 reads hashedrekord 0.0.2 bodies (Rekor v2), made
// by types/rekorv2 from requests signed with a key and with a certificate:
// every search key the log indexes the entry by is a fact, and the watch
// list matches the signer.
func TestParseBodyRekorV2(t *testing.T) {
	keySigner, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	certSigner, err := testentry.NewCertSigner("alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		s     *testentry.Signer
		watch monitor.Watch
		want  []string
	}{
		{"key, watched key", keySigner, monitor.Watch{KeyFingerprints: []string{"KEY"}}, []string{"key:KEY"}},
		{"key, watched digest", keySigner, monitor.Watch{Digests: []string{"DIGEST"}}, []string{"digest:sha256:DIGEST"}},
		{"key, other digest", keySigner, monitor.Watch{Digests: []string{"sha384:DIGEST"}, Emails: []string{"*"}}, nil},
		{"certificate, watched identity", certSigner, monitor.Watch{Emails: []string{"*@EXAMPLE.com"}, OIDCIssuers: []string{testentry.OIDCIssuer}},
			[]string{"email:alice@example.com", "oidc-issuer:" + testentry.OIDCIssuer}},
		{"certificate, other identity", certSigner, monitor.Watch{Emails: []string{"bob@example.com"}, URIs: []string{"*"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			art := []byte("artifact of " + tt.name)
			req, err := tt.s.HashedRekordV2(art)
			if err != nil {
				t.Fatal(err)
			}
			e, err := rekorv2.CanonicalizeJSON(req)
			if err != nil {
				t.Fatal(err)
			}
			facts, err := monitor.ParseBody(e.Body)
			if err != nil {
				t.Fatal(err)
			}
			if facts.Kind != "hashedrekord" || facts.APIVersion != "0.0.2" {
				t.Errorf("kind %q version %q", facts.Kind, facts.APIVersion)
			}
			var fp, digest string
			for _, k := range e.SearchKeys {
				var in []string
				switch k.Kind {
				case types.KindKey:
					in, fp = facts.KeyFingerprints, k.Value
				case types.KindEmail:
					in = facts.Emails
				case types.KindDigest:
					in, digest = facts.Digests, strings.TrimPrefix(k.Value, "sha256:")
				default:
					continue
				}
				if !slices.Contains(in, k.Value) {
					t.Errorf("search key %s:%s is not in the facts %+v", k.Kind, k.Value, facts)
				}
			}
			if fp == "" || digest == "" {
				t.Fatalf("search keys %v: no key or digest", e.SearchKeys)
			}
			r := strings.NewReplacer("KEY", fp, "DIGEST", digest)
			for _, p := range []*[]string{&tt.watch.KeyFingerprints, &tt.watch.Digests} {
				for i := range *p {
					(*p)[i] = r.Replace((*p)[i])
				}
			}
			want := slices.Clone(tt.want)
			for i := range want {
				want[i] = r.Replace(want[i])
			}
			if got := tt.watch.Match(facts); !slices.Equal(got, want) {
				t.Errorf("watch %+v:\n got %q\nwant %q", tt.watch, got, want)
			}
		})
	}
}
