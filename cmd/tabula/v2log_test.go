package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/signer"
)

// TestV2Logs creates a Rekor v2 log with `tabula log create --api v2`,
// serves it beside the v1 log, reads its C2SP checkpoint under /api/v2/
// and /logs/{treeID}/ (signed under its origin with a C2SP Ed25519 key ID),
// rotates it to a new origin while the server runs, and checks the
// refusals of both commands.
func TestV2Logs(t *testing.T) {
	ctx := context.Background()
	c := defaultConfig(t)
	logCmd := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append(append([]string{"log"}, args...), "--data-dir", c.DataDir), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	// The first start makes the v1 log (and the v2 key); no v2 log is
	// served yet.
	u, _ := startServe(t, c)
	if resp, _ := httpDo(t, http.MethodGet, u+"/api/v2/checkpoint", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/api/v2/checkpoint without a v2 log: %d", resp.StatusCode)
	}

	refusals := []struct {
		name string
		args []string
		msg  string
	}{
		{"create v1", []string{"create", "--api", "v1"}, "created by `tabula serve`"},
		{"no origin", []string{"create", "--api", "v2"}, "needs an origin"},
		{"a space", []string{"create", "--api", "v2", "--origin", "a b"}, "without spaces"},
		{"not a hostname", []string{"create", "--api", "v2", "--origin", "host:8080"}, "not a hostname"},
		{"an unknown API", []string{"rotate", "--api", "v3"}, "want v1 or v2"},
		{"rotate a v2 log that is not there", []string{"rotate", "--api", "v2", "--origin", "log-b.tabula.test"}, "no active rekor-v2 log"},
	}
	for _, tt := range refusals {
		if code, _, errOut := logCmd(tt.args...); code == 0 || !strings.Contains(errOut, tt.msg) {
			t.Errorf("log %s: exit %d, %q; want a refusal with %q", tt.name, code, errOut, tt.msg)
		}
	}

	const origin = "log-a.tabula.test"
	if code, out, errOut := logCmd("create", "--api", "v2", "--origin", origin); code != 0 || !strings.Contains(out, "("+origin+")") {
		t.Fatalf("log create: exit %d, %q, %q", code, out, errOut)
	}
	if code, _, errOut := logCmd("create", "--api", "v2", "--origin", "log-c.tabula.test"); code == 0 || !strings.Contains(errOut, "active already") {
		t.Fatalf("a second log create: exit %d, %q", code, errOut)
	}
	key, err := signer.LoadFile(filepath.Join(c.DataDir, v2KeyFile))
	if err != nil {
		t.Fatalf("the v2 key serve made: %v", err)
	}
	// The server started before the log was created finds it.
	waitFor := func(origin string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, body := httpDo(t, http.MethodGet, u+"/api/v2/checkpoint", nil)
			if resp.StatusCode == http.StatusOK && bytes.HasPrefix(body, []byte(origin+"\n")) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server serves %d %q, not %s's checkpoint", resp.StatusCode, body, origin)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(origin)
	verify := func(path, origin string) checkpoint.Checkpoint {
		t.Helper()
		resp, body := httpDo(t, http.MethodGet, u+path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		cp, err := checkpoint.Verify(body, origin, origin, checkpoint.KeyIDC2SP, key.Public())
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, body)
		}
		return cp
	}
	verify("/api/v2/checkpoint", origin)

	// A v2 entry, and `tabula search` finds it (Rekor v2 has no search).
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	artifact := filepath.Join(t.TempDir(), "artifact")
	if err := os.WriteFile(artifact, []byte("searched v2 artifact"), 0o600); err != nil {
		t.Fatal(err)
	}
	req, err := sgn.HashedRekordV2([]byte("searched v2 artifact"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := httpDo(t, http.MethodPost, u+"/api/v2/log/entries", req); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v2/log/entries: %d %s", resp.StatusCode, body)
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"search", "--server", u, "--artifact", artifact}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "Rekor v2 log") || !strings.Contains(out.String(), "index 0") {
		t.Fatalf("tabula search for a v2 entry: exit %d, %q, %q", code, out.String(), errOut.String())
	}
	logs := listedLogs(t, c)
	verify("/logs/"+logs[origin]+"/checkpoint", origin)

	// Rotating to an origin a log has is refused; to a new one, the server
	// follows without a restart.
	if code, _, errOut := logCmd("rotate", "--api", "v2", "--origin", origin); code == 0 || !strings.Contains(errOut, "of its own") {
		t.Fatalf("rotate to the same origin: exit %d, %q", code, errOut)
	}
	const next = "log-b.tabula.test"
	if code, out, errOut := logCmd("rotate", "--api", "v2", "--origin", next); code != 0 || !strings.Contains(out, "("+next+")") {
		t.Fatalf("log rotate --api v2: exit %d, %q, %q", code, out, errOut)
	}
	waitFor(next)
	verify("/api/v2/checkpoint", next)
	logs = listedLogs(t, c)
	verify("/logs/"+logs[origin]+"/checkpoint", origin)
	verify("/logs/"+logs[origin]+"/api/v2/checkpoint", origin) // the frozen log under <base>/api/v2/
	// GET /logs describes all three logs, each with its key ID.
	resp, body := httpDo(t, http.MethodGet, u+"/logs", nil)
	var listed struct {
		Logs []struct {
			TreeID, API, Origin, State string
			StartIndex                 *uint64
			KeyID                      []byte
		}
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &listed) != nil || len(listed.Logs) != 3 {
		t.Fatalf("GET /logs: %d %s", resp.StatusCode, body)
	}
	for i, want := range []struct{ api, origin, state string }{
		{"v1", "", "active"}, {"v2", origin, "frozen"}, {"v2", next, "active"},
	} {
		got := listed.Logs[i]
		if got.API != want.api || (want.origin != "" && got.Origin != want.origin) || got.State != want.state ||
			(got.StartIndex != nil) != (want.api == "v1") {
			t.Errorf("GET /logs [%d] = %+v, want %+v", i, got, want)
		}
		if want.api == "v2" {
			id, err := checkpoint.KeyIDC2SP.KeyID(want.origin, key.Public())
			if err != nil || !bytes.Equal(got.KeyID, id[:]) {
				t.Errorf("GET /logs [%d]: key ID %x, want the C2SP one %x (%v)", i, got.KeyID, id, err)
			}
		}
	}

	// The v1 log is untouched.
	if resp, body := httpDo(t, http.MethodGet, u+"/checkpoint", nil); resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte(c.Hostname+" - ")) {
		t.Fatalf("/checkpoint: %d %q", resp.StatusCode, body)
	}
}

// listedLogs maps each log's origin to its tree ID, as `tabula log list`
// prints them.
func listedLogs(t *testing.T, c *serveConfig) map[string]string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"log", "list", "--data-dir", c.DataDir}, &out, &errOut); code != 0 {
		t.Fatalf("log list: exit %d, %s", code, errOut.String())
	}
	logs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
		f := strings.Fields(line)
		logs[f[len(f)-1]] = f[0]
	}
	return logs
}
