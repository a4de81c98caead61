package main

import (
	"html"
	"io"
	"net/http"
	"regexp"
	"testing"

	"github.com/tabularium/tabula/ui"
)

// TestAboutMatchesCommands checks the explorer's /about documents, built
// by serve from its log sets, are byte for byte what `tabula trusted-root
// --server` and `tabula signing-config --server` build from the server's
// HTTP API: on a server with Rekor v1 only, and with both APIs rotated (a
// frozen v1 log whose validity ends after its last entry, a frozen v2 log
// ending when the next was created), the TSA included.
func TestAboutMatchesCommands(t *testing.T) {
	for _, tt := range []struct {
		name       string
		v2, rotate bool
	}{
		{"v1 only", false, false},
		{"both rotated", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := serveWithLogs(t, tt.v2, tt.rotate)

			wantTR := mustTabula(t, "trusted-root", "--server", u)
			wantSC := mustTabula(t, "signing-config", "--server", u)
			for _, f := range []struct{ path, want string }{
				{"/about/trusted_root.json", wantTR},
				{"/about/signing_config.json", wantSC},
			} {
				resp, body := httpGet(t, u+f.path)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Content-Security-Policy") != ui.CSP {
					t.Errorf("GET %s: %d, headers %v", f.path, resp.StatusCode, resp.Header)
				}
				if body != f.want {
					t.Errorf("GET %s differs from the command's output:\n%s\nwant:\n%s", f.path, body, f.want)
				}
			}
			_, page := httpGet(t, u+"/about")
			for _, f := range []struct{ id, want string }{{"trusted-root", wantTR}, {"signing-config", wantSC}} {
				m := regexp.MustCompile(`<pre class="json" id="` + f.id + `">([^<]*)</pre>`).FindStringSubmatch(page)
				if m == nil {
					t.Errorf("/about has no %s block:\n%s", f.id, page)
				} else if got := html.UnescapeString(m[1]); got != f.want {
					t.Errorf("/about shows a %s that differs from the command's output:\n%s\nwant:\n%s", f.id, got, f.want)
				}
			}
		})
	}
}

func httpGet(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}
