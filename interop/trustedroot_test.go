package interop

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// TestTrustedRootCommand builds trusted roots with every way `tabula
// trusted-root` offers (--server, --public-key, --key; --start, --url,
// --fulcio-cert, --out) and checks what sigstore-go makes of them: the log
// (named https://<hostname> by default, as its checkpoints are signed)
// and CA they describe, and that an entry of the log verifies under them,
// but not before the key's start nor under another log's key.
func TestTrustedRootCommand(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		ca := newTestCA(t)
		sg := certSigned(t, ca, "erin@interop.invalid", "trusted root artifact")
		_, e := c.create(t, sg.entry)
		integrated := time.Unix(*e.IntegratedTime, 0)

		dir := t.TempDir()
		pubPath := filepath.Join(dir, "log.pub.pem")
		if err := os.WriteFile(pubPath, c.pubPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		other := newKeySigner(t)
		otherPath := filepath.Join(dir, "other.pub.pem")
		if err := os.WriteFile(otherPath, other.pemPub, 0o644); err != nil {
			t.Fatal(err)
		}
		hourAgo := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		hourAhead := time.Now().Add(time.Hour).UTC().Truncate(time.Second)

		// With --server, the key is trusted from a minute before the log
		// was created (GET /logs), and baseUrl names it as its checkpoints
		// are signed: https://<the server's --hostname>.
		resp, err := http.Get(s.URL + "/logs")
		if err != nil {
			t.Fatal(err)
		}
		var described struct {
			Logs []struct {
				CreatedAt time.Time `json:"createdAt"`
			} `json:"logs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&described)
		resp.Body.Close()
		if err != nil || len(described.Logs) != 1 || !described.Logs[0].CreatedAt.Before(integrated.Add(time.Second)) {
			t.Fatalf("GET /logs: %+v, %v", described, err)
		}
		created := described.Logs[0].CreatedAt.Add(-time.Minute).UTC().Truncate(time.Second)

		cases := []struct {
			name      string
			args      []string
			start     time.Time // the key's validity start; zero: not checked
			baseURL   string
			wantValid bool // entry e verifies under it
		}{
			{"server", []string{"--server", s.URL}, created, "https://tabula.local", true},
			{"public-key", []string{"--public-key", pubPath, "--url", s.URL, "--start", hourAgo.Format(time.RFC3339)}, hourAgo, s.URL, true},
			{"key", []string{"--key", filepath.Join(s.DataDir, "log-key.pem"), "--start", hourAgo.Format(time.RFC3339)}, hourAgo, "https://tabula.local", true},
			{"start after the entry", []string{"--public-key", pubPath, "--url", s.URL, "--start", hourAhead.Format(time.RFC3339)}, hourAhead, s.URL, false},
			{"another log's key", []string{"--public-key", otherPath, "--url", s.URL, "--start", hourAgo.Format(time.RFC3339)}, time.Time{}, s.URL, false},
		}
		logID := *e.LogID
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "trusted_root.json")
				args := append([]string{"trusted-root", "--fulcio-cert", ca.certPath, "--out", out}, tc.args...)
				tabula(t, args...)
				tr, err := root.NewTrustedRootFromPath(out)
				if err != nil {
					t.Fatalf("sigstore-go cannot read the trusted root: %v", err)
				}
				logs := tr.RekorLogs()
				if len(logs) != 1 {
					t.Fatalf("%d transparency logs in the trusted root, want 1", len(logs))
				}
				for id, l := range logs {
					if l.BaseURL != tc.baseURL {
						t.Errorf("baseUrl %q, want %q", l.BaseURL, tc.baseURL)
					}
					if !tc.start.IsZero() && !l.ValidityPeriodStart.Equal(tc.start) {
						t.Errorf("key valid from %v, want %v", l.ValidityPeriodStart, tc.start)
					}
					if (id == logID) != (tc.name != "another log's key") {
						t.Errorf("log key ID %s; the log's is %s", id, logID)
					}
					if hex.EncodeToString(l.ID) != id {
						t.Errorf("log ID %x filed under %s", l.ID, id)
					}
				}
				cas := tr.FulcioCertificateAuthorities()
				if len(cas) != 1 {
					t.Fatalf("%d certificate authorities, want the test CA", len(cas))
				}

				_, te := tlogEntry(t, e)
				errSET := tlog.VerifySET(te, logs)
				v, err := verify.NewVerifier(tr, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))
				if err != nil {
					t.Fatal(err)
				}
				_, errBundle := v.Verify(messageBundle(t, e, sg.digest, sg.sig, sg.certDER), sg.policy(t, sg.artifact, sg.identity))
				if tc.wantValid {
					if errSET != nil {
						t.Errorf("sigstore-go tlog.VerifySET: %v", errSET)
					}
					if errBundle != nil {
						t.Errorf("sigstore-go verify: %v", errBundle)
					}
				} else {
					if errSET == nil {
						t.Error("sigstore-go tlog.VerifySET accepted the entry")
					}
					if errBundle == nil {
						t.Error("sigstore-go verify accepted the bundle")
					}
				}
			})
		}
	})
}
