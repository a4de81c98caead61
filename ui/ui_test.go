package ui_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/profile/rekorv2"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
	"github.com/tabularium/tabula/ui"
)

// engines are the storage engines the tests run on.
var engines = logsettest.Engines()

// attestKind is a test entry kind whose spec {"id":…,"data":…} becomes a
// body holding id and an attestation holding data: hostile text in a body
// and in an in-toto statement, without signing DSSE envelopes.
type attestKind struct{}

func (attestKind) Kind() string       { return "attest" }
func (attestKind) Versions() []string { return []string{"0.0.1"} }
func (attestKind) Canonicalize(_ context.Context, _ string, spec json.RawMessage) (types.Canonical, error) {
	var s struct {
		ID   string `json:"id"`
		Data string `json:"data"`
	}
	if err := json.Unmarshal(spec, &s); err != nil {
		return types.Canonical{}, types.Invalidf("%v", err)
	}
	body, _ := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "attest", "spec": map[string]string{"id": s.ID}})
	return types.Canonical{Body: body, Attestation: []byte(s.Data),
		SearchKeys: []types.SearchKey{{Kind: types.KindSubject, Value: "attest:" + s.ID}}}, nil
}

// site is a Tabula server with the explorer: two Rekor v1 logs (the first
// rotated) and a Rekor v2 log, reached through real HTTP.
type site struct {
	*httptest.Server
	t      *testing.T
	v1, v2 *logset.Set
	store  storage.LogSet
	key2   logset.Signer
}

// newSite serves a Rekor v1 log set (that tests may rotate) and a Rekor v2
// log through the API's router, with the explorer when withUI; opts change its config.
func newSite(t *testing.T, e logsettest.Engine, withUI bool, opts ...func(*api.Config)) *site {
	t.Helper()
	store := e.Open(t)
	k1, k2 := logsettest.Key(t), logsettest.Key(t)
	s := &site{t: t, store: store, key2: k2}
	s.v1 = logsettest.Open(t, store, k1, k2)
	s.v2 = logsettest.OpenV2(t, store, nil)
	cfg := api.Config{Logs: s.v1, V2Logs: s.v2, Types: types.NewRegistry(hashedrekord.New(), attestKind{}),
		MaxAttestationSize: api.DefaultMaxAttestationSize}
	if withUI {
		x, err := ui.New(ui.Config{Logs: s.v1, V2Logs: s.v2})
		if err != nil {
			t.Fatal(err)
		}
		cfg.UI = x
	}
	for _, o := range opts {
		o(&cfg)
	}
	s.Server = httptest.NewServer(api.New(cfg))
	t.Cleanup(s.Close)
	return s
}

func (s *site) get(path string) (*http.Response, string) {
	s.t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, string(b)
}

// post writes an entry, returning the location of its page.
func (s *site) post(path string, body []byte) string {
	s.t.Helper()
	loc, err := s.tryPost(path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	return loc
}

// tryPost is post for any goroutine: it returns its failure.
func (s *site) tryPost(path string, body []byte) (string, error) {
	resp, err := http.Post(s.URL+path, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	if path == "/api/v2/log/entries" {
		var tle struct {
			LogIndex string `json:"logIndex"`
		}
		if err := json.Unmarshal(b, &tle); err != nil {
			return "", fmt.Errorf("POST %s: %w", path, err)
		}
		sh, err := s.v2.Active(context.Background())
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("/log/%d/entry/%s", sh.TreeID(), tle.LogIndex), nil
	}
	var le map[string]struct {
		LogIndex     int64 `json:"logIndex"`
		Verification struct {
			InclusionProof struct {
				LogIndex int64 `json:"logIndex"`
			} `json:"inclusionProof"`
		} `json:"verification"`
	}
	if err := json.Unmarshal(b, &le); err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	for id, e := range le {
		tree, err := strconv.ParseUint(id[:16], 16, 64)
		if err != nil {
			return "", fmt.Errorf("POST %s: entry ID %s: %w", path, id, err)
		}
		return fmt.Sprintf("/log/%d/entry/%d", tree, e.Verification.InclusionProof.LogIndex), nil
	}
	return "", fmt.Errorf("POST %s: no entry in %s", path, b)
}

// workflowSigner signs with a certificate such as Fulcio issues for a
// GitHub Actions workflow: a URI SAN and the issuer and repository
// extensions.
func workflowSigner(t *testing.T, uri, issuer string) *testentry.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	utf8 := func(s string) []byte {
		b, err := asn1.MarshalWithParams(s, "utf8")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(10 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		URIs:         []*url.URL{u},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: utf8(issuer)},
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 12}, Value: utf8("https://github.com/org/repo")},
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 20}, Value: utf8("push")},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := testentry.NewSignerFromKey(key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var rowRE = regexp.MustCompile(`<td><a href="(/log/\d+/entry/\d+)">`)

// results are the entry pages a result page links to, in order.
func results(body string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

const workflowURI = "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main"
const actionsIssuer = "https://token.actions.githubusercontent.com"

// TestExplorer writes entries of every kind of identity into a rotated
// Rekor v1 log set and a Rekor v2 log through the API, then reads them
// through the explorer's pages on both engines: each kind of query finds
// exactly its entries across the logs, newest first, paged; entry pages
// carry the data and the proof panel without JavaScript; hostile text is
// escaped; every answer carries the CSP.
func TestExplorer(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newSite(t, e, true)
			alice, err := testentry.NewCertSigner("alice@example.com")
			if err != nil {
				t.Fatal(err)
			}
			keySigner, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			hostile, err := testentry.NewSelfSignedSigner(testentry.SelfSigned{
				Emails:   []string{`"<script>alert(1)</script>"@evil.example`},
				DNSNames: []string{`<img src=x onerror=alert(2)>`},
			})
			if err != nil {
				t.Fatal(err)
			}
			wf := workflowSigner(t, workflowURI, actionsIssuer)
			entry := func(sg *testentry.Signer, artifact string) []byte {
				b, err := sg.HashedRekord([]byte(artifact))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}

			var aliceV1 []string
			aliceV1 = append(aliceV1, s.post("/api/v1/log/entries", entry(alice, "a1")))
			aliceV1 = append(aliceV1, s.post("/api/v1/log/entries", entry(alice, "a2")))
			firstLog := strings.Split(aliceV1[0], "/")[2]
			logsettest.Rotate(t, s.store, s.key2)
			aliceV1 = append(aliceV1, s.post("/api/v1/log/entries", entry(alice, "a3")))
			if strings.Split(aliceV1[2], "/")[2] == firstLog {
				t.Fatalf("entry after the rotation at %s, in the first log", aliceV1[2])
			}
			v2req, err := alice.HashedRekordV2([]byte("a4"))
			if err != nil {
				t.Fatal(err)
			}
			aliceV2 := s.post("/api/v2/log/entries", v2req)
			aliceAll := append(append([]string{}, aliceV1...), aliceV2)

			var keyed []string
			for i := range ui.PageSize + 2 {
				keyed = append(keyed, s.post("/api/v1/log/entries", entry(keySigner, "k"+strconv.Itoa(i))))
			}
			hostileAt := s.post("/api/v1/log/entries", entry(hostile, "h"))
			wfAt := s.post("/api/v1/log/entries", entry(wf, "w"))
			statement := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"<script>alert(3)</script>\u202eexe.txt","digest":{"sha256":"` +
				strings.Repeat("ab", 32) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"note":"</pre><script>alert(4)</script>","who":"ünïcødé\u0000\u2028"}}`
			attestReq, _ := json.Marshal(map[string]any{"kind": "attest", "apiVersion": "0.0.1",
				"spec": map[string]string{"id": `<b onmouseover=alert(5)>x</b>`, "data": statement}})
			attestAt := s.post("/api/v1/log/entries", attestReq)

			a1sum := sha256.Sum256([]byte("a1"))
			a4sum := sha256.Sum256([]byte("a4"))
			_, a1page := s.get(aliceV1[0])
			uuid80 := regexp.MustCompile(`id="entry-uuid">([0-9a-f]{80})<`).FindStringSubmatch(a1page)
			if uuid80 == nil {
				t.Fatalf("no 80-hex UUID on %s:\n%s", aliceV1[0], a1page)
			}
			leaf := uuid80[1][16:]
			secondLog := strings.Split(aliceV1[2], "/")[2]
			sh2, err := s.v1.Shard(context.Background(), mustInt(t, secondLog))
			if err != nil {
				t.Fatal(err)
			}

			tests := []struct {
				name, query string
				kind        string
				want        []string
			}{
				{"email", "alice@example.com", "email", aliceAll},
				{"email, other case", "Alice@Example.com", "email", aliceAll},
				{"URI identity", workflowURI, "URI identity", []string{wfAt}},
				{"sha256 hex", hex.EncodeToString(a1sum[:]), "entry UUID or sha256 digest", aliceV1[:1]},
				{"sha256 prefixed", "sha256:" + hex.EncodeToString(a4sum[:]), "sha256 digest", []string{aliceV2}},
				{"80-hex UUID", uuid80[1], "entry UUID", aliceV1[:1]},
				{"64-hex UUID", leaf, "entry UUID or sha256 digest", aliceV1[:1]},
				{"80-hex UUID of another log", fmt.Sprintf("%016x", uint64(sh2.TreeID())) + leaf, "entry UUID", nil},
				{"virtual index of the first log", "0", "log index", aliceV1[:1]},
				{"virtual index of the second log", strconv.FormatUint(sh2.Info.StartIndex, 10), "log index", aliceV1[2:3]},
				{"virtual index of the v2 log", strconv.FormatUint(rekorv2.Base, 10), "log index", []string{aliceV2}},
				{"sha1 (gitsign commit)", strings.Repeat("ab", 20), "sha1 digest or gitsign commit SHA", nil},
				{"PEM public key", string(keySigner.PublicKeyPEM()), "public key", keyed[2:]},
				{"hostile email", `"<script>alert(1)</script>"@evil.example`, "email or identity", []string{hostileAt}},
				{"unknown email", "nobody@example.com", "email", nil},
				{"attest identity", "attest:<b onmouseover=alert(5)>x</b>", "identity", []string{attestAt}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := s.get("/search?q=" + url.QueryEscape(tt.query))
					if resp.StatusCode != 200 {
						t.Fatalf("%d\n%s", resp.StatusCode, body)
					}
					if !strings.Contains(body, "as "+tt.kind+":") {
						t.Fatalf("not read as %s:\n%s", tt.kind, body)
					}
					got := results(body)
					if !sameSet(got, tt.want) {
						t.Fatalf("found %v, want %v", got, tt.want)
					}
					checkOrder(t, s, got)
				})
			}

			t.Run("paging newest first", func(t *testing.T) {
				q := "/search?q=" + url.QueryEscape(string(keySigner.PublicKeyPEM()))
				_, p1 := s.get(q)
				_, p2 := s.get(q + "&page=2")
				r1, r2 := results(p1), results(p2)
				if len(r1) != ui.PageSize || len(r2) != 2 || !sameSet(append(r1, r2...), keyed) {
					t.Fatalf("pages of %d and %d: %v %v", len(r1), len(r2), r1, r2)
				}
				// Written one after another into one log: newest first is
				// the reverse order of writing.
				for i, p := range append(r1, r2...) {
					if want := keyed[len(keyed)-1-i]; p != want {
						t.Fatalf("result %d is %s, want %s", i, p, want)
					}
				}
				if !strings.Contains(p1, `rel="next"`) || strings.Contains(p2, `rel="next"`) || !strings.Contains(p2, `rel="prev"`) {
					t.Fatal("page links wrong")
				}
				if resp, _ := s.get(q + "&page=0"); resp.StatusCode != 400 {
					t.Fatalf("page 0: %d", resp.StatusCode)
				}
			})

			t.Run("issuer filter", func(t *testing.T) {
				_, body := s.get("/search?issuer=" + url.QueryEscape(actionsIssuer))
				if got := results(body); !sameSet(got, []string{wfAt}) {
					t.Fatalf("issuer alone found %v, want %s", got, wfAt)
				}
				_, body = s.get("/search?q=alice@example.com&issuer=" + url.QueryEscape(actionsIssuer))
				if got := results(body); len(got) != 0 {
					t.Fatalf("alice with the Actions issuer found %v", got)
				}
				_, body = s.get("/search?q=alice@example.com&issuer=" + url.QueryEscape(testentry.OIDCIssuer))
				if got := results(body); !sameSet(got, aliceAll) {
					t.Fatalf("alice with her issuer found %v", got)
				}
			})

			t.Run("entry page without JavaScript", func(t *testing.T) {
				resp, body := s.get(wfAt)
				if resp.StatusCode != 200 {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				tree := strings.Split(wfAt, "/")[2]
				idx := strings.Split(wfAt, "/")[4]
				for _, want := range []string{
					workflowURI, actionsIssuer, "Source repository URI", "https://github.com/org/repo", "Build trigger", "push",
					"sha256:" + hex.EncodeToString(sha256Sum("w")),
					`<section id="proof" data-tree="` + tree + `" data-index="` + idx + `" data-origin="tabula.test - ` + tree + `">`,
					`<ol id="proof-steps"></ol> <p id="proof-status">not checked (JavaScript is off)</p>`,
					`<script src="/static/verify.js" defer></script>`,
					"tabula verify --entry entry.json",
					`href="/logs/` + tree + `/entries/` + idx + `"`,
				} {
					if !strings.Contains(body, want) {
						t.Errorf("entry page lacks %q", want)
					}
				}
				// The UUID permalink shows the same entry.
				uuid := regexp.MustCompile(`id="entry-uuid">([0-9a-f]{80})<`).FindStringSubmatch(body)[1]
				_, byUUID := s.get("/entry/" + uuid)
				if !strings.Contains(byUUID, `id="entry-index">`+idx+`<`) {
					t.Fatal("/entry/<uuid> shows another entry")
				}
				_, v2page := s.get("/entry/" + regexp.MustCompile(`id="entry-uuid">([0-9a-f]{64})<`).FindStringSubmatch(mustGet(t, s, aliceV2))[1])
				if !strings.Contains(v2page, "Rekor v2") || !strings.Contains(v2page, "alice@example.com") {
					t.Fatalf("v2 entry by UUID:\n%s", v2page)
				}
			})

			t.Run("hostile entries render as text", func(t *testing.T) {
				for _, p := range []string{hostileAt, attestAt, "/search?q=" + url.QueryEscape(`"<script>alert(1)</script>"@evil.example`), "/"} {
					_, body := s.get(p)
					for _, bad := range []string{"<script>alert", "<img src=x", "<b onmouseover", "</pre><script>"} {
						if strings.Contains(body, bad) {
							t.Fatalf("%s holds %q unescaped", p, bad)
						}
					}
				}
				_, body := s.get(attestAt)
				for _, want := range []string{"https://slsa.dev/provenance/v1", "&lt;/pre&gt;&lt;script&gt;alert(4)", "ünïcødé", "&lt;script&gt;alert(3)&lt;/script&gt;\u202eexe.txt"} {
					if !strings.Contains(body, want) {
						t.Errorf("attestation page lacks %q", want)
					}
				}
				_, body = s.get(hostileAt)
				if !strings.Contains(body, "&lt;img src=x onerror=alert(2)&gt;") {
					t.Error("the hostile DNS SAN is not shown escaped")
				}
			})

			t.Run("log, home and about pages", func(t *testing.T) {
				_, body := s.get("/log/" + firstLog)
				for _, want := range []string{"tabula.test - " + firstLog, "frozen", `<dd id="log-size">2</dd>`, "Key ID", "BEGIN PUBLIC KEY", "<polyline"} {
					if !strings.Contains(body, want) {
						t.Errorf("log page lacks %q", want)
					}
				}
				if got := results(body); !sameSet(got, aliceV1[:2]) || got[0] != aliceV1[1] {
					t.Errorf("log page lists %v", got)
				}
				_, body = s.get("/")
				if got := results(body); len(got) != ui.PageSize || got[0] != attestAt {
					t.Errorf("home lists %d, first %v", len(got), got)
				}
				_, body = s.get("/about")
				for _, want := range []string{logsettest.V2Origin, "tabula trusted-root --server " + s.URL, "BEGIN PUBLIC KEY"} {
					if !strings.Contains(body, want) {
						t.Errorf("about page lacks %q", want)
					}
				}
			})

			t.Run("not found and bad requests", func(t *testing.T) {
				for _, tt := range []struct {
					path string
					code int
				}{
					{"/entry/" + strings.Repeat("0", 64), 404},
					{"/entry/" + strings.Repeat("0", 80), 404},
					{"/entry/xyz", 400},
					{"/log/" + firstLog + "/entry/2", 404},
					{"/log/" + firstLog + "/entry/-1", 400},
					{"/log/999/entry/0", 404},
					{"/log/999", 404},
					{"/log/abc", 400},
					{"/log/" + firstLog + "/nothing", 404},
					{"/static/nothing.js", 404},
					{"/search?q=" + url.QueryEscape("sha256:abc"), 400},
					{"/search?q=" + url.QueryEscape("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"), 400},
					{"/search?q=99999999999999999999999", 400},
					{"/search?q=" + strings.Repeat("a", ui.MaxQuery+1), 400},
					{"/?page=x", 400},
				} {
					resp, body := s.get(tt.path)
					if resp.StatusCode != tt.code {
						t.Errorf("GET %s: %d, want %d\n%s", tt.path, resp.StatusCode, tt.code, body)
					}
					if resp.Header.Get("Content-Security-Policy") != ui.CSP {
						t.Errorf("GET %s: no CSP", tt.path)
					}
				}
			})

			t.Run("headers and no inline script or style", func(t *testing.T) {
				inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]|<script>|<style|<[^>]*\s(?:style|on[a-z]+)=`)
				for _, p := range []string{"/", "/about", "/search?q=alice@example.com", aliceV1[0], aliceV2, hostileAt, attestAt, "/log/" + firstLog, "/static/style.css", "/static/verify.js", "/static/search.js", "/static/favicon.svg"} {
					resp, body := s.get(p)
					if resp.StatusCode != 200 {
						t.Fatalf("GET %s: %d", p, resp.StatusCode)
					}
					h := resp.Header
					if h.Get("Content-Security-Policy") != ui.CSP || h.Get("X-Content-Type-Options") != "nosniff" {
						t.Errorf("GET %s: headers %v", p, h)
					}
					if strings.HasPrefix(h.Get("Content-Type"), "text/html") && inline.MatchString(body) {
						t.Errorf("GET %s: inline script, style or handler: %q", p, inline.FindString(body))
					}
				}
			})
		})
	}
}

// TestUIOff checks a server without the explorer answers / as before: the
// API's JSON 404.
func TestUIOff(t *testing.T) {
	s := newSite(t, engines[0], false)
	for _, p := range []string{"/", "/search?q=x", "/about", "/static/style.css"} {
		resp, body := s.get(p)
		if resp.StatusCode != 404 || !strings.Contains(body, `"code":404`) || resp.Header.Get("Content-Security-Policy") != "" {
			t.Fatalf("GET %s without the explorer: %d %s", p, resp.StatusCode, body)
		}
	}
}

// checkOrder checks results are newest first: by integrated time, and by
// descending index within a log.
func checkOrder(t *testing.T, s *site, got []string) {
	t.Helper()
	last := map[string]int{}
	lastTime := ""
	for _, p := range got {
		parts := strings.Split(p, "/")
		i, _ := strconv.Atoi(parts[4])
		if l, ok := last[parts[2]]; ok && i >= l {
			t.Fatalf("results %v: %s after index %d of its log", got, p, l)
		}
		last[parts[2]] = i
		body := mustGet(t, s, p)
		m := regexp.MustCompile(`<dt>Integrated</dt><dd>([^<]+)</dd>`).FindStringSubmatch(body)
		if m == nil {
			continue
		}
		if lastTime != "" && m[1] > lastTime {
			t.Fatalf("results %v: %s (%s) after a result of %s", got, p, m[1], lastTime)
		}
		lastTime = m[1]
	}
}

func mustGet(t *testing.T, s *site, p string) string {
	t.Helper()
	resp, body := s.get(p)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d\n%s", p, resp.StatusCode, body)
	}
	return body
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
