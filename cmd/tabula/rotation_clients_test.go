package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	root "github.com/sigstore/sigstore-go/pkg/root"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/monitor"
	"github.com/tabularium/tabula/signer"
)

// logEntryTime reads the integrated time of the entry at a virtual index.
func logEntryTime(t *testing.T, url string, index int) time.Time {
	t.Helper()
	out := mustTabula(t, "get", "--server", url, "--log-index", fmt.Sprint(index), "--json")
	var le map[string]struct {
		IntegratedTime int64 `json:"integratedTime"`
	}
	if err := json.Unmarshal([]byte(out), &le); err != nil || len(le) != 1 {
		t.Fatalf("entry %d: %v\n%s", index, err, out)
	}
	for _, e := range le {
		return time.Unix(e.IntegratedTime, 0)
	}
	return time.Time{}
}

// TestClientsFollowRotation: a real server (both engines) writes entries,
// rotates with `tabula log rotate` to a new key, and writes more. The
// trusted root lists both logs with their validity, verify checks entries
// and bundles of both, monitor and audit follow both (and take over the
// state an earlier release saved), and a server that then serves another
// checkpoint of the frozen log, signed with its key, is an alert and fails
// the audit.
func TestClientsFollowRotation(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			c := defaultConfig(t)
			dbArgs := []string{"--data-dir", c.DataDir}
			if engine == "postgres" {
				c.DatabaseURL = pgtest.NewDatabase(t)
				dbArgs = []string{"--database-url", c.DatabaseURL}
			}
			dir := t.TempDir()
			var privs, pubs []string
			var signers []*signer.Local
			for _, name := range []string{"key1", "key2"} {
				priv, err := signer.Generate("ecdsa-p256")
				if err != nil {
					t.Fatal(err)
				}
				privPath, pubPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pub.pem")
				if err := signer.WriteFiles(priv, privPath, pubPath); err != nil {
					t.Fatal(err)
				}
				s, err := signer.New(priv)
				if err != nil {
					t.Fatal(err)
				}
				privs, pubs, signers = append(privs, privPath), append(pubs, pubPath), append(signers, s)
			}
			c.Key = strings.Join(privs, ",")
			url, _ := startServe(t, c)
			plain, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			k, pub := keyPair(t, dir)
			upload := func(name string) string {
				art := []byte("artifact " + name)
				bundle := filepath.Join(dir, name+".bundle.json")
				mustTabula(t, "upload", "--server", url, "--log-key", pubs[0], "--log-key", pubs[1],
					"--artifact", writeFile(t, dir, name+".txt", art), "--signature", writeFile(t, dir, name+".sig", signFile(t, k, art)),
					"--key", pub, "--bundle", bundle)
				return bundle
			}

			monUpload(t, url, plain, "first", 290)
			bundle1 := upload("in-the-first-log") // index 290
			state := t.TempDir()
			// A monitor and an audit of one log, as an earlier release ran
			// them, where it saved their state.
			v1, err := monitor.NewVerifier(readTestFile(t, pubs[0]))
			if err != nil {
				t.Fatal(err)
			}
			cl, err := client.New(url)
			if err != nil {
				t.Fatal(err)
			}
			old, err := monitor.New(monitor.Config{Log: cl, Verifier: v1, StatePath: filepath.Join(state, "monitor", v1.KeyID()[:16]+".json")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := old.Check(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := monitor.Audit(context.Background(), monitor.AuditConfig{Log: cl, Verifier: v1, StatePath: filepath.Join(state, "audit", v1.KeyID()[:16]+".json")}); err != nil {
				t.Fatal(err)
			}
			// loginfo trusts the key on first use, and remembers it.
			liState := t.TempDir()
			if code, out, errOut := tabula(t, "loginfo", "--server", url, "--state-dir", liState); code != 0 || !strings.Contains(out, "Tree size:    291") {
				t.Fatalf("loginfo before the rotation: %d\n%s%s", code, out, errOut)
			}
			monUpload(t, url, plain, "last", 9) // 291..299

			out := mustTabula(t, append([]string{"log", "rotate", "--key", privs[1]}, dbArgs...)...)
			if !strings.Contains(out, "at size 300") || !strings.Contains(out, "from virtual index 300") {
				t.Fatalf("log rotate:\n%s", out)
			}
			monUpload(t, url, plain, "second", 20) // 300..319: the first write finds the log frozen
			bundle2 := upload("in-the-second-log") // 320
			var li struct {
				TreeID         string `json:"treeID"`
				InactiveShards []struct {
					TreeID string `json:"treeID"`
				} `json:"inactiveShards"`
			}
			if err := json.Unmarshal([]byte(mustGet(t, url+"/api/v1/log")), &li); err != nil || len(li.InactiveShards) != 1 {
				t.Fatalf("log info: %+v, %v", li, err)
			}
			tree1, tree2 := li.InactiveShards[0].TreeID, li.TreeID

			// trusted-root: both logs, each key valid from a minute before
			// the log was created (before its first entry); the frozen one
			// until a minute after its last entry.
			created := map[string]time.Time{}
			described, err := cl.Logs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range described {
				created[d.TreeID] = d.CreatedAt
			}
			tr := parseTRN(t, mustTabula(t, "trusted-root", "--server", url), 2)
			trPath := writeFile(t, dir, "trusted_root.json", []byte(mustTabula(t, "trusted-root", "--server", url)))
			for i, want := range []struct {
				last   int
				frozen bool
			}{{299, true}, {320, false}} {
				tl := tr.Tlogs[i]
				if !bytes.Equal(tl.PublicKey.RawBytes, signers[i].PublicKeyDER()) {
					t.Errorf("tlog %d: not key %d", i, i+1)
				}
				wantStart := created[[]string{tree1, tree2}[i]].Add(-time.Minute).UTC().Truncate(time.Second).Format(time.RFC3339)
				if tl.PublicKey.ValidFor.Start != wantStart {
					t.Errorf("tlog %d: validFor.start %s, want %s", i, tl.PublicKey.ValidFor.Start, wantStart)
				}
				wantEnd := ""
				if want.frozen {
					wantEnd = logEntryTime(t, url, want.last).Add(time.Minute).UTC().Format(time.RFC3339)
				}
				if tl.PublicKey.ValidFor.End != wantEnd {
					t.Errorf("tlog %d: validFor.end %q, want %q", i, tl.PublicKey.ValidFor.End, wantEnd)
				}
			}

			// verify: bundles of both logs with the trusted root, or with
			// both keys pinned; saved entries of both logs with the pinned
			// keys or with each log's key fetched by tree ID.
			for _, b := range []string{bundle1, bundle2} {
				for _, trust := range [][]string{{"--trusted-root", trPath}, {"--log-key", pubs[0], "--log-key", pubs[1]}} {
					args := append([]string{"verify", "--bundle", b, "--key", pub, "--artifact", strings.TrimSuffix(b, ".bundle.json") + ".txt"}, trust...)
					if out := mustTabula(t, args...); !strings.Contains(out, "Verified OK") {
						t.Errorf("verify %s %v:\n%s", filepath.Base(b), trust, out)
					}
				}
				// Each log's bundle does not verify with the other's key alone.
				other := pubs[1]
				if b == bundle2 {
					other = pubs[0]
				}
				if code, out, _ := tabula(t, "verify", "--bundle", b, "--key", pub, "--log-key", other); code != 1 || !strings.Contains(out, "✗ log is trusted") {
					t.Errorf("verify %s with the other log's key: exit %d\n%s", filepath.Base(b), code, out)
				}
			}
			for _, tc := range []struct {
				index int
				tree  string
				local int
			}{{5, tree1, 5}, {299, tree1, 299}, {300, tree2, 0}, {320, tree2, 20}} {
				entry := writeFile(t, dir, fmt.Sprintf("entry-%d.json", tc.index), []byte(mustTabula(t, "get", "--server", url, "--log-index", fmt.Sprint(tc.index), "--json")))
				want := fmt.Sprintf("Entry %d (index %d in ", tc.index, tc.local)
				out := mustTabula(t, "verify", "--entry", entry, "--log-key", pubs[0], "--log-key", pubs[1])
				if !strings.Contains(out, want) || !strings.Contains(out, " - "+tc.tree+", tree size") {
					t.Errorf("verify --entry %d with pinned keys:\n%s", tc.index, out)
				}
				code, out, errOut := tabula(t, "verify", "--entry", entry, "--server", url)
				if code != 0 || !strings.Contains(out, want) || !strings.Contains(errOut, "key of log "+tc.tree+" was fetched") {
					t.Errorf("verify --entry %d with the key fetched by tree ID: %d\n%s%s", tc.index, code, out, errOut)
				}
				if out := mustTabula(t, "get", "--server", url, "--log-index", fmt.Sprint(tc.index)); !strings.Contains(out, "SET verified") {
					t.Errorf("get %d:\n%s", tc.index, out)
				}
			}

			// loginfo: the new key is no key change (the remembered one is
			// the frozen log's), the frozen log is proved consistent with
			// what it saw, and the total counts both logs; pinned keys too.
			code, out, errOut := tabula(t, "loginfo", "--server", url, "--state-dir", liState)
			if code != 0 || !strings.Contains(out, "Tree size:    21") || !strings.Contains(out, "Frozen logs:  1") ||
				!strings.Contains(out, "  "+tree1+": size 300") || !strings.Contains(out, "consistent with the last verified checkpoint (size 291)") ||
				!strings.Contains(out, "Total size:   321") {
				t.Fatalf("loginfo after the rotation: %d\n%s%s", code, out, errOut)
			}
			if code, out, errOut := tabula(t, "loginfo", "--server", url, "--state-dir", t.TempDir(), "--log-key", pubs[1], "--log-key", pubs[0]); code != 0 || !strings.Contains(out, "Total size:   321") {
				t.Fatalf("loginfo with pinned keys: %d\n%s%s", code, out, errOut)
			}
			if code, out, errOut := tabula(t, "loginfo", "--server", url, "--state-dir", t.TempDir(), "--log-key", pubs[1]); code != 1 || !strings.Contains(errOut, "none of the 1 pinned keys") {
				t.Fatalf("loginfo without the frozen log's key: %d\n%s%s", code, out, errOut)
			}

			// The frozen log's end matters: with an end before its entries,
			// its bundle no longer verifies (sigstore-go checks the SET's time
			// against it); the other log's still does.
			var early map[string]any
			if err := json.Unmarshal(readTestFile(t, trPath), &early); err != nil {
				t.Fatal(err)
			}
			vf := early["tlogs"].([]any)[0].(map[string]any)["publicKey"].(map[string]any)["validFor"].(map[string]any)
			vf["end"] = vf["start"]
			earlyJSON, err := json.Marshal(early)
			if err != nil {
				t.Fatal(err)
			}
			earlyPath := writeFile(t, dir, "trusted_root_early_end.json", earlyJSON)
			for _, tc := range []struct {
				bundle string
				ok     bool
			}{{bundle1, false}, {bundle2, true}} {
				code, out, _ := tabula(t, "verify", "--bundle", tc.bundle, "--key", pub, "--artifact", strings.TrimSuffix(tc.bundle, ".bundle.json")+".txt", "--trusted-root", earlyPath)
				if (code == 0) != tc.ok || (!tc.ok && !strings.Contains(out, "not enough verified log entries from transparency log: 0 < 1")) {
					t.Errorf("verify %s with the frozen log's key ending before its entries: exit %d\n%s", filepath.Base(tc.bundle), code, out)
				}
			}

			// sigstore-go reads both logs, the frozen one with an end.
			sgRoot, err := root.NewTrustedRootFromPath(trPath)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range signers {
				id := s.LogID()
				l := sgRoot.RekorLogs()[hex.EncodeToString(id[:])]
				if l == nil || l.ValidityPeriodStart.IsZero() || l.ValidityPeriodEnd.IsZero() != (i == 1) {
					t.Errorf("sigstore-go's log %d: %+v", i+1, l)
				}
			}

			// monitor and audit follow both logs, from the state of one.
			args := []string{"--server", url, "--log-key", pubs[0], "--log-key", pubs[1], "--state-dir", state}
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 0 || !strings.Contains(out, "Log:          "+tree1+" (frozen)") || !strings.Contains(out, "consistent with size 291; 9 new entries") ||
				!strings.Contains(out, "Log:          "+tree2+" (active, new since the last check") || !strings.Contains(out, "consistent with size 0; 21 new entries") {
				t.Fatalf("monitor after the rotation: %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = monRun(t, append([]string{"audit", "--progress", "none"}, args...)...)
			if code != 0 || !strings.Contains(out, "Resumed at:   291") || !strings.Contains(out, "Entries read: 9 ") || !strings.Contains(out, "Entries read: 21 ") {
				t.Fatalf("audit after the rotation: %d\n%s%s", code, out, errOut)
			}
			monUpload(t, url, plain, "third", 5)
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 0 || !strings.Contains(out, "frozen; its listed and served checkpoints are its final one") || !strings.Contains(out, "consistent with size 21; 5 new entries") {
				t.Fatalf("monitor, third run: %d\n%s%s", code, out, errOut)
			}
			// The keys in another order: the same state.
			swapped := []string{"--server", url, "--log-key", pubs[1], "--log-key", pubs[0], "--state-dir", state}
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, swapped...)...)
			if code != 0 || !strings.Contains(out, "frozen; its listed and served checkpoints are its final one") || !strings.Contains(out, "no new entries since size 26") {
				t.Fatalf("monitor with the keys swapped: %d\n%s%s", code, out, errOut)
			}
			// verify --online finds each bundle's entry in the live logs.
			for _, b := range []string{bundle1, bundle2} {
				out := mustTabula(t, "verify", "--bundle", b, "--log-key", pubs[0], "--log-key", pubs[1], "--key", pub,
					"--artifact", strings.TrimSuffix(b, ".bundle.json")+".txt", "--online", "--server", url)
				if !strings.Contains(out, "✓ entry is in the live log") {
					t.Errorf("verify --online %s:\n%s", filepath.Base(b), out)
				}
			}

			// A rotation that keeps the key: the trusted root still has one
			// entry per key, the second valid until now; monitor reports the
			// third log and reads the second to its final checkpoint.
			out = mustTabula(t, append([]string{"log", "rotate", "--key", privs[1]}, dbArgs...)...)
			if !strings.Contains(out, "at size 26") || !strings.Contains(out, "from virtual index 326") {
				t.Fatalf("second log rotate:\n%s", out)
			}
			monUpload(t, url, plain, "fourth", 4) // 326..329
			tr3 := parseTRN(t, mustTabula(t, "trusted-root", "--server", url), 2)
			if tr3.Tlogs[1].PublicKey.ValidFor != tr.Tlogs[1].PublicKey.ValidFor || tr3.Tlogs[0].PublicKey.ValidFor != tr.Tlogs[0].PublicKey.ValidFor {
				t.Errorf("trusted root after a rotation with the same key: %+v, want %+v", tr3.Tlogs, tr.Tlogs)
			}
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 0 || strings.Count(out, "(frozen)") != 2 || !strings.Contains(out, "(active, new since the last check") ||
				!strings.Contains(out, "consistent with size 0; 4 new entries") {
				t.Fatalf("monitor after the second rotation: %d\n%s%s", code, out, errOut)
			}
			t.Logf("monitor after two rotations:\n%s", out)

			// A server that signs another checkpoint of the frozen log (its
			// key was stolen, or its operator lies) is caught.
			liar := frozenLiar(t, url, tree1, signers[0])
			args[1] = liar
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 1 || !strings.Contains(out, "frozen-log-changed: frozen log "+tree1) || !strings.Contains(errOut, "ALERT: frozen log "+tree1) {
				t.Errorf("monitor of a changed frozen log: %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = monRun(t, append([]string{"audit", "--progress", "none"}, args...)...)
			if code != 1 || !strings.Contains(out, "AUDIT FAILED (frozen-log-changed)") {
				t.Errorf("audit of a changed frozen log: %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// frozenLiar serves the server at target, except that the frozen log
// treeID serves a checkpoint one entry larger (a root it never had), signed
// with the log's key.
func frozenLiar(t *testing.T, target, treeID string, key *signer.Local) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/logs/"+treeID+"/checkpoint" {
			proxy.ServeHTTP(w, r)
			return
		}
		resp, err := http.Get(target + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cp, err := checkpoint.Open(b, checkpoint.AnyName(checkpoint.KeyIDRekorV1, key.Public()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		host, _, _ := strings.Cut(cp.Origin, " - ")
		ns, err := checkpoint.NewSigner(host, checkpoint.KeyIDRekorV1, key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		cp.Size++
		cp.Root[0] ^= 1
		forged, err := checkpoint.Sign(cp, ns)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(forged)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", u, resp.StatusCode, err, b)
	}
	return string(b)
}
