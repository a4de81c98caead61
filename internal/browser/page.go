package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// PwnedScript is the script a hostile test fixture runs when it gets to run
// (e.g. `<script>` + PwnedScript + `</script>` or `onerror="` + PwnedScript +
// `"` in an entry's text); AssertNotPwned checks that it never did.
const PwnedScript = "window.__pwned=1"

// cspBinding is the CDP binding through which the page reports CSP
// violations to the test (runtime.EventBindingCalled).
const cspBinding = "__tabulaBrowserCSP"

// cspListener is evaluated in every frame before any of the page's own
// scripts (CDP-injected scripts are not subject to the page's CSP).
const cspListener = `document.addEventListener("securitypolicyviolation", function (e) {
	window[` + "`" + cspBinding + "`" + `](JSON.stringify({
		directive: e.effectiveDirective || e.violatedDirective,
		blocked: e.blockedURI || "",
		source: (e.sourceFile || "") + ":" + e.lineNumber
	}));
}, true);`

// Page is one tab of a Browser, for one test.
type Page struct {
	t      testing.TB
	ctx    context.Context // chromedp tab context
	cancel context.CancelFunc

	mu       sync.Mutex
	problems []string
}

// Open opens url in a new tab and waits for its load event. The tab is closed
// when t ends.
func (b *Browser) Open(t testing.TB, url string) *Page {
	t.Helper()
	p := &Page{t: t}
	p.ctx, p.cancel = chromedp.NewContext(b.ctx, chromedp.WithListener(p.listen))
	t.Cleanup(func() {
		if err := chromedp.Cancel(p.ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("browser: closing tab: %v", err)
		}
		p.cancel()
	})
	// The first Do attaches the tab (with no deadline: it lives as long as
	// that context); the CSP listener is then installed for every document.
	if err := chromedp.Do(p.ctx); err != nil {
		t.Fatalf("browser: opening a tab: %v", err)
	}
	p.do("installing the CSP listener", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, runtime.AddBinding, runtime.AddBindingParams{Name: cspBinding}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener})
		return err
	}))
	p.Navigate(url)
	return p
}

// listen runs in the tab's event loop: it must return fast and run no
// command.
func (p *Page) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		args := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			args = append(args, remoteText(a))
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		msg = fmt.Sprintf("exception: %s (%s:%d:%d)", text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Level != cdplog.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log(%s): %s", e.Source, e.Text)
		if e.URL != "" {
			msg += fmt.Sprintf(" (%s:%d)", e.URL, e.LineNumber+1)
		}
	case *runtime.EventBindingCalled:
		if ev.Name != cspBinding {
			return
		}
		var v struct{ Directive, Blocked, Source string }
		if err := json.Unmarshal([]byte(ev.Payload), &v); err != nil {
			msg = "csp-violation: " + ev.Payload
			break
		}
		msg = fmt.Sprintf("csp-violation: %s blocked %q at %s", v.Directive, v.Blocked, v.Source)
	default:
		return
	}
	p.mu.Lock()
	p.problems = append(p.problems, msg)
	p.mu.Unlock()
}

func remoteText(o *runtime.RemoteObject) string {
	if o.Type == runtime.RemoteObjectTypeString {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
	}
	if len(o.Value) > 0 {
		return string(o.Value)
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Type)
}

// Problems returns, in order, every console error, uncaught exception,
// browser log error and CSP violation the tab has seen so far. Each starts
// with its kind: "console.error:", "exception:", "log(<source>):",
// "csp-violation:".
func (p *Page) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// AssertNoProblems fails t (the caller's test) if the tab has seen any
// problem.
func (p *Page) AssertNoProblems(t testing.TB) {
	t.Helper()
	if ps := p.Problems(); len(ps) > 0 {
		t.Errorf("browser: the page had %d problem(s):\n  %s", len(ps), strings.Join(ps, "\n  "))
	}
}

// AssertNotPwned fails t if a hostile fixture's script (PwnedScript) ran.
func (p *Page) AssertNotPwned(t testing.TB) {
	t.Helper()
	if v := p.Eval(`typeof window.__pwned`); v != "undefined" {
		t.Errorf("browser: injected script ran: typeof window.__pwned = %v", v)
	}
}

// WaitProblem waits until a problem containing substring has been recorded,
// and fails the test if none has after timeout.
func (p *Page) WaitProblem(substring string, timeout time.Duration) {
	p.t.Helper()
	p.poll(timeout, func() (bool, string) {
		ps := p.Problems()
		for _, s := range ps {
			if strings.Contains(s, substring) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no problem containing %q; problems: %q", substring, ps)
	})
}

// do runs actions with ActionTimeout, failing the test on error.
func (p *Page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %s: %v", what, err)
	}
}

// Navigate loads url in the tab and waits for its load event.
func (p *Page) Navigate(url string) {
	p.t.Helper()
	p.do("navigating to "+url, chromedp.Navigate(url))
}

// URL returns the tab's current location.
func (p *Page) URL() string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		p.t.Fatalf("browser: reading the location: %v", err)
	}
	return u
}

// Eval evaluates a JavaScript expression and returns its value decoded from
// JSON (nil, bool, float64, string, []any, map[string]any). It is for reading
// state in tests; drive the page with Click, SendKeys and the like, as a
// user would.
func (p *Page) Eval(expr string) any {
	p.t.Helper()
	v, err := p.eval(expr)
	if err != nil {
		p.t.Fatalf("browser: evaluating %s: %v", expr, err)
	}
	return v
}

func (p *Page) eval(expr string) (any, error) {
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`JSON.stringify([`+expr+`])`))
	if err != nil {
		return nil, err
	}
	var s string // JSON.stringify's result, itself JSON-encoded by CDP
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", raw, err)
	}
	var v []any
	if err := json.Unmarshal([]byte(s), &v); err != nil || len(v) != 1 {
		return nil, fmt.Errorf("decoding %s: %v", s, err)
	}
	return v[0], nil
}

// query evaluates fn(element) for the first element matching sel; ok is
// false when there is none.
func (p *Page) query(sel, fn string) (v any, ok bool, err error) {
	q, _ := json.Marshal(sel) // a string always marshals
	r, err := p.eval(`(() => { const e = document.querySelector(` + string(q) + `);
		return e === null ? {missing: true} : {v: (` + fn + `)(e)}; })()`)
	if err != nil {
		return nil, false, err
	}
	m, _ := r.(map[string]any)
	if m["missing"] == true {
		return nil, false, nil
	}
	return m["v"], true, nil
}

// Text returns the rendered text (innerText) of the first element matching
// the CSS selector sel, failing the test if there is none.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	v, ok, err := p.query(sel, `e => e.innerText`)
	if err != nil {
		p.t.Fatalf("browser: text of %s: %v", sel, err)
	}
	if !ok {
		p.t.Fatalf("browser: text of %s: no such element on %s", sel, p.URL())
	}
	s, _ := v.(string)
	return s
}

// Attr returns the value of attribute name of the first element matching
// sel, and whether it has the attribute; it fails the test if there is no
// such element.
func (p *Page) Attr(sel, name string) (string, bool) {
	p.t.Helper()
	n, _ := json.Marshal(name)
	v, ok, err := p.query(sel, `e => e.getAttribute(`+string(n)+`)`)
	if err != nil {
		p.t.Fatalf("browser: attribute %s of %s: %v", name, sel, err)
	}
	if !ok {
		p.t.Fatalf("browser: attribute %s of %s: no such element on %s", name, sel, p.URL())
	}
	s, has := v.(string)
	return s, has
}

// Exists reports whether an element matches sel now.
func (p *Page) Exists(sel string) bool {
	p.t.Helper()
	_, ok, err := p.query(sel, `e => true`)
	if err != nil {
		p.t.Fatalf("browser: looking for %s: %v", sel, err)
	}
	return ok
}

// WaitText waits until the text of the first element matching sel contains
// substring (the element may appear later, e.g. after a navigation or a
// script), and fails the test if it does not after timeout.
func (p *Page) WaitText(sel, substring string, timeout time.Duration) {
	p.t.Helper()
	p.poll(timeout, func() (bool, string) {
		v, ok, err := p.query(sel, `e => e.innerText`)
		switch {
		case err != nil: // e.g. the document is being replaced: try again
			return false, err.Error()
		case !ok:
			return false, "no element " + sel
		}
		s, _ := v.(string)
		return strings.Contains(s, substring), fmt.Sprintf("text of %s is %q", sel, s)
	})
}

// WaitAttr waits until attribute name of the first element matching sel
// equals value, and fails the test if it does not after timeout.
func (p *Page) WaitAttr(sel, name, value string, timeout time.Duration) {
	p.t.Helper()
	n, _ := json.Marshal(name)
	p.poll(timeout, func() (bool, string) {
		v, ok, err := p.query(sel, `e => e.getAttribute(`+string(n)+`)`)
		switch {
		case err != nil:
			return false, err.Error()
		case !ok:
			return false, "no element " + sel
		}
		return v == value, fmt.Sprintf("%s of %s is %v", name, sel, v)
	})
}

// poll calls cond until it is true, failing the test with cond's last
// explanation after timeout.
func (p *Page) poll(timeout time.Duration, cond func() (bool, string)) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("browser: still waiting after %v: %s", timeout, why)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Click clicks the first element matching sel, waiting for it to be visible.
func (p *Page) Click(sel string) {
	p.t.Helper()
	p.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Focus focuses the first element matching sel.
func (p *Page) Focus(sel string) {
	p.t.Helper()
	p.do("focusing "+sel, chromedp.Focus(chromedp.CSS(sel)))
}

// SetValue sets the value of the form field sel, as a paste would.
func (p *Page) SetValue(sel, value string) {
	p.t.Helper()
	p.do("setting the value of "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

// SendKeys focuses sel and types keys into it as key events; "\n" is the
// Enter key (so it submits a form from a text field), "\t" is Tab. See
// github.com/chromedp/chromedp/kb for the other keys.
func (p *Page) SendKeys(sel, keys string) {
	p.t.Helper()
	p.do("typing into "+sel, chromedp.SendKeys(chromedp.CSS(sel), keys))
}

// Keys types keys into whatever element has the focus, as a keyboard user
// would (e.g. "\t" to move the focus).
func (p *Page) Keys(keys string) {
	p.t.Helper()
	p.do("typing", chromedp.KeyEvent(keys))
}

// Focused returns the id of the element that has the focus ("" for none or
// one without an id).
func (p *Page) Focused() string {
	p.t.Helper()
	s, _ := p.Eval(`document.activeElement ? document.activeElement.id : ""`).(string)
	return s
}

// Submit submits the form of the element sel (the form itself or a field of
// it) as form.submit() does, without a submit event. Prefer SendKeys with
// "\n" to test what a user does.
func (p *Page) Submit(sel string) {
	p.t.Helper()
	p.do("submitting "+sel, chromedp.Submit(chromedp.CSS(sel)))
}

// SetFileInput chooses the file at path in the file input sel, as a user
// choosing a file (or dropping one on it) would; the input's change event
// fires.
func (p *Page) SetFileInput(sel, path string) {
	p.t.Helper()
	p.do("choosing "+path+" in "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), []string{path}))
}

// Screenshot writes a PNG of the whole page (beyond the viewport) to path.
func (p *Page) Screenshot(path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		p.t.Fatalf("browser: screenshot: %v", err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatalf("browser: screenshot: %v", err)
	}
}
