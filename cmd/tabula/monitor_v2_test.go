package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/signer"
)

// TestMonitorFollowsV2Logs: a real server (both engines) with a Rekor v1
// log and a Rekor v2 log made by `tabula log create --api v2`, written
// through POST /api/v2/log/entries; monitor and audit, with both keys
// pinned, follow both logs, match a watched identity in a v2 entry, follow
// a v2 rotation (the frozen v2 log read to its final checkpoint, the new
// one reported and read from its first entry), and a server that serves
// another checkpoint of the frozen v2 log, signed with its key, raises the
// frozen-log alert and fails the audit.
func TestMonitorFollowsV2Logs(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			c := defaultConfig(t)
			dbArgs := []string{"--data-dir", c.DataDir}
			if engine == "postgres" {
				c.DatabaseURL = pgtest.NewDatabase(t)
				dbArgs = append(dbArgs, "--database-url", c.DatabaseURL) // the data dir holds the keys
			}
			u, _ := startServe(t, c)
			plain, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			alice, err := testentry.NewCertSigner("alice@example.com")
			if err != nil {
				t.Fatal(err)
			}
			monUpload(t, u, plain, "v1", 7)

			const originA, originB = "log-a.tabula.test", "log-b.tabula.test"
			mustTabula(t, append([]string{"log", "create", "--api", "v2", "--origin", originA}, dbArgs...)...)
			v2Priv := filepath.Join(c.DataDir, v2KeyFile)
			v2Key, err := signer.LoadFile(v2Priv)
			if err != nil {
				t.Fatal(err)
			}
			waitV2Log(t, u, originA)
			postV2(t, u, plain, "a", 4)
			postV2(t, u, alice, "a-alice", 1) // index 4
			postV2(t, u, plain, "a-more", 2)  // size 7
			trees := listedV2Trees(t, u)
			treeA := trees[originA]

			v1Pub, v2Pub := filepath.Join(c.DataDir, "log-key.pub.pem"), publicKeyPath(v2Priv)
			state := t.TempDir()
			args := []string{"--server", u, "--log-key", v1Pub, "--log-key", v2Pub, "--state-dir", state}
			code, out, errOut := monRun(t, append([]string{"monitor", "--once", "--from-start", "--watch-email", "alice@example.com"}, args...)...)
			if code != 1 || !strings.Contains(out, "Log:          "+treeA+" (Rekor v2, active)") || !strings.Contains(out, "Origin:       "+originA) ||
				strings.Count(out, "consistent with size 0; 7 new entries") != 2 ||
				!strings.Contains(out, "watch-match: entry 4 (hashedrekord") || !strings.Contains(out, "email:alice@example.com") ||
				!strings.Contains(errOut, "alerts raised: 1") {
				t.Fatalf("monitor of a v1 and a v2 log: %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = monRun(t, append([]string{"audit", "--progress", "none"}, args...)...)
			if code != 0 || strings.Count(out, "Entries read: 7 ") != 2 || !strings.Contains(out, "Log:          "+treeA+" (Rekor v2, active)") {
				t.Fatalf("audit of a v1 and a v2 log: %d\n%s%s", code, out, errOut)
			}

			// A v2 rotation (the same key, a new origin) while entries go on.
			postV2(t, u, plain, "a-last", 3) // size 10
			mustTabula(t, append([]string{"log", "rotate", "--api", "v2", "--origin", originB}, dbArgs...)...)
			waitV2Log(t, u, originB)
			postV2(t, u, plain, "b", 5)
			treeB := listedV2Trees(t, u)[originB]
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 0 || !strings.Contains(out, "Log:          "+treeA+" (Rekor v2, frozen)") || !strings.Contains(out, "consistent with size 7; 3 new entries") ||
				!strings.Contains(out, "Log:          "+treeB+" (Rekor v2, active, new since the last check") || !strings.Contains(out, "consistent with size 0; 5 new entries") {
				t.Fatalf("monitor after the v2 rotation: %d\n%s%s", code, out, errOut)
			}
			t.Logf("monitor after the v2 rotation:\n%s", out)
			code, out, errOut = monRun(t, append([]string{"audit", "--progress", "none"}, args...)...)
			if code != 0 || !strings.Contains(out, "Entries read: 3 ") || !strings.Contains(out, "Entries read: 5 ") ||
				!strings.Contains(out, "Log:          "+treeB+" (Rekor v2, active, new since the last audit)") {
				t.Fatalf("audit after the v2 rotation: %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 0 || !strings.Contains(out, "frozen; its listed and served checkpoints are its final one") || strings.Count(out, "no new entries since size") != 2 {
				t.Fatalf("monitor, third run: %d\n%s%s", code, out, errOut)
			}

			// Another checkpoint of the frozen v2 log, signed with its key
			// under its origin.
			liar := checkpointLiar(t, u, "/logs/"+treeA+"/checkpoint", func(b []byte) ([]byte, error) {
				cp, err := checkpoint.Verify(b, originA, originA, checkpoint.KeyIDC2SP, v2Key.Public())
				if err != nil {
					return nil, err
				}
				ns, err := checkpoint.NewSigner(originA, checkpoint.KeyIDC2SP, v2Key)
				if err != nil {
					return nil, err
				}
				cp.Size++
				cp.Root[0] ^= 1
				return checkpoint.Sign(cp, ns)
			})
			args[1] = liar
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 1 || !strings.Contains(out, "frozen-log-changed: frozen log "+treeA+" ("+originA+") changed") || !strings.Contains(errOut, "ALERT: frozen log "+treeA) {
				t.Errorf("monitor of a changed frozen v2 log: %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = monRun(t, append([]string{"audit", "--progress", "none"}, args...)...)
			if code != 1 || !strings.Contains(out, "AUDIT FAILED (frozen-log-changed): frozen log "+treeA) {
				t.Errorf("audit of a changed frozen v2 log: %d\n%s%s", code, out, errOut)
			}
			t.Logf("audit of a changed frozen v2 log:\n%s", out)
		})
	}
}

// postV2 writes n hashedrekord 0.0.2 entries with POST /api/v2/log/entries.
func postV2(t *testing.T, u string, s *testentry.Signer, tag string, n int) {
	t.Helper()
	for i := range n {
		req, err := s.HashedRekordV2(fmt.Appendf(nil, "%s %d", tag, i))
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := httpDo(t, http.MethodPost, u+"/api/v2/log/entries", req); resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /api/v2/log/entries: %d %s", resp.StatusCode, body)
		}
	}
}

// waitV2Log waits until the server serves the v2 log of origin as its
// active one (a running server picks a new v2 log up within a second).
func waitV2Log(t *testing.T, u, origin string) {
	t.Helper()
	for range 200 {
		resp, body := httpDo(t, http.MethodGet, u+"/api/v2/checkpoint", nil)
		if resp.StatusCode == http.StatusOK && bytes.HasPrefix(body, []byte(origin+"\n")) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the server does not serve the v2 log %s", origin)
}

// listedV2Trees maps the origin of each v2 log of GET /logs to its tree ID.
func listedV2Trees(t *testing.T, u string) map[string]string {
	t.Helper()
	cl, err := client.New(u)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := cl.Logs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range logs {
		if l.API == "v2" {
			out[l.Origin] = l.TreeID
		}
	}
	return out
}

// checkpointLiar serves the server at target, except that path serves
// what forge makes of the checkpoint the server serves there.
func checkpointLiar(t *testing.T, target, path string, forge func([]byte) ([]byte, error)) string {
	t.Helper()
	tu, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(tu)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			proxy.ServeHTTP(w, r)
			return
		}
		resp, err := http.Get(target + path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		forged, err := forge(b)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = w.Write(forged)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
