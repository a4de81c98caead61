package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/monitor"
)

// tabula runs the tabula command line in-process and returns its exit code
// and output.
func monRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// upload posts one entry per artifact, signed by s, through the v1 API, with
// a few writers at once.
func monUpload(t *testing.T, url string, s *testentry.Signer, tag string, n int) {
	t.Helper()
	cl, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			body, err := s.HashedRekord(fmt.Appendf(nil, "%s %d", tag, i))
			if err == nil {
				_, _, err = cl.CreateEntry(context.Background(), body)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestMonitorAndAuditServe follows and audits a real `tabula serve` on both
// engines through the command line.
func TestMonitorAndAuditServe(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			c := defaultConfig(t)
			if engine == "postgres" {
				c.DatabaseURL = pgtest.NewDatabase(t)
			}
			url, _ := startServe(t, c)
			key := filepath.Join(c.DataDir, "log-key.pub.pem")
			state := t.TempDir()
			plain, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			alice, err := testentry.NewCertSigner("alice@example.com")
			if err != nil {
				t.Fatal(err)
			}
			monUpload(t, url, plain, "first", 300)

			mon := func(extra ...string) (int, string, string) {
				return monRun(t, append([]string{"monitor", "--once", "--server", url, "--log-key", key, "--state-dir", state}, extra...)...)
			}
			code, out, errOut := mon()
			if code != 0 || !strings.Contains(out, "Tree size:    300") || !strings.Contains(out, "first checkpoint") {
				t.Fatalf("first monitor run: %d\n%s%s", code, out, errOut)
			}
			monUpload(t, url, plain, "second", 100)
			monUpload(t, url, alice, "alice", 2)
			code, out, errOut = mon("--watch-email", "alice@example.com", "--watch-oidc-issuer", testentry.OIDCIssuer)
			if code != 1 || !strings.Contains(out, "consistent with size 300; 102 new entries") || strings.Count(out, "watch-match: entry") != 2 ||
				!strings.Contains(out, "email:alice@example.com") || !strings.Contains(out, "oidc-issuer:"+testentry.OIDCIssuer) {
				t.Fatalf("monitor with a watch list: %d\n%s%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "level=WARN msg=\"ALERT: entry") {
				t.Errorf("no alert logged:\n%s", errOut)
			}
			t.Logf("monitor --once:\n%s", out)
			code, out, errOut = mon("--watch-email", "alice@example.com")
			if code != 0 || !strings.Contains(out, "no new entries since size 402") {
				t.Fatalf("monitor with nothing new: %d\n%s%s", code, out, errOut)
			}

			aud := func(extra ...string) (int, string, string) {
				return monRun(t, append([]string{"audit", "--server", url, "--log-key", key, "--state-dir", state}, extra...)...)
			}
			code, out, errOut = aud()
			if code != 0 || !strings.Contains(out, "Entries read: 402 ") || !strings.Contains(out, "Result:       OK") {
				t.Fatalf("audit: %d\n%s%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "audit: 402/402 entries (100%)") {
				t.Errorf("no plain progress lines:\n%s", errOut)
			}
			t.Logf("audit:\n%s%s", out, errOut)
			monUpload(t, url, plain, "third", 10)
			code, out, errOut = aud("--progress", "none")
			if code != 0 || !strings.Contains(out, "Resumed at:   402") || !strings.Contains(out, "Entries read: 10 ") || errOut != "" {
				t.Fatalf("audit after growth: %d\n%s%s", code, out, errOut)
			}
		})
	}
}

func TestMonitorAuditUsage(t *testing.T) {
	for _, cmd := range []string{"monitor", "audit"} {
		code, _, errOut := monRun(t, cmd, "--server", "http://127.0.0.1:1")
		if code != 2 || !strings.Contains(errOut, "--log-key is required") {
			t.Errorf("%s without --log-key: %d %s", cmd, code, errOut)
		}
	}
	code, _, errOut := monRun(t, "audit", "--log-key", "x", "--progress", "fancy")
	if code != 2 {
		t.Errorf("audit --progress fancy: %d %s", code, errOut)
	}
}

// monLyingServer serves a lying log of n entries over HTTP and writes its key.
func monLyingServer(t *testing.T, n int) (*lyinglog.Log, string, string) {
	t.Helper()
	l, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(monEntries("honest", n)...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	key := filepath.Join(t.TempDir(), "lying.pub.pem")
	if err := os.WriteFile(key, l.PublicKeyPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return l, srv.URL, key
}

func monEntries(tag string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"%s":%d}`, tag, i)
	}
	return out
}

// TestMonitorAndAuditCatchLyingLog: the commands, over HTTP, catch a log that
// forks or drops an entry, and exit non-zero.
func TestMonitorAndAuditCatchLyingLog(t *testing.T) {
	tests := []struct {
		name string
		lie  func(l *lyinglog.Log) error
		want string
	}{
		{"fork", func(l *lyinglog.Log) error { return l.Fork(500, monEntries("forged", 600)...) }, "inconsistent-checkpoint"},
		{"same-size fork", func(l *lyinglog.Log) error { return l.Fork(999, monEntries("forged", 1)...) }, "inconsistent-checkpoint"},
		{"dropped entry", func(l *lyinglog.Log) error {
			if err := l.Append(monEntries("new", 300)...); err != nil {
				return err
			}
			return l.DropEntry(1100)
		}, "entries-mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, url, key := monLyingServer(t, 1000)
			state := t.TempDir()
			args := []string{"--server", url, "--log-key", key, "--state-dir", state}
			if code, out, errOut := monRun(t, append([]string{"monitor", "--once"}, args...)...); code != 0 {
				t.Fatalf("monitor of the honest log: %d\n%s%s", code, out, errOut)
			}
			if code, out, errOut := monRun(t, append([]string{"audit"}, args...)...); code != 0 {
				t.Fatalf("audit of the honest log: %d\n%s%s", code, out, errOut)
			}
			if err := tt.lie(l); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 1 || !strings.Contains(out, tt.want) || !strings.Contains(out, "Verified:     NO") || !strings.Contains(errOut, "level=ERROR msg=\"ALERT:") {
				t.Errorf("monitor of the lying log: %d\n%s%s", code, out, errOut)
			}
			t.Logf("monitor:\n%s", out)
			code, out, errOut = monRun(t, append([]string{"audit"}, args...)...)
			if code != 1 || !strings.Contains(out, "AUDIT FAILED ("+tt.want+")") {
				t.Errorf("audit of the lying log: %d\n%s%s", code, out, errOut)
			}
			t.Logf("audit:\n%s", out)
			// A fresh audit from index 0 catches it too.
			code, out, errOut = monRun(t, append([]string{"audit", "--restart", "--state-dir", t.TempDir()}, args[:4]...)...)
			if tt.name != "fork" && tt.name != "same-size fork" && (code != 1 || !strings.Contains(out, "AUDIT FAILED")) {
				t.Errorf("fresh audit of the lying log: %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// TestMonitorFollowsWithWebhookAndMetrics runs the monitor as a daemon
// against a log that then forks: the webhook gets the alert and the metrics
// count it.
func TestMonitorFollowsWithWebhookAndMetrics(t *testing.T) {
	l, url, key := monLyingServer(t, 100)
	hooks := make(chan monitor.Alert, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a monitor.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Errorf("webhook: %v", err)
		}
		hooks <- a
	}))
	defer hook.Close()
	metricsAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errOut monBuffer
	go func() {
		done <- run(ctx, []string{"monitor", "--server", url, "--log-key", key, "--state-dir", t.TempDir(),
			"--interval", "50ms", "--webhook", hook.URL, "--metrics-listen", metricsAddr}, &out, &errOut)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("monitor exited %d\n%s", code, errOut.String())
		}
	}()
	monWaitFor(t, func() bool { return strings.Contains(errOut.String(), "msg=checked") }, &errOut)
	if err := l.Append(monEntries("more", 20)...); err != nil {
		t.Fatal(err)
	}
	monWaitFor(t, func() bool { return strings.Contains(errOut.String(), "size=120") }, &errOut)
	if err := l.Fork(50, monEntries("forged", 100)...); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-hooks:
		if a.Kind != monitor.AlertInconsistent || a.Verified == "" || a.Checkpoint == "" {
			t.Errorf("webhook alert %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no webhook alert\n%s", errOut.String())
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tabula_monitor_alerts_total{kind="inconsistent-checkpoint"} 1`,
		`tabula_monitor_verified_tree_size 120`,
		`tabula_monitor_entries_read_total 20`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Polled again and again, the fork is notified once.
	time.Sleep(200 * time.Millisecond)
	if len(hooks) != 0 {
		t.Errorf("%d more webhook alerts for the same fork", len(hooks))
	}
}

// monBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type monBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *monBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *monBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func monWaitFor(t *testing.T, cond func() bool, log *monBuffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; log:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
