package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/internal/witnesstest"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/verify"
)

// cosigningProxy stands for a Tabula whose witnesses cosign: it passes
// every request to the real server, but answers GET /checkpoint and
// /logs/{treeID}/checkpoint with the server's checkpoint cosigned by the
// witnesses the test chose (or with another note altogether).
type cosigningProxy struct {
	t       *testing.T
	backend string
	mu      sync.Mutex
	ws      []*witnesstest.Witness
	replace []byte
}

var cosignedDoorPath = regexp.MustCompile(`^(/logs/[0-9]+)?/checkpoint$`)

func (p *cosigningProxy) set(ws []*witnesstest.Witness, replace []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ws, p.replace = ws, replace
}

func (p *cosigningProxy) handler() http.Handler {
	u, _ := url.Parse(p.backend)
	rp := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !cosignedDoorPath.MatchString(r.URL.Path) {
			rp.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		ws, replace := p.ws, p.replace
		p.mu.Unlock()
		if replace != nil {
			_, _ = w.Write(replace)
			return
		}
		resp, err := http.Get(p.backend + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		_, _ = w.Write(witnesstest.Cosign(p.t, b, ws...))
	})
}

// TestVerifyWitnessPolicy: verify --witness-policy accepts a bundle whose
// own checkpoint a quorum cosigned (offline), or whose log serves a newer
// cosigned checkpoint the entry is proved into; it refuses, naming how many
// witnesses cosigned, without a quorum, and a cosigned checkpoint of
// another log.
func TestVerifyWitnessPolicy(t *testing.T) {
	c := defaultConfig(t)
	backend, _ := startServe(t, c)
	logKey := filepath.Join(c.DataDir, "log-key.pub.pem")
	dir := t.TempDir()
	k, pub := keyPair(t, dir)
	var bundles []string
	var artifacts []string
	for i, text := range []string{"first\n", "second\n"} {
		art := []byte(text)
		artifact := writeFile(t, dir, "artifact"+string(rune('0'+i))+".txt", art)
		sig := writeFile(t, dir, "artifact"+string(rune('0'+i))+".sig", signFile(t, k, art))
		bundle := filepath.Join(dir, "b"+string(rune('0'+i))+".json")
		mustTabula(t, "upload", "--artifact", artifact, "--signature", sig, "--key", pub, "--bundle", bundle, "--server", backend, "--log-key", logKey)
		bundles, artifacts = append(bundles, bundle), append(artifacts, artifact)
	}
	ws := []*witnesstest.Witness{witnesstest.New(t, 0, nil), witnesstest.New(t, 1, nil)}
	policyFile := writeFile(t, dir, "policy.txt", []byte(witnesstest.PolicyText(2, ws)))

	// The first bundle with its own checkpoint (size 1) cosigned.
	raw := readJSON(t, bundles[0])
	cp := raw["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)["inclusionProof"].(map[string]any)["checkpoint"].(map[string]any)
	cp["envelope"] = string(witnesstest.Cosign(t, []byte(cp["envelope"].(string)), ws...))
	cosignedBundle := writeJSON(t, dir, "cosigned.json", raw)

	// The first entry as the v1 API gives it (its checkpoint: size 2).
	entry := writeFile(t, dir, "entry.json", []byte(mustTabula(t, "get", "--log-index", "0", "--json", "--server", backend, "--log-key", logKey)))

	proxy := &cosigningProxy{t: t, backend: backend}
	srv := httptest.NewServer(proxy.handler())
	t.Cleanup(srv.Close)
	other, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Append([]byte("x"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	otherCP, _ := other.Checkpoint(context.Background())

	tests := []struct {
		name     string
		bundle   string
		server   string
		cosign   []*witnesstest.Witness
		replace  []byte
		wantCode int
		want     string
	}{
		{"own checkpoint cosigned, offline", cosignedBundle, "http://127.0.0.1:1", nil, nil, 0, "✓ witness cosignatures"},
		{"log's cosigned checkpoint, consistency", bundles[0], srv.URL, ws, nil, 0, "✓ witness cosignatures"},
		{"log's cosigned checkpoint, same size", bundles[1], srv.URL, ws, nil, 0, "✓ witness cosignatures"},
		{"one witness of 2-of-2 missing", bundles[0], srv.URL, ws[:1], nil, 1, "cosigned by 1 of the policy's 2 witnesses"},
		{"not cosigned at all", bundles[1], srv.URL, nil, nil, 1, "cosigned by 0 of the policy's 2 witnesses"},
		{"wrong log", bundles[0], srv.URL, nil, witnesstest.Cosign(t, otherCP, ws...), 1, "✗ " + "witness cosignatures"},
		{"entry, log's cosigned checkpoint", entry, srv.URL, ws, nil, 0, "✓ witness cosignatures"},
		{"entry, one witness missing", entry, srv.URL, ws[1:], nil, 1, "cosigned by 1 of the policy's 2 witnesses"},
		{"entry, wrong log", entry, srv.URL, nil, witnesstest.Cosign(t, otherCP, ws...), 1, "✗ " + "witness cosignatures"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.set(tt.cosign, tt.replace)
			art := artifacts[0]
			if tt.bundle == bundles[1] {
				art = artifacts[1]
			}
			args := []string{"verify", "--bundle", tt.bundle, "--key", pub, "--artifact", art}
			if tt.bundle == entry {
				args = []string{"verify", "--entry", entry}
			}
			code, out, errOut := tabula(t, append(args, "--log-key", logKey, "--witness-policy", policyFile, "--server", tt.server)...)
			if code != tt.wantCode || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s\n%s", code, tt.wantCode, tt.want, out, errOut)
			}
		})
	}
}

// TestWitnessSourceV2: the witness source finds a Rekor v2 log by its
// origin in GET /logs and reads its cosigned checkpoint and tiles under
// /logs/{treeID}/, so an entry of a C2SP-signed log is proved into the
// log's cosigned checkpoint; a missing witness is refused.
func TestWitnessSourceV2(t *testing.T) {
	ctx := context.Background()
	set, err := lyinglog.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	const origin = "v2.lying.example"
	v2, err := set.RotateV2(origin, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := v2.Append(monEntries("v2", 270)...); err != nil {
		t.Fatal(err)
	}
	own, _ := v2.Checkpoint(ctx) // the entry's checkpoint, size 270
	if err := v2.Append(monEntries("later", 30)...); err != nil {
		t.Fatal(err)
	}
	ws := []*witnesstest.Witness{witnesstest.New(t, 0, nil), witnesstest.New(t, 1, nil)}
	pol := witnesstest.Policy(t, 2, ws)
	pub, err := signer.ParsePublicKeyPEM(v2.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	id, err := checkpoint.KeyIDC2SP.KeyID(origin, pub)
	if err != nil {
		t.Fatal(err)
	}
	key := verify.LogKey{Public: pub, ID: id[:]}
	ownCP, err := verify.Checkpoint(own, "", key)
	if err != nil {
		t.Fatal(err)
	}
	body := monEntries("v2", 270)[200]
	e := verify.LoggedEntry{Key: key, Index: 200, Leaf: verify.LeafHash(body), Checkpoint: own, Verified: ownCP}

	for _, tt := range []struct {
		name    string
		cosign  []*witnesstest.Witness
		wantErr string
	}{
		{"quorum", ws, ""},
		{"one witness missing", ws[:1], "cosigned by 1 of the policy's 2 witnesses"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inner := set.Handler()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/logs/"+v2.TreeID()+"/checkpoint" {
					b, _ := v2.Checkpoint(r.Context())
					_, _ = w.Write(witnesstest.Cosign(t, b, tt.cosign...))
					return
				}
				inner.ServeHTTP(w, r)
			}))
			defer srv.Close()
			cl, err := client.New(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			c, err := verify.Witnessed(ctx, pol, e, newWitnessSource(cl))
			if tt.wantErr == "" {
				if err != nil || c.Checkpoint.Size != 300 {
					t.Fatalf("Witnessed: %v, size %d, want the cosigned size 300", err, c.Checkpoint.Size)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Witnessed: %v, want %q", err, tt.wantErr)
			}
		})
	}
}
