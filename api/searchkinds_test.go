package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/dsse"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// sanEntry is a validly signed hashedrekord entry over artifact by a fresh
// key with a self-made certificate carrying the given SANs.
func sanEntry(t *testing.T, artifact string, dns, emails []string, uris ...string) []byte {
	t.Helper()
	spec := testentry.SelfSigned{DNSNames: dns, Emails: emails}
	for _, u := range uris {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		spec.URIs = append(spec.URIs, p)
	}
	return selfSignedEntry(t, spec, artifact)
}

// selfSignedEntry is a hashedrekord entry over artifact by a fresh key with
// a self-signed certificate made to spec.
func selfSignedEntry(t *testing.T, spec testentry.SelfSigned, artifact string) []byte {
	t.Helper()
	s, err := testentry.NewSelfSignedSigner(spec)
	if err != nil {
		t.Fatal(err)
	}
	body, err := s.HashedRekord([]byte(artifact))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// search asks POST /api/v1/index/retrieve and returns the IDs, sorted.
func (s *server) search(query string) []string {
	s.t.Helper()
	resp, b := s.do("POST", "/api/v1/index/retrieve", []byte(query))
	if resp.StatusCode != 200 {
		s.t.Fatalf("search %s: status %d: %s", query, resp.StatusCode, b)
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		s.t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	out := append([]string{}, ids...)
	slices.Sort(out)
	return out
}

// TestSearchKindsApart is issue 10's class 6: an entry whose certificate
// names a victim's key fingerprint (DNS SAN), artifact digest (email SAN
// "sha256:<hex>") and email (URI SAN) is not found by the searches for the
// victim's key, digest or email, yet is found by the searches for what its
// SANs are.
func TestSearchKindsApart(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServer(t, e, 0)
			victim, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			victimCert, err := testentry.NewCertSigner("victim@example.com")
			if err != nil {
				t.Fatal(err)
			}
			artifact := []byte("the victim's artifact")
			sum := sha256.Sum256(artifact)
			digest := hex.EncodeToString(sum[:])
			k, err := pki.ParsePEM(victim.PublicKeyPEM())
			if err != nil {
				t.Fatal(err)
			}
			fp, err := k.Fingerprint()
			if err != nil {
				t.Fatal(err)
			}
			victimID := s.upload(mustEntry(t, victim, artifact))
			victimCertID := s.upload(mustEntry(t, victimCert, []byte("the victim's other artifact")))
			attackerID := s.upload(sanEntry(t, "the attacker's artifact",
				[]string{fp}, []string{"sha256:" + digest}, "victim@example.com"))

			victimKey := base64.StdEncoding.EncodeToString(victim.PublicKeyPEM())
			tests := []struct {
				name, query string
				want        []string
			}{
				{"digest", fmt.Sprintf(`{"hash":"sha256:%s"}`, digest), sorted(victimID)},
				{"bare digest", fmt.Sprintf(`{"hash":%q}`, digest), sorted(victimID)},
				{"key", fmt.Sprintf(`{"publicKey":{"format":"x509","content":%q}}`, victimKey), sorted(victimID)},
				{"email", `{"email":"victim@example.com"}`, sorted(victimCertID)},
				{"digest or key or email", fmt.Sprintf(`{"hash":%q,"publicKey":{"format":"x509","content":%q},"email":"victim@example.com"}`, digest, victimKey),
					sorted(victimID, victimCertID)},
				// Each SAN is found as what it is.
				{"subject: the DNS SAN", fmt.Sprintf(`{"subject":%q}`, fp), sorted(attackerID)},
				{"subject: the email SAN", fmt.Sprintf(`{"subject":"sha256:%s"}`, digest), sorted(attackerID)},
				// subject matches certificate subjects and emails: the
				// attacker's URI SAN and the victim's email SAN.
				{"subject: the URI SAN", `{"subject":"victim@example.com"}`, sorted(victimCertID, attackerID)},
				{"subject and email", `{"operator":"and","subject":"victim@example.com","email":"victim@example.com"}`, sorted(victimCertID)},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if got := s.search(tt.query); !slices.Equal(got, tt.want) {
						t.Fatalf("got %v, want %v (victim %s, victim cert %s, attacker %s)", got, tt.want, victimID, victimCertID, attackerID)
					}
				})
			}
		})
	}
}

// TestSearchKeysAnyValue is issue 10's class 1, search-key half: keys with
// a NUL byte or thousands of characters are stored as any other (201, not
// 400 or 503) on both engines, and found.
func TestSearchKeysAnyValue(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", 4000)
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServer(t, e, 0)
			nul := s.upload(sanEntry(t, "nul", []string{"a\x00b.example.com"}, nil))
			longID := s.upload(sanEntry(t, "long", nil, []string{"long@example.com"}, long))
			if got := s.search(`{"subject":"a\u0000b.example.com"}`); !slices.Equal(got, []string{nul}) {
				t.Fatalf("subject with NUL: got %v, want %v", got, []string{nul})
			}
			if got := s.search(`{"subject":"A\u0000B.EXAMPLE.COM"}`); !slices.Equal(got, []string{nul}) {
				t.Fatalf("subject with NUL, upper case: got %v, want %v", got, []string{nul})
			}
			// The 4,000-character URI is over Rekor's 512-character limit
			// of a subject query; the entry is found by its other SAN.
			if got := s.search(`{"email":"long@example.com"}`); !slices.Equal(got, []string{longID}) {
				t.Fatalf("email of the long entry: got %v, want %v", got, []string{longID})
			}
			long512 := "https://example.com/" + strings.Repeat("b", 490)
			id512 := s.upload(sanEntry(t, "512", nil, nil, long512))
			if got := s.search(fmt.Sprintf(`{"subject":%q}`, long512)); !slices.Equal(got, []string{id512}) {
				t.Fatalf("subject of 510 characters: got %v, want %v", got, []string{id512})
			}
		})
	}
}

// TestSearchKeyCap: an entry indexed under more than types.MaxSearchKeys
// keys is refused with a 400 that says so; one at the cap is logged.
func TestSearchKeyCap(t *testing.T) {
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("h%d.example.com", i)
		}
		return out
	}
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServer(t, e, 0)
			// The key fingerprint and the digest make two more.
			atCap := s.upload(sanEntry(t, "at the cap", names(types.MaxSearchKeys-2), nil))
			if got := s.search(`{"subject":"h1021.example.com"}`); !slices.Equal(got, []string{atCap}) {
				t.Fatalf("last SAN of the entry at the cap: got %v, want %v", got, []string{atCap})
			}
			resp, b := s.do("POST", "/api/v1/log/entries", sanEntry(t, "over the cap", names(types.MaxSearchKeys-1), nil))
			msg := apiError(t, resp, b, 400)
			if want := fmt.Sprintf("indexed under %d search keys; this log indexes an entry under at most %d", types.MaxSearchKeys+1, types.MaxSearchKeys); !strings.Contains(msg, want) {
				t.Fatalf("message %q does not say %q", msg, want)
			}
		})
	}
}

// dsseStatement is a proposed dsse entry: an in-toto statement whose one
// subject has the digest {alg: value}, signed by a fresh P-256 key.
func dsseStatement(t *testing.T, alg, value string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const payloadType = "application/vnd.in-toto+json"
	payload, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://example.com/predicate",
		"subject":       []any{map[string]any{"name": "a", "digest": map[string]string{alg: value}}},
		"predicate":     map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
	sum := sha256.Sum256([]byte(pae))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	env, err := json.Marshal(map[string]any{
		"payloadType": payloadType,
		"payload":     base64.StdEncoding.EncodeToString(payload),
		"signatures":  []any{map[string]string{"sig": base64.StdEncoding.EncodeToString(sig)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{
		"kind": "dsse", "apiVersion": "0.0.1",
		"spec": map[string]any{"proposedContent": map[string]any{
			"envelope":  string(env),
			"verifiers": []string{base64.StdEncoding.EncodeToString(keyPEM(t, key.Public()))},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPoisonedKeysAmongGood is issue 10's class 1 reproducer, search-key
// half: dsse statements whose subject digest holds a NUL byte or 4,000
// characters, and certificates with such SANs, uploaded among good entries
// at once, are all logged (201), and the good entries are found.
func TestPoisonedKeysAmongGood(t *testing.T) {
	long := strings.Repeat("ab", 2000)
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServerWith(t, e, func(c *api.Config) { c.Types = types.NewRegistry(hashedrekord.New(), dsse.New()) })
			good, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			var bodies [][]byte
			for i := range 30 {
				bodies = append(bodies, mustEntry(t, good, fmt.Appendf(nil, "good %d", i)))
			}
			bodies = append(bodies,
				dsseStatement(t, "sha256", "ab\x00cd"),
				dsseStatement(t, "sha256", long),
				sanEntry(t, "nul SAN", []string{"x\x00y.example.com"}, nil),
				sanEntry(t, "long SAN", nil, nil, "https://example.com/"+long),
			)
			var wg sync.WaitGroup
			ids := make([]string, len(bodies))
			for i, b := range bodies {
				wg.Go(func() {
					resp, out := s.do("POST", "/api/v1/log/entries", b)
					if resp.StatusCode != 201 {
						t.Errorf("upload %d: %d %s", i, resp.StatusCode, out)
					}
					ids[i] = resp.Header.Get("ETag")
				})
			}
			wg.Wait()
			key := base64.StdEncoding.EncodeToString(good.PublicKeyPEM())
			if got, want := s.search(fmt.Sprintf(`{"publicKey":{"format":"x509","content":%q}}`, key)), sorted(ids[:30]...); !slices.Equal(got, want) {
				t.Fatalf("the good entries: found %d, want %d", len(got), len(want))
			}
		})
	}
}
