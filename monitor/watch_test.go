package monitor_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tabularium/tabula/monitor"
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
	for _, name := range append(files, more...) {
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
