package interop

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/tabularium/tabula/internal/browser"
)

// explorerWait bounds every wait for something the explorer's pages do by
// themselves (a navigation, the search script's hashing, the proof panel's
// fetches and checks).
const explorerWait = 15 * time.Second

// TestExplorerCosign is the first line of issue 14's "Done means": a user
// runs `tabula serve`, uploads with cosign (sign-blob with a key and a
// certificate whose email SAN comes from a test CA, through the signing
// config and trusted root Tabula prints), opens the explorer at `/` in
// headless Chromium, finds the entry by the email, by the artifact's digest,
// by the artifact chosen for hashing in the page and by the artifact dropped
// on the search page, opens it and sees the proof panel verify it; no page
// logs a console error, an exception or a CSP violation.
func TestExplorerCosign(t *testing.T) {
	b := browser.New(t)
	forEachEngine(t, func(t *testing.T, s *server) {
		dir := t.TempDir()
		home := filepath.Join(dir, "home")
		if err := os.Mkdir(home, 0o755); err != nil {
			t.Fatal(err)
		}
		cosign := func(args ...string) []byte {
			t.Helper()
			cmd := exec.Command(cosignCLI.path(t), args...)
			// An empty password for the key cosign makes and reads.
			cmd.Env = append(cleanEnv(), "HOME="+home, "COSIGN_PASSWORD=")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return out
		}

		// The user's key pair, and a certificate for its public key from a
		// test CA (a stand-in for Fulcio) naming the user's email.
		cosign("generate-key-pair")
		pubPEM, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
		if err != nil {
			t.Fatal(err)
		}
		const email = "explorer-user@interop.invalid"
		ca := newTestCA(t)
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
		if err != nil {
			t.Fatalf("cosign.pub: %v\n%s", err, pubPEM)
		}
		certDER, err := ca.issue(pub, email)
		if err != nil {
			t.Fatal(err)
		}
		certPath := writeFile(t, dir, "cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}))
		scPath := writeFile(t, dir, "signing_config.json", tabula(t, "signing-config", "--server", s.URL))
		trPath := writeFile(t, dir, "trusted_root.json", tabula(t, "trusted-root", "--server", s.URL, "--fulcio-cert", ca.certPath))

		sign := func(name string, withCert bool) (artifact string, digest []byte, logIndex int64) {
			t.Helper()
			content := []byte("explorer artifact " + name + " " + s.Engine + "\n")
			artifact = writeFile(t, dir, name+".txt", content)
			bundle := filepath.Join(dir, name+".sigstore.json")
			args := []string{"sign-blob", "--key", "cosign.key"}
			if withCert {
				args = append(args, "--certificate", certPath, "--certificate-chain", ca.certPath)
			}
			args = append(args, "--signing-config", scPath, "--trusted-root", trPath, "--bundle", bundle, "--yes", artifact)
			cosign(args...)
			raw, err := os.ReadFile(bundle)
			if err != nil {
				t.Fatal(err)
			}
			var bd struct {
				VerificationMaterial struct {
					TlogEntries []struct {
						LogIndex string `json:"logIndex"`
					} `json:"tlogEntries"`
				} `json:"verificationMaterial"`
			}
			if err := json.Unmarshal(raw, &bd); err != nil || len(bd.VerificationMaterial.TlogEntries) != 1 {
				t.Fatalf("cosign's bundle has no single tlog entry (%v):\n%s", err, raw)
			}
			// protojson leaves out a zero index.
			if li := bd.VerificationMaterial.TlogEntries[0].LogIndex; li == "" {
				logIndex = 0
			} else if logIndex, err = strconv.ParseInt(li, 10, 64); err != nil {
				t.Fatalf("bundle log index: %v", err)
			}
			d := sha256.Sum256(content)
			return artifact, d[:], logIndex
		}
		// Another entry first, signed with the bare key, which no search
		// below may find.
		sign("other", false)
		artifact, digest, index := sign("release", true)
		want := fmt.Sprintf("/log/%d/entry/%d", activeTreeID(t, s), index)

		// open finds one result, the cosign entry, on the results page p
		// shows, opens it and waits for its proof to verify.
		open := func(t *testing.T, p *browser.Page, kind string) {
			t.Helper()
			p.WaitText("#query-kind", " as "+kind+":", explorerWait)
			v, _ := p.Eval(`Array.from(document.querySelectorAll("table.entries a"), a => a.getAttribute("href")).filter(h => /^\/log\/\d+\/entry\/\d+$/.test(h))`).([]any)
			if len(v) != 1 || v[0] != want {
				t.Fatalf("results %v, want [%s]", v, want)
			}
			p.AssertNoProblems(t)
			p.Click(`table.entries a[href="` + want + `"]`)
			p.WaitText("h1", "Entry ", explorerWait)
			if got := p.URL(); got != s.URL+want {
				t.Fatalf("the result led to %s, not %s", got, want)
			}
			text := p.Text("main")
			for _, w := range []string{email, hex.EncodeToString(digest)} {
				if !strings.Contains(text, w) {
					t.Errorf("the entry page does not show %s", w)
				}
			}
			p.WaitAttr("#proof", "data-state", "verified", explorerWait)
			if got := p.Text("#proof-status"); got != "verified" {
				t.Errorf("#proof-status is %q", got)
			}
			p.AssertNoProblems(t)
		}

		t.Run("email", func(t *testing.T) {
			p := b.Open(t, s.URL+"/")
			p.AssertNoProblems(t)
			p.SendKeys("#q", email+"\n")
			open(t, p, "email")
		})
		t.Run("digest", func(t *testing.T) {
			p := b.Open(t, s.URL+"/")
			p.SendKeys("#q", hex.EncodeToString(digest)+"\n")
			open(t, p, "entry UUID or sha256 digest")
		})
		t.Run("sha256: digest", func(t *testing.T) {
			p := b.Open(t, s.URL+"/")
			p.SendKeys("#q", "sha256:"+hex.EncodeToString(digest)+"\n")
			open(t, p, "sha256 digest")
		})
		t.Run("file chosen", func(t *testing.T) {
			p := b.Open(t, s.URL+"/")
			p.SetFileInput("#hash-file", artifact)
			open(t, p, "sha256 digest")
		})
		t.Run("file dropped", func(t *testing.T) {
			content, err := os.ReadFile(artifact)
			if err != nil {
				t.Fatal(err)
			}
			// The search page's drop area; the harness cannot drag a file
			// from the desktop, so it dispatches the drop event a browser
			// sends, with the file in it.
			p := b.Open(t, s.URL+"/search?q="+email)
			p.WaitText("#query-kind", " as email:", explorerWait)
			p.Eval(`(() => {
				const dt = new DataTransfer();
				dt.items.add(new File([` + strconv.Quote(string(content)) + `], "release.txt"));
				document.getElementById("file-drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
				return true;
			})()`)
			p.WaitText("#query-kind", " as sha256 digest:", explorerWait)
			open(t, p, "sha256 digest")
		})
	})
}

// activeTreeID is the tree ID of s's active Rekor v1 log (GET /api/v1/log).
func activeTreeID(t *testing.T, s *server) int64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		TreeID string `json:"treeID"`
	}
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/log: %s (%v)\n%s", resp.Status, err, body)
	}
	id, err := strconv.ParseInt(info.TreeID, 10, 64)
	if err != nil {
		t.Fatalf("GET /api/v1/log: tree ID %q: %v", info.TreeID, err)
	}
	return id
}
