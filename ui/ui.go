// Package ui is Tabula's explorer: HTML pages, rendered on the server with
// html/template, to search a server's logs, read an entry (its decoded body,
// certificate, DSSE payload and in-toto statement) and see its inclusion
// proof, to read a log's state and newest entries, and to find the server's
// keys. Every page works with JavaScript off; the proof panel of an entry
// page is checked in the browser by static/verify.js when it runs.
//
// Everything in an entry is written by whoever uploaded it, so every value
// reaches the page through html/template's contextual escaping and never as
// template.HTML; every answer carries a Content-Security-Policy without
// 'unsafe-inline' (pages hold no inline script or style) and the assets are
// embedded, so a page loads nothing from another origin.
package ui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"time"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/witness/submit"
)

// CSP is the Content-Security-Policy of every answer of the explorer.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// DefaultTimeout bounds the time spent on one page.
const DefaultTimeout = 10 * time.Second

// DefaultFeedInterval is how often a log page's live feed (static/feed.js)
// polls the log's latest checkpoint.
const DefaultFeedInterval = 5 * time.Second

// PageSize is the number of entries on a page of search results or of a
// log's newest entries.
const PageSize = 25

// MaxPage is the last page of results served: deeper pages cost a read per
// entry skipped, so a search that finds more asks to be narrowed.
const MaxPage = 200

//go:embed static
var staticFS embed.FS

//go:embed templates
var templateFS embed.FS

// Config configures the explorer.
type Config struct {
	// Logs are the server's Rekor v1 logs. Required.
	Logs *logset.Set
	// V2Logs are its Rekor v2 logs, if any.
	V2Logs *logset.Set
	// Witnesses, if not nil, gives the witnessed logs' cosigned
	// checkpoints, shown on their log pages.
	Witnesses *submit.Manager
	// About, if not nil, returns the server's Sigstore trusted root and
	// signing config (JSON) for clients reaching it at baseURL (the
	// request's scheme and Host, e.g. "https://log.example.com"), shown on
	// /about and served as /about/trusted_root.json and
	// /about/signing_config.json; without it the page shows the commands
	// that print them.
	About func(ctx context.Context, baseURL string) (trustedRoot, signingConfig []byte, err error)
	// Timeout bounds the work of one page (0: DefaultTimeout).
	Timeout time.Duration
	// FeedInterval is how often the live feed of a log page polls the
	// log's checkpoint (0: DefaultFeedInterval; at least 100 ms).
	FeedInterval time.Duration
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
}

// UI serves the explorer's pages and assets.
type UI struct {
	cfg    Config
	logger *slog.Logger
	pages  map[string]*template.Template
	static http.Handler
	mux    *http.ServeMux
}

// New builds the explorer.
func New(cfg Config) (*UI, error) {
	if cfg.Logs == nil {
		return nil, errors.New("ui: Logs is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.FeedInterval <= 0 {
		cfg.FeedInterval = DefaultFeedInterval
	}
	cfg.FeedInterval = max(cfg.FeedInterval, 100*time.Millisecond)
	u := &UI{cfg: cfg, logger: cfg.Logger, pages: map[string]*template.Template{}}
	if u.logger == nil {
		u.logger = slog.New(slog.DiscardHandler)
	}
	for _, name := range []string{"home", "search", "entry", "log", "about", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parsing templates: %w", err)
		}
		u.pages[name] = t
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	u.static = http.StripPrefix("/static/", http.FileServerFS(sub))

	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", u.home)
	m.HandleFunc("GET /search", u.search)
	m.HandleFunc("GET /entry/{id}", u.entryByID)
	m.HandleFunc("GET /log/{tree}", u.logPage)
	m.HandleFunc("GET /log/{tree}/entry/{index}", u.entryByIndex)
	m.HandleFunc("GET /about", u.about)
	m.HandleFunc("GET /about/{file}", u.aboutFile)
	m.HandleFunc("GET /static/{file}", u.serveStatic)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u.fail(w, r, http.StatusNotFound, "There is no page at this address.")
	})
	u.mux = m
	return u, nil
}

// ServeHTTP serves a page or an asset, with the explorer's security headers,
// within the page timeout.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	ctx, cancel := context.WithTimeout(r.Context(), u.cfg.Timeout)
	defer cancel()
	u.mux.ServeHTTP(w, r.WithContext(ctx))
}

func (u *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	if path.Ext(r.PathValue("file")) == "" {
		u.fail(w, r, http.StatusNotFound, "There is no such file.")
		return
	}
	if _, err := fs.Stat(staticFS, "static/"+r.PathValue("file")); err != nil {
		u.fail(w, r, http.StatusNotFound, "There is no such file.")
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	u.static.ServeHTTP(w, r)
}

// page is what every template gets.
type page struct {
	Title string
	Query string // the search box's text
	Data  any
}

// render writes the page, or an error page if the template fails (before
// anything was written: pages are rendered into a buffer).
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	var b bytes.Buffer
	if err := u.pages[name].Execute(&b, p); err != nil {
		u.logger.Error("ui: rendering", "page", name, "path", r.URL.Path, "err", err)
		if name != "error" {
			u.fail(w, r, http.StatusServiceUnavailable, "The page could not be rendered.")
		}
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fail answers with an error page.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	u.render(w, r, status, "error", page{Title: http.StatusText(status), Data: struct {
		Status int
		Text   string
		Msg    string
	}{status, http.StatusText(status), msg}})
}

// unavailable answers a failure of the store: 503, as the API does (the
// cause is logged, not shown), or 504 when the page ran out of time.
func (u *UI) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	u.logger.Warn("ui: page failed", "path", r.URL.Path, "err", err)
	if errors.Is(err, context.DeadlineExceeded) {
		u.fail(w, r, http.StatusServiceUnavailable, "The page took too long to build; try a narrower search.")
		return
	}
	u.fail(w, r, http.StatusServiceUnavailable, "The log's storage could not be read; try again shortly.")
}
