package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	rekornote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	rekorverify "github.com/sigstore/rekor-tiles/v2/pkg/verify"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/signer"
)

// The API versions sigstore-go v1.3.0 signs with (sign.RekorAPIVersions,
// sign.TimestampAuthorityAPIVersions; package sign itself would pull its
// Rekor and TSA clients into this module).
var (
	sigstoreGoRekorVersions = []uint32{1, 2}
	sigstoreGoTSAVersions   = []uint32{1}
)

// TestClientConfig runs a real server with Rekor v1 only, with a Rekor v2
// log beside it, and after rotating both (the v1 log to a new key, the v2
// log to a new origin), and checks what sigstore-go makes of `tabula
// trusted-root --server` and `tabula signing-config --server`: every log
// by its key ID, named https://<the checkpoints' key name> (a v2 log's
// checkpoint verifies as sigstore-go verifies it, under baseUrl's
// hostname), validity from GET /logs' creation times and the entries, the
// TSA whose chain verifies a real timestamp of the server, and a signing
// config from which sigstore-go picks the v2 log when it supports v2 and
// the v1 log otherwise.
func TestClientConfig(t *testing.T) {
	tests := []struct {
		name       string
		v2, rotate bool
		logs       int // logs in the trusted root
	}{
		{"v1 only", false, false, 1},
		{"v1 and v2", true, false, 2},
		{"both rotated", true, true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, c := serveWithLogs(t, tt.v2, tt.rotate)
			cl, err := client.New(u)
			if err != nil {
				t.Fatal(err)
			}
			logs, err := cl.Logs(context.Background())
			if err != nil {
				t.Fatal(err)
			}

			trJSON := mustTabula(t, "trusted-root", "--server", u)
			parseTRN(t, trJSON, tt.logs) // strict protobuf-specs decoding
			tr, err := root.NewTrustedRootFromJSON([]byte(trJSON))
			if err != nil {
				t.Fatalf("sigstore-go cannot read the trusted root: %v\n%s", err, trJSON)
			}
			checkTrustedLogs(t, cl, tr, logs, c.Hostname)
			checkTSA(t, u, tr)

			scJSON := mustTabula(t, "signing-config", "--server", u, "--fulcio", "https://fulcio.tabula.test", "--oidc", "https://oidc.tabula.test")
			checkSigningConfig(t, u, scJSON, logs, tt.v2)
			// --api v1 offers Rekor v1 alone; --api v2 needs a v2 log.
			scJSON = mustTabula(t, "signing-config", "--server", u, "--api", "v1", "--fulcio", "https://fulcio.tabula.test", "--oidc", "https://oidc.tabula.test")
			checkSigningConfig(t, u, scJSON, logs, false)
			if code, _, errOut := tabula(t, "signing-config", "--server", u, "--api", "v2"); (code == 0) != tt.v2 {
				t.Errorf("signing-config --api v2: exit %d, %s", code, errOut)
			}
		})
	}
}

// checkTrustedLogs checks sigstore-go's view of the trusted root's logs
// against GET /logs.
func checkTrustedLogs(t *testing.T, cl *client.Client, tr *root.TrustedRoot, logs []client.LogDescription, hostname string) {
	t.Helper()
	rekorLogs := tr.RekorLogs()
	if len(rekorLogs) != len(logs) {
		t.Errorf("%d logs in sigstore-go's view, %d served", len(rekorLogs), len(logs))
	}
	minute := func(at time.Time, d time.Duration) time.Time { return at.Add(d).UTC().Truncate(time.Second) }
	for i, d := range logs {
		l := rekorLogs[hex.EncodeToString(d.KeyID)]
		if l == nil {
			t.Errorf("log %s (%s %s) not found by its key ID %x", d.TreeID, d.API, d.Origin, d.KeyID)
			continue
		}
		u, err := url.Parse(l.BaseURL)
		if err != nil || u.Scheme != "https" {
			t.Errorf("log %s: baseUrl %q", d.TreeID, l.BaseURL)
			continue
		}
		wantStart := minute(d.CreatedAt, -time.Minute)
		var wantEnd time.Time
		switch d.API {
		case "v1":
			if u.Hostname() != hostname {
				t.Errorf("v1 log %s: baseUrl %q, want https://%s", d.TreeID, l.BaseURL, hostname)
			}
			if first := logEntryTime(t, cl.Server(), int(*d.StartIndex)); first.Before(d.CreatedAt) {
				wantStart = minute(first, -time.Minute)
			}
			if d.State == "frozen" {
				wantEnd = logEntryTime(t, cl.Server(), int(*d.StartIndex+d.TreeSize-1)).Add(time.Minute).UTC()
			}
		case "v2":
			// sigstore-go's check of a v2 checkpoint: a note verifier named
			// after baseUrl's hostname, with the log's key.
			if u.Hostname() != d.Origin {
				t.Errorf("v2 log %s: baseUrl %q, want the origin %s as hostname", d.TreeID, l.BaseURL, d.Origin)
			}
			sv, err := signature.LoadVerifier(l.PublicKey, l.SignatureHashFunc)
			if err != nil {
				t.Fatal(err)
			}
			nv, err := rekornote.NewNoteVerifier(u.Hostname(), sv)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rekorverify.VerifyCheckpoint(d.Checkpoint, nv); err != nil {
				t.Errorf("v2 log %s: its checkpoint does not verify as sigstore-go checks it: %v", d.TreeID, err)
			}
			if d.State == "frozen" {
				next := logs[i+1]
				if next.API != "v2" {
					t.Fatalf("frozen v2 log %s is the last v2 log", d.TreeID)
				}
				wantEnd = next.CreatedAt.Add(time.Minute).UTC()
			}
		}
		if !l.ValidityPeriodStart.Equal(wantStart) || !l.ValidityPeriodEnd.Equal(wantEnd) {
			t.Errorf("%s log %s (%s): valid %v – %v, want %v – %v", d.API, d.TreeID, d.State,
				l.ValidityPeriodStart, l.ValidityPeriodEnd, wantStart, wantEnd)
		}
	}
}

// checkTSA gets a real timestamp from the server, as sigstore-go's TSA
// client asks for it (no nonce, no certificate), and verifies it with
// sigstore-go and the trusted root's timestamp authority.
func checkTSA(t *testing.T, u string, tr *root.TrustedRoot) {
	t.Helper()
	tsas := tr.TimestampingAuthorities()
	if len(tsas) != 1 {
		t.Fatalf("%d timestamp authorities, want the server's", len(tsas))
	}
	sig := []byte("a signature to timestamp")
	digest := sha256.Sum256(sig)
	req, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:]}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(u+"/api/v1/timestamp", "application/timestamp-query", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	var reply bytes.Buffer
	_, err = reply.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/timestamp: %d %v", resp.StatusCode, err)
	}
	ts, err := tsas[0].Verify(reply.Bytes(), sig)
	if err != nil {
		t.Fatalf("sigstore-go refuses the server's timestamp with the trusted root's TSA: %v", err)
	}
	if ts.URI != u+"/api/v1/timestamp" {
		t.Errorf("TSA URI %q, want %s/api/v1/timestamp", ts.URI, u)
	}
	if _, err := tsas[0].Verify(reply.Bytes(), []byte("another signature")); err == nil {
		t.Error("the timestamp verifies for another signature")
	}
}

// checkSigningConfig checks what sigstore-go selects from the signing config.
func checkSigningConfig(t *testing.T, u, scJSON string, logs []client.LogDescription, v2 bool) {
	t.Helper()
	var pb prototrustroot.SigningConfig
	if err := protojson.Unmarshal([]byte(scJSON), &pb); err != nil {
		t.Fatalf("not a protobuf-specs SigningConfig: %v\n%s", err, scJSON)
	}
	sc, err := root.NewSigningConfigFromJSON([]byte(scJSON))
	if err != nil {
		t.Fatalf("sigstore-go cannot read the signing config: %v\n%s", err, scJSON)
	}
	now := time.Now()
	active := map[string]client.LogDescription{}
	for _, d := range logs {
		if d.State == "active" {
			active[d.API] = d
		}
	}
	wantN := 1
	if v2 {
		wantN = 2
	}
	if got := sc.RekorLogURLs(); len(got) != wantN || got[0].MajorAPIVersion != uint32(wantN) {
		t.Errorf("rekorTlogUrls %+v: want %d, the highest version first", got, wantN)
	}
	for _, tc := range []struct {
		versions []uint32
		want     string
	}{{sigstoreGoRekorVersions, map[bool]string{true: "v2", false: "v1"}[v2]}, {[]uint32{1}, "v1"}} {
		got, err := root.SelectServices(sc.RekorLogURLs(), sc.RekorLogURLsConfig(), tc.versions, now)
		if err != nil || len(got) != 1 {
			t.Errorf("SelectServices(versions %v): %v, %v", tc.versions, got, err)
			continue
		}
		wantStart := active[tc.want].CreatedAt.Add(-time.Minute).UTC().Truncate(time.Second)
		if got[0].URL != u || fmt.Sprintf("v%d", got[0].MajorAPIVersion) != tc.want || !got[0].ValidityPeriodStart.Equal(wantStart) ||
			got[0].Operator != "127.0.0.1" {
			t.Errorf("SelectServices(versions %v) = %+v, want %s at %s from %v", tc.versions, got[0], tc.want, u, wantStart)
		}
	}
	tsa, err := root.SelectServices(sc.TimestampAuthorityURLs(), sc.TimestampAuthorityURLsConfig(), sigstoreGoTSAVersions, now)
	if err != nil || len(tsa) != 1 || tsa[0].URL != u+"/api/v1/timestamp" {
		t.Errorf("TSA selected: %+v, %v", tsa, err)
	}
	for _, s := range []struct {
		what string
		got  []root.Service
		want string
	}{{"caUrls", sc.FulcioCertificateAuthorityURLs(), "https://fulcio.tabula.test"}, {"oidcUrls", sc.OIDCProviderURLs(), "https://oidc.tabula.test"}} {
		if len(s.got) != 1 || s.got[0].URL != s.want || !s.got[0].ValidAtTime(now) {
			t.Errorf("%s: %+v, want %s valid now", s.what, s.got, s.want)
		}
	}
	if c := sc.RekorLogURLsConfig(); c.Selector != prototrustroot.ServiceSelector_ANY {
		t.Errorf("rekorTlogConfig %+v, want ANY", c)
	}
	if c := sc.TimestampAuthorityURLsConfig(); c.Selector != prototrustroot.ServiceSelector_ANY {
		t.Errorf("tsaConfig %+v, want ANY", c)
	}
}

// TestSigningConfigRefuses: no server, a server that is not there, and
// service URLs that are not http(s).
func TestSigningConfigRefuses(t *testing.T) {
	u, _ := startServe(t, defaultConfig(t))
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no server", nil, 2, "--server is required"},
		{"nobody there", []string{"--server", "http://" + freeAddr(t)}, 1, "GET /logs"},
		{"not a URL", []string{"--server", "ftp://x"}, 1, "scheme"},
		{"fulcio not http", []string{"--server", u, "--fulcio", "fulcio.example"}, 1, "--fulcio"},
		{"oidc not http", []string{"--server", u, "--oidc", "ftp://oidc.example"}, 1, "--oidc"},
		{"an unknown API", []string{"--server", u, "--api", "v1,v3"}, 1, "want v1, v2 or v1,v2"},
		{"no v2 log", []string{"--server", u, "--api", "v2"}, 1, "no active log of API v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TABULA_SERVER", "")
			code, out, errOut := tabula(t, append([]string{"signing-config"}, tt.args...)...)
			if code != tt.code || out != "" || !strings.Contains(errOut, tt.msg) {
				t.Errorf("exit %d, %q, %q; want %d and %q", code, out, errOut, tt.code, tt.msg)
			}
		})
	}
	// --out writes the file.
	out := filepath.Join(t.TempDir(), "signing_config.json")
	mustTabula(t, "signing-config", "--server", u, "--out", out)
	if _, err := root.NewSigningConfigFromPath(out); err != nil {
		t.Fatal(err)
	}
}

// serveWithLogs starts `tabula serve` with two ECDSA keys, a Rekor v2 log if
// v2, and two entries; if rotate, it then rotates the v1 log to the second
// key and the v2 log to a new origin, and writes one more entry. It returns
// the server's URL and configuration.
func serveWithLogs(t *testing.T, v2, rotate bool) (string, *serveConfig) {
	t.Helper()
	c := defaultConfig(t)
	k1, _, _ := writeKey(t, signer.ECDSAP256)
	k2, _, _ := writeKey(t, signer.ECDSAP256)
	c.Key = k1 + "," + k2
	logCmd := func(args ...string) {
		t.Helper()
		mustTabula(t, append(append([]string{"log"}, args...), "--data-dir", c.DataDir)...)
	}
	if v2 {
		logCmd("create", "--api", "v2", "--origin", "log-a.tabula.test")
	}
	u, stop := startServe(t, c)
	sg, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	monUpload(t, u, sg, "before", 2)
	if rotate {
		stop()
		logCmd("rotate", "--key", k2)
		logCmd("rotate", "--api", "v2", "--origin", "log-b.tabula.test")
		u, _ = startServe(t, c)
		monUpload(t, u, sg, "after", 1)
	}
	return u, c
}
