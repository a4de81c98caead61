package api_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/testentry"
)

// upload posts an entry and returns its entry ID.
func (s *server) upload(body []byte) string {
	s.t.Helper()
	resp, b := s.do("POST", "/api/v1/log/entries", body)
	if resp.StatusCode != 201 {
		s.t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	return resp.Header.Get("ETag")
}

func TestRetrieve(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			s := newServer(t, e, 0)
			k := s.logKey()
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			var bodies [][]byte
			for i := range 4 {
				b := newEntry(t, sgn, fmt.Sprint("retrieve ", i))
				bodies = append(bodies, b)
				ids = append(ids, s.upload(b))
			}
			absent := newEntry(t, sgn, "never uploaded")
			tests := []struct {
				name  string
				query string
				want  []string // entry IDs in order
				code  int
			}{
				{"by 80-hex UUIDs", fmt.Sprintf(`{"entryUUIDs":[%q,%q]}`, ids[2], ids[0]), []string{ids[2], ids[0]}, 200},
				{"by 64-hex UUID", fmt.Sprintf(`{"entryUUIDs":[%q]}`, ids[1][16:]), []string{ids[1]}, 200},
				{"by index", `{"logIndexes":[3,0,99]}`, []string{ids[3], ids[0]}, 200},
				{"by proposed entry", fmt.Sprintf(`{"entries":[%s,%s]}`, bodies[1], absent), []string{ids[1]}, 200},
				{"UUIDs and entries before indexes", fmt.Sprintf(`{"logIndexes":[0],"entryUUIDs":[%q]}`, ids[3]), []string{ids[3], ids[0]}, 200},
				{"all misses", fmt.Sprintf(`{"entryUUIDs":[%q],"logIndexes":[1000]}`, strings.Repeat("ab", 32)), []string{}, 200},
				{"other tree", fmt.Sprintf(`{"entryUUIDs":[%q]}`, "0000000000000001"+ids[0][16:]), []string{}, 200},
				{"too many", `{"logIndexes":[0,1,2,3,4,5],"entryUUIDs":["` + strings.Repeat("a", 64) + `","` + strings.Repeat("b", 64) + `","` + strings.Repeat("c", 64) + `","` + strings.Repeat("d", 64) + `","` + strings.Repeat("e", 64) + `"]}`, nil, 422},
				{"negative index", `{"logIndexes":[-1]}`, nil, 422},
				{"bad UUID", `{"entryUUIDs":["xyz"]}`, nil, 422},
				{"bad entry", `{"entries":[{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}}]}`, nil, 400},
				{"unknown kind", `{"entries":[{"kind":"nope","apiVersion":"0.0.1","spec":{}}]}`, nil, 422},
				{"wrong type", `{"logIndexes":"zero"}`, nil, 400},
				{"malformed", `{"logIndexes":[`, nil, 400},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, b := s.do("POST", "/api/v1/log/entries/retrieve", []byte(tt.query))
					if resp.StatusCode != tt.code {
						t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.code, b)
					}
					if tt.code != 200 {
						var e models.Error
						if json.Unmarshal(b, &e) != nil || e.Code != tt.code || e.Message == "" {
							t.Fatalf("error body %s", b)
						}
						return
					}
					var got []models.LogEntry
					if err := json.Unmarshal(b, &got); err != nil {
						t.Fatal(err)
					}
					if got == nil {
						t.Fatalf("body %s: want a list, not null", b)
					}
					gotIDs := []string{}
					for _, le := range got {
						id, _, _ := verifyEntry(t, k, le)
						gotIDs = append(gotIDs, id)
					}
					if !slices.Equal(gotIDs, tt.want) {
						t.Fatalf("got %v, want %v", gotIDs, tt.want)
					}
				})
			}
			// The trailing-slash form older sigstore-python sends.
			if resp, b := s.do("POST", "/api/v1/log/entries/retrieve/", []byte(`{"logIndexes":[0]}`)); resp.StatusCode != 200 {
				t.Fatalf("trailing slash: %d %s", resp.StatusCode, b)
			}
		})
	}
}

func TestSearchIndex(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			s := newServer(t, e, 0)
			alice, err := testentry.NewCertSigner("alice@example.com")
			if err != nil {
				t.Fatal(err)
			}
			bob, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			// Written concurrently: the index is committed with the entries,
			// so every search below sees all of them.
			var (
				mu       sync.Mutex
				aliceIDs []string
				bobIDs   []string
				wg       sync.WaitGroup
			)
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sgn, ids := bob, &bobIDs
					if i%2 == 0 {
						sgn, ids = alice, &aliceIDs
					}
					body, err := sgn.HashedRekord([]byte(fmt.Sprint("search ", i)))
					if err != nil {
						t.Error(err)
						return
					}
					resp, b := s.do("POST", "/api/v1/log/entries", body)
					if resp.StatusCode != 201 {
						t.Errorf("upload: %d %s", resp.StatusCode, b)
						return
					}
					mu.Lock()
					*ids = append(*ids, resp.Header.Get("ETag"))
					mu.Unlock()
				}()
			}
			wg.Wait()
			// One artifact signed by both.
			shared := []byte("shared artifact")
			both := []string{s.upload(mustEntry(t, alice, shared)), s.upload(mustEntry(t, bob, shared))}
			aliceIDs = append(aliceIDs, both[0])
			bobIDs = append(bobIDs, both[1])
			digest := sha256.Sum256(shared)
			hexDigest := hex.EncodeToString(digest[:])
			bobKey := base64.StdEncoding.EncodeToString(bob.PublicKeyPEM())

			tests := []struct {
				name, query string
				want        []string
				code        int
			}{
				{"hash", fmt.Sprintf(`{"hash":"sha256:%s"}`, hexDigest), both, 200},
				{"hash without prefix, upper case", fmt.Sprintf(`{"hash":%q}`, strings.ToUpper(hexDigest)), both, 200},
				{"public key", fmt.Sprintf(`{"publicKey":{"format":"x509","content":%q}}`, bobKey), bobIDs, 200},
				{"email", `{"email":"Alice@Example.com"}`, aliceIDs, 200},
				{"email or key", fmt.Sprintf(`{"email":"alice@example.com","publicKey":{"format":"x509","content":%q}}`, bobKey), append(slices.Clone(aliceIDs), bobIDs...), 200},
				{"hash and key", fmt.Sprintf(`{"operator":"and","hash":%q,"publicKey":{"format":"x509","content":%q}}`, hexDigest, bobKey), both[1:], 200},
				{"nothing matches", `{"email":"nobody@example.com"}`, []string{}, 200},
				{"bad hash", `{"hash":"sha256:xyz"}`, nil, 422},
				{"bad email", `{"email":"not an email"}`, nil, 422},
				{"bad operator", `{"email":"a@example.com","operator":"xor"}`, nil, 422},
				{"no query", `{}`, nil, 400},
				{"bad key", `{"publicKey":{"format":"x509","content":"AAAA"}}`, nil, 400},
				{"unsupported key format", `{"publicKey":{"format":"tuf","content":"AAAA"}}`, nil, 400},
				{"malformed", `{"hash":`, nil, 400},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, b := s.do("POST", "/api/v1/index/retrieve", []byte(tt.query))
					if resp.StatusCode != tt.code {
						t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.code, b)
					}
					if tt.code != 200 {
						return
					}
					var got []string
					if err := json.Unmarshal(b, &got); err != nil || got == nil {
						t.Fatalf("body %s: %v", b, err)
					}
					slices.Sort(got)
					want := slices.Clone(tt.want)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Fatalf("got %d IDs %v\nwant %d %v", len(got), got, len(want), want)
					}
				})
			}
		})
	}
}

func mustEntry(t *testing.T, s *testentry.Signer, artifact []byte) []byte {
	t.Helper()
	b, err := s.HashedRekord(artifact)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
