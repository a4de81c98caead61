// Package browser drives a headless Chromium from Go tests: the explorer's
// pages are tested in a real browser, with their scripts, their
// Content-Security-Policy and the keyboard, not only as HTML strings.
//
// It is a test helper: only _test.go files import it, so neither it nor
// chromedp is linked into the tabula binary.
//
// The browser is Debian's chromium. New looks for it at $TABULA_CHROMIUM,
// then /usr/bin/chromium, then "chromium" on PATH; scripts/test.sh installs
// it when it is missing and exports TABULA_CHROMIUM. When there is none, New
// skips the test with the reason (TABULA_CHROMIUM_ERROR, set by test.sh when
// the install failed), except under CI=true, where a missing browser fails
// the test: a green CI run must not hide browser tests that never ran.
//
// Each Page records every problem the page shows the developer console:
// console.error calls, uncaught exceptions, browser log entries of level
// error (failed loads, refused scripts) and Content-Security-Policy
// violations, which a listener installed before any page script reports with
// the directive and the blocked URL ("inline" for an inline script). Tests
// end with AssertNoProblems, or read Problems when they expect one.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Environment variables read by New.
const (
	// EnvChromium names the browser binary (scripts/test.sh sets it).
	EnvChromium = "TABULA_CHROMIUM"
	// EnvChromiumError is why there is no browser (scripts/test.sh sets it
	// when installing chromium failed); it is shown when the test skips.
	EnvChromiumError = "TABULA_CHROMIUM_ERROR"
)

// DefaultPath is where Debian's chromium package installs the browser.
const DefaultPath = "/usr/bin/chromium"

// ActionTimeout bounds each browser action of a Page (a click, a read, a
// navigation), so that a page that never answers fails its test instead of
// hanging until go test's own timeout.
const ActionTimeout = 30 * time.Second

// Flags are the command-line flags Chromium is started with, besides a fresh
// --user-data-dir: headless, no sandbox (the tests may run as root), and no
// background traffic, which this machine's closed network would refuse.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
	"--no-first-run", "--disable-background-networking",
	"--disable-component-update", "--disable-sync",
}

// Browser is one headless Chromium process, closed when its test ends.
type Browser struct {
	ctx context.Context // chromedp browser context
}

// Find returns the path of the Chromium binary, or an error saying why there
// is none.
func Find() (string, error) {
	path, err := find()
	if err != nil {
		if why := os.Getenv(EnvChromiumError); why != "" {
			err = fmt.Errorf("%w (%s)", err, why)
		}
		return "", err
	}
	return path, nil
}

func find() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvChromium, p, err)
		}
		return p, nil
	}
	if _, err := exec.LookPath(DefaultPath); err == nil {
		return DefaultPath, nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", errors.New("no chromium at " + DefaultPath + " nor on PATH; install Debian's chromium package (scripts/test.sh does, as root) or set " + EnvChromium)
}

// New starts a headless Chromium for t, with a fresh profile in a temporary
// directory; it is closed when t ends. Without a browser, t is skipped,
// or fails when CI=true.
func New(t testing.TB) *Browser {
	t.Helper()
	path, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser: %v (CI=true: a browser test must not be skipped)", err)
		}
		t.Skipf("browser: skipping a test that needs a browser: %v", err)
	}
	dir := t.TempDir() // removed after the cleanup below has closed the browser

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f[len("--"):], true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("browser: closing chromium: %v", err)
		}
		cancel()
		cancelAlloc() // waits for the process to exit
	})
	// The first Do starts the process; its context must have no deadline, as
	// the browser lives as long as that context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: starting %s: %v", path, err)
	}
	return &Browser{ctx: ctx}
}
