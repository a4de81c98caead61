package browser_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/browser"
)

const csp = "default-src 'none'; script-src 'self'"

// The smoke page: an external script writes text and hashes a chosen file;
// a form goes to /search; an inline script (the injected content) must be
// refused by the CSP.
const indexHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>smoke</title>
<script src="/static/app.js" defer></script></head>
<body>
<p id="out">not run</p>
<form id="search" action="/search" method="get"><input id="q" name="q" aria-label="query"></form>
<input type="file" id="file" aria-label="file"><p id="digest"></p>
<p id="hostile">` + "<script>" + browser.PwnedScript + "</script>" + `</p>
</body></html>`

const appJS = `"use strict";
document.getElementById("out").textContent = "hello from app.js <b>not bold</b>";
document.getElementById("file").addEventListener("change", async (e) => {
	const buf = await e.target.files[0].arrayBuffer();
	const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
	document.getElementById("digest").textContent =
		Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join("");
});
`

var resultTmpl = template.Must(template.New("r").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>result</title></head>
<body><p id="result">you searched for {{.}}</p></body></html>`))

// The problem pages: each shows one kind of problem the harness must catch.
const problemHTML = `<!doctype html><html><head><meta charset="utf-8">
<script src="/static/%s.js"></script></head><body><p id="done">loaded</p></body></html>`

var problemJS = map[string]string{
	"console": `console.error("boom from console", 42);`,
	"throw":   `throw new Error("boom from throw");`,
	"reject":  `Promise.reject(new Error("boom from reject"));`,
	"missing": ``, // its page also asks for /static/nothere.js, a 404
}

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, ctype string) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Type", ctype)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page(w, "text/html; charset=utf-8")
		_, _ = w.Write([]byte(indexHTML))
	})
	mux.HandleFunc("GET /static/app.js", func(w http.ResponseWriter, r *http.Request) {
		page(w, "text/javascript")
		_, _ = w.Write([]byte(appJS))
	})
	mux.HandleFunc("GET /nocsp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(indexHTML))
	})
	mux.HandleFunc("GET /search", func(w http.ResponseWriter, r *http.Request) {
		page(w, "text/html; charset=utf-8")
		_ = resultTmpl.Execute(w, r.URL.Query().Get("q"))
	})
	mux.HandleFunc("GET /problem/{kind}", func(w http.ResponseWriter, r *http.Request) {
		kind := r.PathValue("kind")
		if _, ok := problemJS[kind]; !ok {
			http.NotFound(w, r)
			return
		}
		page(w, "text/html; charset=utf-8")
		html := strings.ReplaceAll(problemHTML, "%s", kind)
		if kind == "missing" {
			html = strings.ReplaceAll(html, "missing.js", "nothere.js")
		}
		_, _ = w.Write([]byte(html))
	})
	mux.HandleFunc("GET /static/{name}", func(w http.ResponseWriter, r *http.Request) {
		js, ok := problemJS[strings.TrimSuffix(r.PathValue("name"), ".js")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		page(w, "text/javascript")
		_, _ = w.Write([]byte(js))
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestSmoke(t *testing.T) {
	srv := newServer(t)
	b := browser.New(t)
	p := b.Open(t, srv.URL+"/")

	// The external script ran, and its textContent is text, not markup.
	p.WaitText("#out", "hello from app.js", 10*time.Second)
	if got, want := p.Text("#out"), "hello from app.js <b>not bold</b>"; got != want {
		t.Errorf("#out = %q, want %q", got, want)
	}
	if p.Exists("#out b") {
		t.Error("#out has a <b> element: textContent was parsed as markup")
	}
	if v, ok := p.Attr("#q", "name"); !ok || v != "q" {
		t.Errorf(`#q name = %q, %v; want "q", true`, v, ok)
	}
	if _, ok := p.Attr("#q", "data-none"); ok {
		t.Error("#q has data-none")
	}

	// The inline script was refused and reported; it did not run.
	p.WaitProblem("csp-violation: script-src-elem blocked \"inline\"", 10*time.Second)
	p.AssertNotPwned(t)
	t.Logf("problems of the smoke page: %q", p.Problems())
	for _, s := range p.Problems() {
		if !strings.Contains(s, "csp-violation:") && !strings.Contains(s, "Content Security Policy") {
			t.Errorf("unexpected problem: %s", s)
		}
	}

	// A file chosen in the input is hashed in the page.
	file := filepath.Join(t.TempDir(), "artifact.bin")
	content := []byte("the artifact\x00\xff")
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	p.SetFileInput("#file", file)
	p.WaitText("#digest", hex.EncodeToString(sum[:]), 10*time.Second)

	// A screenshot is a PNG.
	shot := filepath.Join(t.TempDir(), "smoke.png")
	p.Screenshot(shot)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 100 {
		t.Errorf("screenshot is not a PNG: %d bytes starting %q", len(png), png[:min(len(png), 8)])
	}

	// The keyboard: typing and Enter submit the form; the result page
	// shows the query as text.
	p.SendKeys("#q", "<i>x</i> & y\n")
	p.WaitText("#result", "you searched for <i>x</i> & y", 10*time.Second)
	if !strings.HasPrefix(p.URL(), srv.URL+"/search?q=") {
		t.Errorf("URL after submit = %s", p.URL())
	}
	p.AssertNotPwned(t)

	// Submit (form.submit()) and Focus/Keys work too.
	p.Navigate(srv.URL + "/")
	p.SetValue("#q", "second")
	p.Submit("#q")
	p.WaitText("#result", "you searched for second", 10*time.Second)
}

func TestKeyboardFocus(t *testing.T) {
	srv := newServer(t)
	p := browser.New(t).Open(t, srv.URL+"/")
	p.Focus("#q")
	if got := p.Focused(); got != "q" {
		t.Fatalf("focused = %q, want q", got)
	}
	p.Keys("\t")
	if got := p.Focused(); got != "file" {
		t.Errorf("focused after Tab = %q, want file", got)
	}
}

// TestProblems: each kind of problem is caught, and a clean page has none.
func TestProblems(t *testing.T) {
	srv := newServer(t)
	b := browser.New(t)
	for _, tc := range []struct{ kind, want string }{
		{"console", "console.error: boom from console 42"},
		{"throw", "exception: Uncaught Error: boom from throw"},
		{"reject", "boom from reject"},
		{"missing", "404"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			p := b.Open(t, srv.URL+"/problem/"+tc.kind)
			p.WaitText("#done", "loaded", 10*time.Second)
			p.WaitProblem(tc.want, 10*time.Second)
		})
	}
	// Without a CSP the hostile script runs: the marker AssertNotPwned
	// looks for is the one PwnedScript sets.
	t.Run("pwned", func(t *testing.T) {
		p := b.Open(t, srv.URL+"/nocsp")
		p.WaitText("#out", "hello from app.js", 10*time.Second)
		if got := p.Eval(`typeof window.__pwned`); got != "number" {
			t.Errorf("without a CSP, typeof window.__pwned = %v, want number", got)
		}
	})
	t.Run("clean", func(t *testing.T) {
		p := b.Open(t, srv.URL+"/search?q=clean")
		p.WaitText("#result", "clean", 10*time.Second)
		// Each tab has problems of its own: the ones of the tabs
		// above are not counted here.
		p.AssertNoProblems(t)
		p.AssertNotPwned(t)
	})
}
