package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/dsse"
	"github.com/tabularium/tabula/types/hashedrekord"
	"github.com/tabularium/tabula/types/intoto"
	"github.com/tabularium/tabula/types/rekord"
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
		t.Run(e.Name, func(t *testing.T) {
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
				{"80-hex IDs before 64-hex UUIDs and entries", fmt.Sprintf(`{"entryUUIDs":[%q,%q],"entries":[%s]}`, ids[1][16:], ids[2], bodies[3]), []string{ids[2], ids[1], ids[3]}, 200},
				{"UUIDs and entries before indexes", fmt.Sprintf(`{"logIndexes":[0],"entryUUIDs":[%q]}`, ids[3]), []string{ids[3], ids[0]}, 200},
				{"all misses", fmt.Sprintf(`{"entryUUIDs":[%q],"logIndexes":[1000]}`, strings.Repeat("ab", 32)), []string{}, 200},
				{"other tree", fmt.Sprintf(`{"entryUUIDs":[%q]}`, "0000000000000001"+ids[0][16:]), []string{}, 200},
				{"too many", `{"logIndexes":[0,1,2,3,4,5],"entryUUIDs":["` + strings.Repeat("a", 64) + `","` + strings.Repeat("b", 64) + `","` + strings.Repeat("c", 64) + `","` + strings.Repeat("d", 64) + `","` + strings.Repeat("e", 64) + `"]}`, nil, 422},
				{"negative index", `{"logIndexes":[-1]}`, nil, 422},
				{"bad UUID", `{"entryUUIDs":["xyz"]}`, nil, 422},
				{"bad entry", `{"entries":[{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}}]}`, nil, 400},
				{"unknown kind", `{"entries":[{"kind":"nope","apiVersion":"0.0.1","spec":{}}]}`, nil, 400},
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

// readGolden reads a file of the types' golden test data.
func readGolden(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "types", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(b))
}

// editSpec decodes an entry, changes its spec and encodes it again.
func editSpec(t *testing.T, entry string, edit func(spec map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(entry), &m); err != nil {
		t.Fatal(err)
	}
	edit(m["spec"].(map[string]any))
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRetrieveByEntry is POST /api/v1/log/entries/retrieve with "entries", as
// Rekor v1.5.4's SearchLogQueryHandler answers it (checked against its own
// code): each entry goes through UnmarshalEntry and Canonicalize, not the
// insert path, so a proposal and a logged canonical body (dsse, intoto) both
// find the entry; an entry that fails makes the whole query a 400 with the
// type's message as it stands; parse errors are 400 and schema errors 422,
// with go-openapi's messages.
func TestRetrieveByEntry(t *testing.T) {
	golden := []struct{ kind, request, body string }{
		{"hashedrekord", "hashedrekord/testdata/01-request.json", "hashedrekord/testdata/01-body.json"},
		{"dsse", "dsse/testdata/golden/ecdsa-p256.request.json", "dsse/testdata/golden/ecdsa-p256.body.json"},
		{"dsse two signatures", "dsse/testdata/golden/chain-two-signatures.request.json", "dsse/testdata/golden/chain-two-signatures.body.json"},
		{"intoto 0.0.1", "intoto/testdata/golden/v0.0.1-ecdsa-p256.request.json", "intoto/testdata/golden/v0.0.1-ecdsa-p256.body.json"},
		{"intoto 0.0.2", "intoto/testdata/golden/v0.0.2-ecdsa-p256.request.json", "intoto/testdata/golden/v0.0.2-ecdsa-p256.body.json"},
		{"rekord", "rekord/testdata/x509-p256.request.json", "rekord/testdata/x509-p256.body.json"},
	}
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServerWith(t, e, func(c *api.Config) {
				c.Types = types.NewRegistry(hashedrekord.New(), dsse.New(), intoto.New(), rekord.New())
			})
			k := s.logKey()
			req, body, id := map[string]string{}, map[string]string{}, map[string]string{}
			for _, g := range golden {
				req[g.kind], body[g.kind] = readGolden(t, g.request), readGolden(t, g.body)
				id[g.kind] = s.upload([]byte(req[g.kind]))
			}
			hr := func(spec string) string { return `{"kind":"hashedrekord","apiVersion":"0.0.1","spec":` + spec + `}` }
			q := func(entries ...string) string { return `{"entries":[` + strings.Join(entries, ",") + `]}` }
			absent := newEntry(t, mustSigner(t), "never uploaded")
			// The two signatures of a logged dsse body, in the other order:
			// Rekor sorts them again.
			swapped := editSpec(t, body["dsse two signatures"], func(spec map[string]any) {
				sigs := spec["signatures"].([]any)
				sigs[0], sigs[1] = sigs[1], sigs[0]
			})
			extra := editSpec(t, body["dsse"], func(spec map[string]any) { spec["unknown"] = true })
			tooMany := q(slices.Repeat([]string{hr(`{}`)}, 11)...)
			const semver = `^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`

			tests := []struct {
				name  string
				query string
				want  []string // entry IDs in order, for 200
				code  int
				msg   string // Rekor's message, for errors
			}{
				// Proposals find the entry they made.
				{"proposed hashedrekord", q(req["hashedrekord"]), []string{id["hashedrekord"]}, 200, ""},
				{"proposed dsse", q(req["dsse"]), []string{id["dsse"]}, 200, ""},
				{"proposed intoto 0.0.1", q(req["intoto 0.0.1"]), []string{id["intoto 0.0.1"]}, 200, ""},
				{"proposed intoto 0.0.2", q(req["intoto 0.0.2"]), []string{id["intoto 0.0.2"]}, 200, ""},
				{"proposed rekord", q(req["rekord"]), []string{id["rekord"]}, 200, ""},
				{"several, in order, misses skipped", q(req["rekord"], string(absent), req["dsse"]), []string{id["rekord"], id["dsse"]}, 200, ""},
				// Logged canonical bodies: Rekor's search reads them back
				// (no Insertable check) and finds the entry.
				{"body hashedrekord", q(body["hashedrekord"]), []string{id["hashedrekord"]}, 200, ""},
				{"body dsse", q(body["dsse"]), []string{id["dsse"]}, 200, ""},
				{"body dsse, signatures swapped", q(swapped), []string{id["dsse two signatures"]}, 200, ""},
				{"body dsse, unknown field", q(extra), []string{id["dsse"]}, 200, ""},
				{"body intoto 0.0.1", q(body["intoto 0.0.1"]), []string{id["intoto 0.0.1"]}, 200, ""},
				{"body intoto 0.0.2", q(body["intoto 0.0.2"]), []string{id["intoto 0.0.2"]}, 200, ""},
				// A rekord body has no data content: Rekor's Canonicalize
				// fails on it (with "SHA mismatch: …"; Tabula's rekord type
				// says why differently), and so does the query.
				{"body rekord", q(body["rekord"]), nil, 400, ""},
				{"empty list", `{"entries":[]}`, []string{}, 200, ""},
				// Entries that cannot be canonicalized fail the query.
				{"missing fields", q(hr(`{}`)), nil, 400, "validation failure list:\ndata in body is required\nsignature in body is required"},
				{"nested schema failure", q(hr(`{"data":{"hash":{}}}`)), nil, 400,
					"validation failure list:\ndata.data.hash.data.hash.algorithm in body is required\nsignature in body is required"},
				{"bad key", q(hr(`{"data":{"hash":{"algorithm":"sha256","value":"` + strings.Repeat("0", 64) + `"}},"signature":{"content":"AAAA","publicKey":{"content":"AAAA"}}}`)), nil, 400,
					"invalid public key: failure decoding PEM"},
				{"spec an array", q(hr(`[]`)), nil, 400, "unsupported input type []interface {} for DecodeEntry"},
				{"spec a string", q(hr(`"x"`)), nil, 400, "unsupported input type string for DecodeEntry"},
				{"dsse without content", q(`{"kind":"dsse","apiVersion":"0.0.1","spec":{}}`), nil, 400,
					"either proposedContent or envelopeHash, payloadHash, and signatures must be present"},
				{"dsse body, empty verifier", q(`{"kind":"dsse","apiVersion":"0.0.1","spec":{"signatures":[{"signature":"AAAA","verifier":""}],"envelopeHash":{"algorithm":"sha256","value":"00"},"payloadHash":{"algorithm":"sha256","value":"00"}}}`), nil, 400,
					"validation failure list:\nsignatures.0.verifier in body is required"},
				{"intoto 0.0.2 empty", q(`{"kind":"intoto","apiVersion":"0.0.2","spec":{}}`), nil, 400,
					"validation failure list:\ncontent.content.envelope.content.envelope.payloadType in body is required"},
				{"intoto 0.0.1 empty", q(`{"kind":"intoto","apiVersion":"0.0.1","spec":{}}`), nil, 400,
					"validation failure list:\ncontent in body is required\npublicKey in body is required"},
				{"good and bad", q(req["hashedrekord"], hr(`{}`)), nil, 400, "validation failure list:\ndata in body is required\nsignature in body is required"},
				{"unknown version", q(`{"kind":"hashedrekord","apiVersion":"9.9.9","spec":{}}`), nil, 400,
					"hashedrekord implementation for version '9.9.9' not found: unable to locate entry for version 9.9.9"},
				{"Rekor kind this log does not accept", q(`{"kind":"rpm","apiVersion":"0.0.1","spec":{}}`), nil, 400,
					"could not unmarshal entry for kind 'rpm'"},
				// Parse errors (400), before any schema error.
				{"unknown kind", q(`{"kind":"nope","apiVersion":"0.0.1","spec":{}}`), nil, 400, `parsing entry body from "" failed, because invalid kind value: "nope"`},
				{"unknown kind after a schema error", q(`{"kind":"hashedrekord","apiVersion":"0.0.1"}`, `{"kind":"nope"}`), nil, 400,
					`parsing entry body from "" failed, because invalid kind value: "nope"`},
				{"no kind", q(`{}`), nil, 400, `parsing entry body from "" failed, because kind in body is required`},
				{"null entry", q(`null`), nil, 400, `parsing entry body from "" failed, because kind in body is required`},
				{"entry a number", q(`1`), nil, 400,
					`parsing entry body from "" failed, because json: cannot unmarshal number into Go value of type models.targetedProposedEntry`},
				{"kind a number", q(`{"kind":1}`), nil, 400,
					`parsing entry body from "" failed, because json: cannot unmarshal number into Go struct field targetedProposedEntry.kind of type string`},
				// Schema errors (422), the first one only.
				{"no spec", q(`{"kind":"hashedrekord","apiVersion":"0.0.1"}`), nil, 422, "entries.0.spec in body is required"},
				{"null spec", q(req["hashedrekord"], `{"kind":"hashedrekord","apiVersion":"0.0.1","spec":null}`), nil, 422, "entries.1.spec in body is required"},
				{"no apiVersion", q(`{"kind":"hashedrekord"}`), nil, 422, "entries.0.apiVersion in body is required"},
				{"apiVersion not semver", q(`{"kind":"hashedrekord","apiVersion":"x","spec":{}}`), nil, 422,
					"entries.0.apiVersion in body should match '" + semver + "'"},
				{"entries before logIndexes", `{"logIndexes":[-1],"entries":[{"kind":"hashedrekord","apiVersion":"0.0.1"}]}`, nil, 422, "entries.0.spec in body is required"},
				{"entries then a bad index", `{"logIndexes":[-1],"entries":[` + req["hashedrekord"] + `]}`, nil, 422, "logIndexes.0 in body should be greater than or equal to 0"},
				{"eleven entries", tooMany, nil, 422, "entries in body should have at most 10 items"},
				{"eleven in all", `{"logIndexes":[0,1,2,3,4,5,6,7,8,9],"entries":[` + req["hashedrekord"] + `]}`, nil, 422, "more than max allowed 10 entries in request"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, b := s.do("POST", "/api/v1/log/entries/retrieve", []byte(tt.query))
					if resp.StatusCode != tt.code {
						t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.code, b)
					}
					if tt.code != 200 {
						var e models.Error
						if err := json.Unmarshal(b, &e); err != nil || e.Code != tt.code || e.Message == "" {
							t.Fatalf("error body %s", b)
						}
						if tt.msg != "" && e.Message != tt.msg {
							t.Fatalf("message\n got %q\nwant %q", e.Message, tt.msg)
						}
						return
					}
					var got []models.LogEntry
					if err := json.Unmarshal(b, &got); err != nil || got == nil {
						t.Fatalf("body %s: %v", b, err)
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
		})
	}
}

func mustSigner(t *testing.T) *testentry.Signer {
	t.Helper()
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	return sgn
}

func TestSearchIndex(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
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
