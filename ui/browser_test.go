package ui_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/browser"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/merkle"
)

// wait bounds every wait of the browser tests for something the page does
// by itself (a navigation, the proof panel's fetches and checks).
const wait = 10 * time.Second

// envScreenshots, set to 1, makes TestBrowser write the screenshots of the
// README into docs/screenshots.
const envScreenshots = "TABULA_SCREENSHOTS"

var entryHref = regexp.MustCompile(`^/log/\d+/entry/\d+$`)

// browserSite is a site (see newSite) with entries of every kind of
// identity, hostile ones among them, written through the API.
type browserSite struct {
	*site
	aliceV1        []string // alice's Rekor v1 entries; the last in the second log
	aliceV2        string
	keyed          []string // entries signed by keySigner's bare key
	keySigner      *testentry.Signer
	wfAt           string // a GitHub Actions workflow's entry
	hostileCertAt  string // hostile SANs and certificate extensions
	hostileAttest  string // hostile id and in-toto statement
	hostileID      string // the attest identity of hostileAttest
	uuid80, uuid64 string // the UUIDs of aliceV1[0] and aliceV2
}

// Hostile text: each runs PwnedScript if the page lets it.
const (
	pwnScript = "<script>" + browser.PwnedScript + "</script>"
	pwnImg    = `"><img src=x onerror=` + browser.PwnedScript + `>`
	rlo       = "\u202e" // RIGHT-TO-LEFT OVERRIDE
)

func newBrowserSite(t *testing.T) *browserSite {
	t.Helper()
	s := &browserSite{site: newSite(t, engines[0], true)}
	alice, err := testentry.NewCertSigner("alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if s.keySigner, err = testentry.NewSigner(); err != nil {
		t.Fatal(err)
	}
	hostile, err := testentry.NewSelfSignedSigner(testentry.SelfSigned{
		Emails:   []string{`"` + pwnScript + `"@evil.example`},
		DNSNames: []string{pwnImg},
	})
	if err != nil {
		t.Fatal(err)
	}
	entry := func(sg *testentry.Signer, artifact string) []byte {
		b, err := sg.HashedRekord([]byte(artifact))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s.aliceV1 = append(s.aliceV1, s.post("/api/v1/log/entries", entry(alice, "a1")))
	s.aliceV1 = append(s.aliceV1, s.post("/api/v1/log/entries", entry(alice, "a2")))
	logsettest.Rotate(t, s.store, s.key2)
	s.aliceV1 = append(s.aliceV1, s.post("/api/v1/log/entries", entry(alice, "a3")))
	v2req, err := alice.HashedRekordV2([]byte("a4"))
	if err != nil {
		t.Fatal(err)
	}
	s.aliceV2 = s.post("/api/v2/log/entries", v2req)
	for i := range 2 {
		s.keyed = append(s.keyed, s.post("/api/v1/log/entries", entry(s.keySigner, "k"+strconv.Itoa(i))))
	}
	s.wfAt = s.post("/api/v1/log/entries", entry(workflowSigner(t, workflowURI, actionsIssuer), "w"))
	s.hostileCertAt = s.post("/api/v1/log/entries", entry(hostile, "h"))
	// Odd Unicode in an issuer (a UTF8String extension; an email SAN must
	// be ASCII, or Go's x509 refuses the certificate).
	s.post("/api/v1/log/entries", entry(workflowSigner(t, workflowURI+"x", "https://evil.example/"+rlo+pwnScript), "u"))

	s.hostileID = "mallory" + rlo + "moc.elpmaxe@evil.example" + pwnScript
	statement := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"` + pwnScript + rlo + `gpj.exe","digest":{"sha256":"` +
		strings.Repeat("ab", 32) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"builder":"\"><img src=x onerror=` +
		browser.PwnedScript + `>","email":"mallory` + rlo + `moc.elpmaxe@evil.example","note":"</pre>` + pwnScript + `"}}`
	req, _ := json.Marshal(map[string]any{"kind": "attest", "apiVersion": "0.0.1",
		"spec": map[string]string{"id": s.hostileID, "data": statement}})
	s.hostileAttest = s.post("/api/v1/log/entries", req)

	uuid := func(p string, n int) string {
		m := regexp.MustCompile(`id="entry-uuid">([0-9a-f]{` + strconv.Itoa(n) + `})<`).FindStringSubmatch(mustGet(t, s.site, p))
		if m == nil {
			t.Fatalf("no %d-hex UUID on %s", n, p)
		}
		return m[1]
	}
	s.uuid80, s.uuid64 = uuid(s.aliceV1[0], 80), uuid(s.aliceV2, 64)
	return s
}

// resultLinks returns the entry pages the results table of p links to.
func resultLinks(t *testing.T, p *browser.Page) []string {
	t.Helper()
	v, _ := p.Eval(`Array.from(document.querySelectorAll("table.entries a"), a => a.getAttribute("href"))`).([]any)
	var out []string
	for _, x := range v {
		if s, _ := x.(string); entryHref.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

func screenshot(t *testing.T, p *browser.Page, name string) {
	t.Helper()
	if os.Getenv(envScreenshots) != "1" {
		return
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p.Screenshot(filepath.Join(dir, name))
}

// TestBrowser drives the explorer's real pages, served by the API's router
// on 127.0.0.1, in headless Chromium: search by every kind of query through
// the search box with the keyboard (and by a file chosen for hashing), the
// proof panel verifying entries of a Rekor v1 and a Rekor v2 log and
// catching a log that lies, hostile entries shown as text without running,
// and no console error or CSP violation on any page.
func TestBrowser(t *testing.T) {
	b := browser.New(t)
	s := newBrowserSite(t)
	aliceAll := append(append([]string{}, s.aliceV1...), s.aliceV2)

	t.Run("search box", func(t *testing.T) {
		artifact := filepath.Join(t.TempDir(), "a1.txt")
		if err := os.WriteFile(artifact, []byte("a1"), 0o644); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, query string
			paste, file bool // paste query as a value, or choose file in #hash-file
			drop        bool // drop a file holding query on the search page's drop area
			kind        string
			want        []string
		}{
			{name: "email", query: "alice@example.com", kind: "email", want: aliceAll},
			{name: "URI identity", query: workflowURI, kind: "URI identity", want: []string{s.wfAt}},
			{name: "sha256 digest", query: hex.EncodeToString(sha256Sum("a1")), kind: "entry UUID or sha256 digest", want: s.aliceV1[:1]},
			{name: "sha256: digest", query: "sha256:" + hex.EncodeToString(sha256Sum("a4")), kind: "sha256 digest", want: []string{s.aliceV2}},
			{name: "80-hex UUID", query: s.uuid80, kind: "entry UUID", want: s.aliceV1[:1]},
			{name: "64-hex UUID", query: s.uuid64, kind: "entry UUID or sha256 digest", want: []string{s.aliceV2}},
			{name: "log index", query: "1", kind: "log index", want: s.aliceV1[1:2]},
			{name: "PEM key pasted", query: string(s.keySigner.PublicKeyPEM()), paste: true, kind: "public key", want: s.keyed},
			// Pasted: chromedp's key events cannot type U+202E.
			{name: "hostile identity", query: "attest:" + s.hostileID, paste: true, kind: "email or identity", want: []string{s.hostileAttest}},
			{name: "file hashed in the browser", query: artifact, file: true, kind: "sha256 digest", want: s.aliceV1[:1]},
			{name: "file dropped on the drop area", query: "a1", drop: true, kind: "sha256 digest", want: s.aliceV1[:1]},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := b.Open(t, s.URL+"/")
				switch {
				case tt.drop:
					// The harness cannot drag a file from the desktop: dispatch
					// the drop event a browser sends, with the file in it.
					p.Navigate(s.URL + "/search?q=nobody%40example.com")
					p.WaitText("#query-kind", " as email:", wait)
					p.Eval(`(() => {
						const dt = new DataTransfer();
						dt.items.add(new File([` + strconv.Quote(tt.query) + `], "dropped.txt"));
						document.getElementById("file-drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
						return true;
					})()`)
				case tt.file:
					p.SetFileInput("#hash-file", tt.query)
				case tt.paste: // the one-line box drops the line breaks
					p.SetValue("#q", strings.ReplaceAll(tt.query, "\n", ""))
					p.SendKeys("#q", "\n")
				default:
					p.SendKeys("#q", tt.query+"\n")
				}
				p.WaitText("#query-kind", " as "+tt.kind+":", wait)
				if got := resultLinks(t, p); !sameSet(got, tt.want) {
					t.Fatalf("found %v, want %v", got, tt.want)
				}
				if got := p.Text("#query-kind strong"); !tt.file && !tt.drop && got != strings.ReplaceAll(tt.query, "\n", "") {
					t.Errorf("the page says it searched for %q, not %q", got, tt.query)
				}
				p.AssertNotPwned(t)
				p.AssertNoProblems(t)
			})
		}
		t.Run("open a result", func(t *testing.T) {
			p := b.Open(t, s.URL+"/")
			p.SendKeys("#q", "alice@example.com\n")
			p.WaitText("#query-kind", " as email:", wait)
			screenshot(t, p, "search.png")
			p.Click(`table.entries a[href="` + s.aliceV2 + `"]`)
			p.WaitText("h1", "Entry ", wait)
			if got := p.URL(); got != s.URL+s.aliceV2 {
				t.Fatalf("the link led to %s, not %s", got, s.aliceV2)
			}
			p.WaitAttr("#proof", "data-state", "verified", wait)
			p.AssertNoProblems(t)
		})
	})

	t.Run("proof panel", func(t *testing.T) {
		for _, tt := range []struct{ name, page string }{
			{"v1 frozen log", s.aliceV1[0]},
			{"v1 active log", s.aliceV1[2]},
			{"v2 log", s.aliceV2},
		} {
			t.Run(tt.name, func(t *testing.T) {
				p := b.Open(t, s.URL+tt.page)
				p.WaitAttr("#proof", "data-state", "verified", wait)
				if got := p.Text("#proof-status"); got != "verified" {
					t.Fatalf("#proof-status is %q", got)
				}
				steps := p.Text("#proof-steps")
				for _, want := range []string{"leaf hash", "checkpoint size", "key hint"} {
					if !strings.Contains(steps, want) {
						t.Errorf("#proof-steps lack %q:\n%s", want, steps)
					}
				}
				if tt.page == s.aliceV2 {
					screenshot(t, p, "entry.png")
				}
				p.AssertNoProblems(t)
			})
		}

		t.Run("a log that lies", func(t *testing.T) {
			// In front of the real server, a proxy answers the entry's
			// proof with a checkpoint of another root, signed by the log's
			// real key: only the comparison of roots can catch it.
			parts := strings.Split(s.aliceV1[2], "/")
			tree, index := parts[2], parts[4]
			real := s.Config.Handler
			lie := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/logs/"+tree+"/entries/"+index {
					real.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				real.ServeHTTP(rec, r)
				var e map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				ip := e["inclusionProof"].(map[string]any)
				var root merkle.Hash
				_, _ = rand.Read(root[:])
				ns, err := checkpoint.NewSigner(logsettest.Hostname, checkpoint.KeyIDRekorV1, s.key2)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				cp, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: logsettest.Hostname + " - " + tree,
					Size: uint64(ip["treeSize"].(float64)), Root: root}, ns)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				ip["checkpoint"] = string(cp)
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(e)
			}))
			t.Cleanup(lie.Close)

			p := b.Open(t, lie.URL+s.aliceV1[2])
			p.WaitAttr("#proof", "data-state", "failed", wait)
			if got := p.Text("#proof-status"); !strings.HasPrefix(got, "failed: the root the proof leads to") || !strings.Contains(got, "is not the checkpoint's") {
				t.Fatalf("#proof-status is %q", got)
			}
			p.AssertNoProblems(t)
		})
	})

	t.Run("hostile entries render as text", func(t *testing.T) {
		for _, tt := range []struct {
			name, page string
			want       []string
		}{
			{"certificate", s.hostileCertAt, []string{`"` + pwnScript + `"@evil.example`, pwnImg}},
			{"in-toto statement", s.hostileAttest, []string{
				pwnScript + rlo + "gpj.exe", "</pre>" + pwnScript, `\"><img src=x onerror=` + browser.PwnedScript + `>`,
				"mallory" + rlo + "moc.elpmaxe@evil.example"}},
			{"issuer", "/search?issuer=" + "https://evil.example/" + rlo + pwnScript, []string{"issuer https://evil.example/" + rlo + pwnScript}},
			{"home", "/", []string{`"` + pwnScript + `"@evil.example`}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				p := b.Open(t, s.URL+tt.page)
				text := p.Text("main")
				for _, w := range tt.want {
					if !strings.Contains(text, w) {
						t.Errorf("the page does not show %q as text:\n%s", w, text)
					}
				}
				if n := p.Eval(`document.querySelectorAll("main img, main [onerror], main script:not([src^='/static/'])").length`); n != float64(0) {
					t.Errorf("%v elements made of entry data", n)
				}
				p.AssertNotPwned(t)
				p.AssertNoProblems(t)
			})
		}
	})

	t.Run("keyboard", func(t *testing.T) {
		p := b.Open(t, s.URL+"/")
		tab := func(to func() bool, what string) {
			t.Helper()
			for range 40 {
				if to() {
					return
				}
				p.Keys("\t")
			}
			t.Fatalf("40 Tabs did not reach %s", what)
		}
		tab(func() bool { return p.Focused() == "q" }, "the search box")
		p.Keys("alice@example.com\n")
		p.WaitText("#query-kind", " as email:", wait)
		var href string
		tab(func() bool {
			href, _ = p.Eval(`document.activeElement && document.activeElement.getAttribute("href") || ""`).(string)
			return entryHref.MatchString(href)
		}, "a result link")
		if !slices.Contains(aliceAll, href) {
			t.Fatalf("the first result link reached is %s, not one of alice's", href)
		}
		p.Keys("\n")
		p.WaitText("h1", "Entry ", wait)
		if got := p.URL(); got != s.URL+href {
			t.Fatalf("Enter on %s led to %s", href, got)
		}
		p.WaitAttr("#proof", "data-state", "verified", wait)
		p.AssertNoProblems(t)
	})

	t.Run("log and about pages", func(t *testing.T) {
		for _, path := range []string{"/log/" + strings.Split(s.aliceV1[0], "/")[2], "/about"} {
			p := b.Open(t, s.URL+path)
			if !p.Exists("main h1") {
				t.Fatalf("%s has no heading", path)
			}
			if strings.HasPrefix(path, "/log/") {
				if !p.Exists("svg polyline.growth") {
					t.Errorf("%s draws no growth chart", path)
				}
				screenshot(t, p, "log.png")
			}
			p.AssertNoProblems(t)
		}
	})
}
