package ui_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/ui"
)

// newFeedSite is newSite with the explorer's live feed polling every
// interval.
func newFeedSite(t *testing.T, e logsettest.Engine, interval time.Duration) *site {
	t.Helper()
	return newSite(t, e, false, func(c *api.Config) {
		x, err := ui.New(ui.Config{Logs: c.Logs, V2Logs: c.V2Logs, FeedInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		c.UI = x
	})
}

// treeOf is the tree ID in an entry page's path /log/{tree}/entry/{index}.
func treeOf(p string) string { return strings.Split(p, "/")[2] }

var inlineRE = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]|<script>|<style|<[^>]*\s(?:style|on[a-z]+)=`)

// TestFeedAndCopyMarkup checks the markup feed.js and copy.js work from, on
// both engines: an active log's first page carries the feed's wrapper with
// the size the table was rendered at and the script; a frozen log, an older
// page and other pages do not; every entry page has the copy button (hidden
// until copy.js shows it) and its script; no page holds inline script or
// style.
func TestFeedAndCopyMarkup(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newFeedSite(t, e, 1500*time.Millisecond)
			sg, err := testentry.NewCertSigner("feed@example.com")
			if err != nil {
				t.Fatal(err)
			}
			post := func(artifact string) string {
				b, err := sg.HashedRekord([]byte(artifact))
				if err != nil {
					t.Fatal(err)
				}
				return s.post("/api/v1/log/entries", b)
			}
			first := post("f0")
			post("f1")
			frozen := treeOf(first)
			logsettest.Rotate(t, s.store, s.key2)
			var active []string
			for i := range ui.PageSize + 3 {
				active = append(active, post("a"+strconv.Itoa(i)))
			}
			tree := treeOf(active[0])
			v2, err := s.v2.Active(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			v2tree := strconv.FormatInt(v2.TreeID(), 10)

			feedWrap := func(tree string, size int) string {
				return `<div id="feed" class="feed" data-feed-tree="` + tree + `" data-feed-size="` + strconv.Itoa(size) + `" data-feed-interval="1500">`
			}
			const script = `<script src="/static/feed.js" defer></script>`
			const status = `<p id="feed-status" class="feed-status" role="status" hidden></p>`
			tests := []struct {
				name, path string
				want, not  []string
			}{
				{"active v1 log", "/log/" + tree, []string{feedWrap(tree, ui.PageSize+3), script, status}, nil},
				{"empty v2 log", "/log/" + v2tree, []string{feedWrap(v2tree, 0), script, status, `<p class="none">No entries.</p>`}, nil},
				{"frozen log", "/log/" + frozen, []string{`<div id="feed" class="feed">`}, []string{"data-feed-tree", script, status}},
				{"older page", "/log/" + tree + "?page=2", []string{`<div id="feed" class="feed">`}, []string{"data-feed-tree", script}},
				{"home", "/", nil, []string{"data-feed-tree", script, "copy.js"}},
				{"search", "/search?q=feed@example.com", nil, []string{"data-feed-tree", script, "copy.js"}},
				{"entry", active[0], []string{
					`<button type="button" class="copy needs-js" id="copy-raw" data-copy="raw-body">Copy</button> <span id="copy-status" class="copy-status" role="status"></span>`,
					`<pre class="json" id="raw-body">`, `<script src="/static/copy.js" defer></script>`}, []string{script}},
				{"frozen log's entry", first, []string{`data-copy="raw-body"`, `<script src="/static/copy.js" defer></script>`}, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := s.get(tt.path)
					if resp.StatusCode != 200 {
						t.Fatalf("GET %s: %d\n%s", tt.path, resp.StatusCode, body)
					}
					if resp.Header.Get("Content-Security-Policy") != ui.CSP {
						t.Errorf("GET %s: CSP %q", tt.path, resp.Header.Get("Content-Security-Policy"))
					}
					if inlineRE.MatchString(body) {
						t.Errorf("GET %s: inline script, style or handler: %q", tt.path, inlineRE.FindString(body))
					}
					for _, w := range tt.want {
						if !strings.Contains(body, w) {
							t.Errorf("GET %s lacks %q", tt.path, w)
						}
					}
					for _, n := range tt.not {
						if strings.Contains(body, n) {
							t.Errorf("GET %s holds %q", tt.path, n)
						}
					}
				})
			}

			for _, f := range []string{"/static/feed.js", "/static/copy.js"} {
				resp, body := s.get(f)
				if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") ||
					resp.Header.Get("Content-Security-Policy") != ui.CSP || !strings.Contains(body, `"use strict"`) {
					t.Errorf("GET %s: %d %v", f, resp.StatusCode, resp.Header)
				}
				for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function", "document.write"} {
					if strings.Contains(body, bad) {
						t.Errorf("%s uses %s", f, bad)
					}
				}
			}
		})
	}
}
