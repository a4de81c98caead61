package ui_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/trustroot"
	"github.com/tabularium/tabula/tsa"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
	"github.com/tabularium/tabula/ui"
)

// aboutSite is a server whose explorer publishes its trusted root and
// signing config as serve does (trustroot.Server), with two Rekor v1 logs
// (the first frozen with two entries) and a Rekor v2 log.
func aboutSite(t *testing.T, e logsettest.Engine) *httptest.Server {
	t.Helper()
	store := e.Open(t)
	k1, k2 := logsettest.Key(t), logsettest.Key(t)
	v1 := logsettest.Open(t, store, k1, k2)
	v2 := logsettest.OpenV2(t, store, nil)
	_, chain, _, err := tsa.LoadOrCreate(t.TempDir(), "tabula.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	x, err := ui.New(ui.Config{Logs: v1, V2Logs: v2, About: func(ctx context.Context, baseURL string) ([]byte, []byte, error) {
		return trustroot.Server{BaseURL: baseURL, Sets: []*logset.Set{v1, v2}, TSAChain: chain}.Documents(ctx, time.Now())
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Logs: v1, V2Logs: v2, Types: types.NewRegistry(hashedrekord.New()),
		MaxAttestationSize: api.DefaultMaxAttestationSize, UI: x}))
	t.Cleanup(srv.Close)

	sg, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	for i, artifact := range []string{"a1", "a2", "a3"} {
		if i == 2 {
			logsettest.Rotate(t, store, k2)
		}
		b, err := sg.HashedRekord([]byte(artifact))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+"/api/v1/log/entries", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %d", resp.StatusCode)
		}
	}
	return srv
}

// fetch GETs u with Host header host (empty: u's).
func fetch(t *testing.T, u, host string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestAboutDocuments reads /about and its two downloads on both engines:
// the trusted root shown is the one served, a strict protobuf-specs
// TrustedRoot that sigstore-go loads, listing every log of GET /logs by its
// key ID, named https://<key name>, the frozen log with an end and the
// others without, and the TSA; the signing config names the server as the
// request reached it (scheme and Host header) for Rekor v2, then v1, and
// its TSA.
func TestAboutDocuments(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			srv := aboutSite(t, e)
			_, b := fetch(t, srv.URL+"/logs", "")
			var logs models.Logs
			if err := json.Unmarshal(b, &logs); err != nil {
				t.Fatal(err)
			}
			if len(logs.Logs) != 3 {
				t.Fatalf("GET /logs lists %d logs, want 3", len(logs.Logs))
			}

			for _, tt := range []struct{ host, base string }{
				{"", srv.URL},
				{"log.example.com:8443", "http://log.example.com:8443"},
			} {
				resp, page := fetch(t, srv.URL+"/about", tt.host)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /about: %d\n%s", resp.StatusCode, page)
				}
				shown := map[string]string{}
				for _, id := range []string{"trusted-root", "signing-config"} {
					m := regexp.MustCompile(`<pre class="json" id="` + id + `">([^<]*)</pre>`).FindSubmatch(page)
					if m == nil {
						t.Fatalf("/about has no %s block:\n%s", id, page)
					}
					shown[id] = html.UnescapeString(string(m[1]))
				}
				for _, want := range []string{`href="/about/trusted_root.json"`, `href="/about/signing_config.json"`, "tabula trusted-root --server " + tt.base} {
					if !bytes.Contains(page, []byte(want)) {
						t.Errorf("/about lacks %q", want)
					}
				}
				files := map[string][]byte{}
				for _, f := range []struct{ path, id string }{{"/about/trusted_root.json", "trusted-root"}, {"/about/signing_config.json", "signing-config"}} {
					resp, b := fetch(t, srv.URL+f.path, tt.host)
					h := resp.Header
					if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "application/json" || h.Get("Content-Security-Policy") != ui.CSP ||
						h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
						t.Errorf("GET %s: %d, headers %v", f.path, resp.StatusCode, h)
					}
					if string(b) != shown[f.id] {
						t.Errorf("GET %s is not what /about shows:\n%s\n/about:\n%s", f.path, b, shown[f.id])
					}
					files[f.id] = b
				}
				checkAboutTrustedRoot(t, files["trusted-root"], logs.Logs, tt.base)
				checkAboutSigningConfig(t, files["signing-config"], tt.base)
			}
		})
	}
}

func checkAboutTrustedRoot(t *testing.T, b []byte, logs []models.LogDescription, base string) {
	t.Helper()
	var pb prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(b, &pb); err != nil {
		t.Fatalf("not a protobuf-specs TrustedRoot: %v\n%s", err, b)
	}
	tr, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		t.Fatalf("sigstore-go cannot read the trusted root: %v\n%s", err, b)
	}
	if got := len(tr.RekorLogs()); got != len(logs) {
		t.Errorf("%d logs in the trusted root, %d in GET /logs", got, len(logs))
	}
	for _, d := range logs {
		l := tr.RekorLogs()[hex.EncodeToString(d.KeyID)]
		if l == nil {
			t.Errorf("log %s (%s) is not in the trusted root by its key ID %x", d.TreeID, d.API, d.KeyID)
			continue
		}
		if l.BaseURL != "https://"+d.KeyName {
			t.Errorf("log %s: baseUrl %q, want https://%s", d.TreeID, l.BaseURL, d.KeyName)
		}
		der, err := x509.MarshalPKIXPublicKey(l.PublicKey)
		if err != nil || !bytes.Equal(der, d.PublicKey) {
			t.Errorf("log %s: another key than GET /logs' (%v)", d.TreeID, err)
		}
		if frozen := d.State == "frozen"; frozen == l.ValidityPeriodEnd.IsZero() {
			t.Errorf("log %s (%s): validity ends %v", d.TreeID, d.State, l.ValidityPeriodEnd)
		}
		if !l.ValidityPeriodStart.Before(d.CreatedAt) {
			t.Errorf("log %s: valid from %v, created %v", d.TreeID, l.ValidityPeriodStart, d.CreatedAt)
		}
	}
	tsas := pb.GetTimestampAuthorities()
	if len(tsas) != 1 || tsas[0].GetUri() != base+"/api/v1/timestamp" || len(tr.TimestampingAuthorities()) != 1 {
		t.Errorf("timestamp authorities %v, want one at %s/api/v1/timestamp", tsas, base)
	}
}

func checkAboutSigningConfig(t *testing.T, b []byte, base string) {
	t.Helper()
	var pb prototrustroot.SigningConfig
	if err := protojson.Unmarshal(b, &pb); err != nil {
		t.Fatalf("not a protobuf-specs SigningConfig: %v\n%s", err, b)
	}
	sc, err := root.NewSigningConfigFromJSON(b)
	if err != nil {
		t.Fatalf("sigstore-go cannot read the signing config: %v\n%s", err, b)
	}
	var got []string
	for _, s := range sc.RekorLogURLs() {
		got = append(got, fmt.Sprintf("%s v%d", s.URL, s.MajorAPIVersion))
	}
	if want := []string{base + " v2", base + " v1"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Rekor services %v, want %v", got, want)
	}
	if tsas := sc.TimestampAuthorityURLs(); len(tsas) != 1 || tsas[0].URL != base+"/api/v1/timestamp" {
		t.Errorf("TSA services %v, want %s/api/v1/timestamp", tsas, base)
	}
}

// TestAboutWithoutDocuments checks /about without Config.About (the
// commands only, no downloads) and with an About that fails (the page
// still served, saying so; the downloads 503), and unknown downloads 404.
func TestAboutWithoutDocuments(t *testing.T) {
	store := engines[0].Open(t)
	v1 := logsettest.Open(t, store, logsettest.Key(t))
	for _, tt := range []struct {
		name     string
		about    func(context.Context, string) ([]byte, []byte, error)
		pageHas  string
		fileCode int
	}{
		{"none", nil, "Print them with the Tabula client", http.StatusNotFound},
		{"failing", func(context.Context, string) ([]byte, []byte, error) { return nil, nil, errors.New("no") },
			"could not be built just now", http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, err := ui.New(ui.Config{Logs: v1, About: tt.about})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(x)
			defer srv.Close()
			resp, page := fetch(t, srv.URL+"/about", "")
			if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(tt.pageHas)) || bytes.Contains(page, []byte(`id="trusted-root"`)) {
				t.Errorf("GET /about: %d\n%s", resp.StatusCode, page)
			}
			for _, p := range []string{"/about/trusted_root.json", "/about/signing_config.json"} {
				if resp, _ := fetch(t, srv.URL+p, ""); resp.StatusCode != tt.fileCode || resp.Header.Get("Content-Security-Policy") != ui.CSP {
					t.Errorf("GET %s: %d, want %d", p, resp.StatusCode, tt.fileCode)
				}
			}
			for _, p := range []string{"/about/other.json", "/about/trusted_root.json/x"} {
				if resp, _ := fetch(t, srv.URL+p, ""); resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
				}
			}
		})
	}
}
