package ui_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/ui"
)

// TestSearchRateLimited checks the explorer shares the API's per-client
// rate limit: with a burst of 3 and a rate that refills nothing during the
// test, a client's fourth search gets 429 with Retry-After, and so do its
// API calls and other pages, while another client (named by a trusted
// proxy) still searches and the probes still answer.
func TestSearchRateLimited(t *testing.T) {
	const burst = 3
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, e, true, func(c *api.Config) {
				c.Limits = api.Limits{
					RatePerClient:  1e-6, // one request per 11 days: nothing refills
					Burst:          burst,
					LimitLoopback:  true,
					TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
				}
			})
			search := "/search?q=" + url.QueryEscape("alice@example.com")
			get := func(path, client string) *http.Response {
				t.Helper()
				req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Forwarded-For", client)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			tests := []struct {
				name, path, client string
				want               int
			}{
				{"search 1", search, "192.0.2.1", http.StatusOK},
				{"search 2", search, "192.0.2.1", http.StatusOK},
				{"search 3", search, "192.0.2.1", http.StatusOK},
				{"search beyond the burst", search, "192.0.2.1", http.StatusTooManyRequests},
				{"home page beyond the burst", "/", "192.0.2.1", http.StatusTooManyRequests},
				{"entry page beyond the burst", "/log/1/entry/0", "192.0.2.1", http.StatusTooManyRequests},
				{"API beyond the burst", "/api/v1/log", "192.0.2.1", http.StatusTooManyRequests},
				{"another client's search", search, "192.0.2.2", http.StatusOK},
				{"probe", "/healthz", "192.0.2.1", http.StatusOK},
			}
			for _, tt := range tests {
				resp := get(tt.path, tt.client)
				if resp.StatusCode != tt.want {
					t.Fatalf("%s: GET %s from %s: %d, want %d", tt.name, tt.path, tt.client, resp.StatusCode, tt.want)
				}
				if tt.want == http.StatusTooManyRequests {
					if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
						t.Errorf("%s: 429 with Retry-After %q", tt.name, resp.Header.Get("Retry-After"))
					}
				}
			}
		})
	}
}

// TestSearchBounded checks the search page refuses what it will not serve
// with 4xx, never 5xx: queries, issuers and pages out of bounds, a query
// too long for the HTTP server; that a page never holds more than
// PageSize results however many entries match; and that no answer grows
// with the request (a refused query is not echoed back).
func TestSearchBounded(t *testing.T) {
	// The largest answer: PageSize results, or the search box and
	// MaxQuery echoed in the title and both search boxes.
	const maxPage = 128 << 10
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, e, true)
			alice, err := testentry.NewCertSigner("alice@example.com")
			if err != nil {
				t.Fatal(err)
			}
			for i := range ui.PageSize + 1 {
				b, err := alice.HashedRekord([]byte("bounded " + strconv.Itoa(i)))
				if err != nil {
					t.Fatal(err)
				}
				s.post("/api/v1/log/entries", b)
			}
			q := func(s string) string { return "/search?q=" + url.QueryEscape(s) }
			tests := []struct {
				name, path string
				want       int
				text       string // in the body
			}{
				{"query of MaxQuery bytes", q(strings.Repeat("a", ui.MaxQuery)), http.StatusOK, ": 0 found"},
				{"query longer than MaxQuery", q(strings.Repeat("a", ui.MaxQuery+1)), http.StatusBadRequest, "longer than"},
				{"query of 512 KiB", q(strings.Repeat("b", 512<<10)), http.StatusBadRequest, "longer than"},
				{"query past the HTTP server's header limit", q(strings.Repeat("c", 2<<20)), http.StatusRequestHeaderFieldsTooLarge, ""},
				{"issuer too long", "/search?issuer=" + strings.Repeat("i", 1025), http.StatusBadRequest, "issuer is too long"},
				{"page 0", q("alice@example.com") + "&page=0", http.StatusBadRequest, "page must be"},
				{"page past MaxPage", q("alice@example.com") + "&page=" + strconv.Itoa(ui.MaxPage+1), http.StatusBadRequest, "page must be"},
				{"page not a number", q("alice@example.com") + "&page=1e9", http.StatusBadRequest, "page must be"},
				{"page overflowing", q("alice@example.com") + "&page=99999999999999999999999", http.StatusBadRequest, "page must be"},
				{"home page past MaxPage", "/?page=" + strconv.Itoa(ui.MaxPage+1), http.StatusBadRequest, "page must be"},
				{"first page", q("alice@example.com"), http.StatusOK, "26 found"},
				{"last page of MaxPage", q("alice@example.com") + "&page=" + strconv.Itoa(ui.MaxPage), http.StatusOK, "26 found"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := s.get(tt.path)
					if resp.StatusCode != tt.want {
						t.Fatalf("GET %.80s…: %d, want %d\n%.500s", tt.path, resp.StatusCode, tt.want, body)
					}
					if !strings.Contains(body, tt.text) {
						t.Errorf("GET %.80s…: the answer lacks %q:\n%.2000s", tt.path, tt.text, body)
					}
					if len(body) > maxPage {
						t.Errorf("GET %.80s…: a page of %d bytes, more than %d", tt.path, len(body), maxPage)
					}
					if n := len(results(body)); n > ui.PageSize {
						t.Errorf("GET %.80s…: %d results on a page", tt.path, n)
					}
					if tt.path == q("alice@example.com") && len(results(body)) != ui.PageSize {
						t.Errorf("the first of two pages holds %d results, not %d", len(results(body)), ui.PageSize)
					}
				})
			}
		})
	}
}
