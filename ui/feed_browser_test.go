package ui_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/browser"
	"github.com/tabularium/tabula/internal/testentry"
)

// feedWait bounds each wait for the page in the browser tests: the feed polls
// every 200 ms, so this is slack for a loaded machine, not a timing claim.
const feedWait = 20 * time.Second

// TestFeedBrowser opens log pages in Chromium and writes entries through the
// real API while they are open: the live feed puts each new entry on top of
// the table (index, link, integrated time for Rekor v1, kind and version
// from the body), makes the table when the log was empty (Rekor v2), keeps
// the log's size up to date, and the page sees no console error and no CSP
// violation.
func TestFeedBrowser(t *testing.T) {
	s := newFeedSite(t, engines[0], 200*time.Millisecond)
	b := browser.New(t)
	sg, err := testentry.NewCertSigner("live@example.com")
	if err != nil {
		t.Fatal(err)
	}
	v1 := func(artifact string) string {
		body, err := sg.HashedRekord([]byte(artifact))
		if err != nil {
			t.Fatal(err)
		}
		return s.post("/api/v1/log/entries", body)
	}
	v2 := func(artifact string) string {
		body, err := sg.HashedRekordV2([]byte(artifact))
		if err != nil {
			t.Fatal(err)
		}
		return s.post("/api/v2/log/entries", body)
	}
	firstRow := func(p *browser.Page) (href, index, integrated, kind string) {
		t.Helper()
		v, _ := p.Eval(`(() => { const r = document.querySelector("#feed tbody tr");
			return [r.cells[1].querySelector("a").getAttribute("href"), r.cells[1].textContent, r.cells[2].textContent, r.cells[3].textContent]; })()`).([]any)
		if len(v) != 4 {
			t.Fatalf("first row: %v", v)
		}
		return v[0].(string), v[1].(string), v[2].(string), v[3].(string)
	}

	t.Run("v1", func(t *testing.T) {
		at0 := v1("x0")
		tree := treeOf(at0)
		p := b.Open(t, s.URL+"/log/"+tree)
		p.WaitText("#feed-status", "live: log size 1", feedWait)
		var at []string
		for i := 1; i <= 3; i++ {
			at = append(at, v1("x"+strconv.Itoa(i)))
		}
		p.WaitText("#log-size", "4", feedWait)
		p.WaitText("#feed-status", "log size 4", feedWait)
		href, index, integrated, kind := firstRow(p)
		if href != at[2] || index != "3" || kind != "hashedrekord 0.0.1" ||
			!regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(integrated) {
			t.Errorf("first row: %q %q %q %q, want %s, index 3, a time, hashedrekord 0.0.1", href, index, integrated, kind, at[2])
		}
		if n := p.Eval(`document.querySelectorAll("#feed tbody tr").length`); n != 4.0 {
			t.Errorf("%v rows, want 4", n)
		}
		if got := p.Eval(`Array.from(document.querySelectorAll("#feed tbody tr td:nth-child(2)"), (c) => c.textContent).join(",")`); got != "3,2,1,0" {
			t.Errorf("indexes %v, want 3,2,1,0", got)
		}
		// The new row's link opens the entry.
		p.Click(`#feed tbody tr:first-child td:nth-child(2) a`)
		p.WaitText("#entry-index", "3", feedWait)
		p.AssertNoProblems(t)
		p.AssertNotPwned(t)
	})

	t.Run("v2 empty log", func(t *testing.T) {
		sh, err := s.v2.Active(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p := b.Open(t, s.URL+"/log/"+strconv.FormatInt(sh.TreeID(), 10))
		p.WaitText("#feed-status", "live: log size 0", feedWait)
		if !p.Exists("#feed p.none") || p.Exists("#feed table") {
			t.Fatal("an empty log's page has a table")
		}
		at := v2("y0")
		p.WaitText("#feed tbody", "hashedrekord 0.0.2", feedWait)
		href, index, integrated, _ := firstRow(p)
		if href != at || index != "0" || integrated != "" {
			t.Errorf("first row: %q %q %q, want %s, index 0, no time", href, index, integrated, at)
		}
		if p.Exists("#feed p.none") {
			t.Error("the No entries line stayed")
		}
		uuid, _ := p.Attr("#feed tbody td.uuid a", "href")
		if !regexp.MustCompile(`^/entry/[0-9a-f]{64}$`).MatchString(uuid) {
			t.Errorf("UUID link %q", uuid)
		}
		p.AssertNoProblems(t)
	})

	t.Run("server errors", func(t *testing.T) {
		at0 := v1("e0")
		p := b.Open(t, s.URL+"/log/"+treeOf(at0))
		p.WaitText("#feed-status", "live", feedWait)
		// The server stops answering (as seen from the page): the feed says
		// it retries later; it picks up the new entry when it answers again.
		p.Eval(`(window.__fetch = window.fetch, window.fetch = () => Promise.reject(new TypeError("offline")), 0)`)
		p.WaitText("#feed-status", "retrying in", feedWait)
		at := v1("e1")
		p.Eval(`(window.fetch = window.__fetch, 0)`)
		p.WaitAttr("#feed tbody tr:first-child td:nth-child(2) a", "href", at, feedWait)
		p.WaitText("#feed-status", "live: 1 new entry", feedWait)
		p.AssertNoProblems(t)
	})

	t.Run("at most the newest 25", func(t *testing.T) {
		at0 := v1("z0")
		tree := treeOf(at0)
		p := b.Open(t, s.URL+"/log/"+tree)
		size := p.Eval(`Number(document.querySelector("[data-feed-size]").getAttribute("data-feed-size"))`).(float64)
		p.WaitText("#feed-status", "live", feedWait)
		// Stop the page's polls (as a hidden tab does) while 30 entries are
		// written, so that one poll finds them all.
		p.Eval(`(Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true}), document.dispatchEvent(new Event("visibilitychange")), 0)`)
		p.WaitText("#feed-status", "paused", feedWait)
		var last string
		for i := range 30 {
			last = v1("z" + strconv.Itoa(i+1))
		}
		p.Eval(`(Object.defineProperty(document, "visibilityState", {value: "visible", configurable: true}), document.dispatchEvent(new Event("visibilitychange")), 0)`)
		want := strconv.Itoa(int(size) + 30)
		p.WaitText("#feed-status", "log size "+want, feedWait)
		if n := p.Eval(`document.querySelectorAll("#feed tbody tr").length`); n != 25.0 {
			t.Errorf("%v rows, want 25", n)
		}
		if n := p.Eval(`document.querySelectorAll("#feed tbody tr.feed-new").length`); n != 25.0 {
			t.Errorf("%v new rows, want 25", n)
		}
		if href, _, _, _ := firstRow(p); href != last {
			t.Errorf("first row %s, want %s", href, last)
		}
		if !strings.Contains(p.Text("#feed-status"), "25 new entries") {
			t.Errorf("status %q", p.Text("#feed-status"))
		}
		p.AssertNoProblems(t)
	})
}

// TestCopyBrowser presses the entry page's Copy button from the keyboard:
// the raw JSON is on the clipboard and the status says "copied".
func TestCopyBrowser(t *testing.T) {
	s := newFeedSite(t, engines[0], time.Second)
	b := browser.New(t)
	sg, err := testentry.NewCertSigner("copy@example.com")
	if err != nil {
		t.Fatal(err)
	}
	body, err := sg.HashedRekord([]byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	at := s.post("/api/v1/log/entries", body)
	p := b.Open(t, s.URL+at)
	p.GrantPermission(s.URL, "clipboard-read")
	p.GrantPermission(s.URL, "clipboard-write")
	p.WaitAttr("#copy-raw", "class", "copy", feedWait) // shown by copy.js
	p.Focus("#copy-raw")
	if f := p.Focused(); f != "copy-raw" {
		t.Fatalf("focus on %q", f)
	}
	p.Keys("\r")
	p.WaitText("#copy-status", "copied", feedWait)
	p.Eval(`(window.__clip = null, navigator.clipboard.readText().then((s) => { window.__clip = {text: s}; }, (e) => { window.__clip = {err: String(e)}; }), 0)`)
	var clip map[string]any
	deadline := time.Now().Add(feedWait)
	for clip == nil && time.Now().Before(deadline) {
		clip, _ = p.Eval(`window.__clip`).(map[string]any)
		if clip == nil {
			time.Sleep(25 * time.Millisecond)
		}
	}
	raw := p.Eval(`document.getElementById("raw-body").textContent`).(string)
	if clip == nil || clip["text"] != raw {
		t.Fatalf("clipboard %v, want the raw JSON %q", clip, raw)
	}
	if !strings.Contains(raw, `"kind": "hashedrekord"`) {
		t.Fatalf("raw JSON %q", raw)
	}
	p.AssertNoProblems(t)
}
