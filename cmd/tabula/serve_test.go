package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/pgtest"
	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/signer"
)

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `tabula serve` in-process until the test ends (or stop is
// called) and returns its base URL.
func startServe(t *testing.T, c *serveConfig) (url string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- serve(ctx, c, logger, ready) }()
	select {
	case addr := <-ready:
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
		t.Cleanup(stop)
		return "http://" + addr, stop
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return "", nil
}

func defaultConfig(t *testing.T) *serveConfig {
	t.Helper()
	c := serveFlags(flagSetForTest())
	c.Listen = "127.0.0.1:0"
	c.MetricsListen = freeAddr(t)
	c.DataDir = t.TempDir()
	// The memory limit is the process's: servers started in a test process
	// must not set it for the tests around them.
	c.MemoryLimitMiB = 0
	return c
}

// openssl runs openssl, the way the README's walkthrough does.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

// opensslEntry makes a hashedrekord with a key and signature from openssl.
func opensslEntry(t *testing.T, dir, artifact string) []byte {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed for this test (the README's walkthrough uses it)")
	}
	if err := os.WriteFile(filepath.Join(dir, "artifact.txt"), []byte(artifact), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "key.pem")); err != nil {
		openssl(t, dir, "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "key.pem")
		openssl(t, dir, "ec", "-in", "key.pem", "-pubout", "-out", "pub.pem")
	}
	openssl(t, dir, "dgst", "-sha256", "-sign", "key.pem", "-out", "sig.bin", "artifact.txt")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	digest := sha256Hex(read("artifact.txt"))
	return fmt.Appendf(nil, `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"%s"}},"signature":{"content":"%s","publicKey":{"content":"%s"}}}}`,
		digest, base64.StdEncoding.EncodeToString(read("sig.bin")), base64.StdEncoding.EncodeToString(read("pub.pem")))
}

func httpDo(t *testing.T, method, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
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

func TestServeEndToEnd(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			c := defaultConfig(t)
			if engine == "postgres" {
				c.DatabaseURL = pgtest.NewDatabase(t)
			}
			url, stop := startServe(t, c)
			dir := t.TempDir()
			entry := opensslEntry(t, dir, "hello, tabula\n")

			resp, b := httpDo(t, "POST", url+"/api/v1/log/entries", entry)
			if resp.StatusCode != 201 {
				t.Fatalf("upload: %d %s", resp.StatusCode, b)
			}
			var le models.LogEntry
			if err := json.Unmarshal(b, &le); err != nil {
				t.Fatal(err)
			}
			if len(le) != 1 {
				t.Fatalf("%d entries in the response", len(le))
			}
			if resp, _ := httpDo(t, "POST", url+"/api/v1/log/entries", entry); resp.StatusCode != 409 {
				t.Fatalf("duplicate upload: %d", resp.StatusCode)
			}

			// The checkpoint verifies with the key the server publishes and
			// the one it wrote into its data directory.
			_, pemBytes := httpDo(t, "GET", url+"/api/v1/log/publicKey", nil)
			onDisk, err := os.ReadFile(filepath.Join(c.DataDir, "log-key.pub.pem"))
			if err != nil || !bytes.Equal(onDisk, pemBytes) {
				t.Fatalf("published key differs from %s (%v)", filepath.Join(c.DataDir, "log-key.pub.pem"), err)
			}
			pub, err := signer.ParsePublicKeyPEM(pemBytes)
			if err != nil {
				t.Fatal(err)
			}
			_, b = httpDo(t, "GET", url+"/api/v1/log", nil)
			var info models.LogInfo
			if err := json.Unmarshal(b, &info); err != nil {
				t.Fatal(err)
			}
			cp, err := checkpoint.Verify([]byte(info.SignedTreeHead), "tabula.local - "+info.TreeID, "tabula.local", checkpoint.KeyIDRekorV1, pub)
			if err != nil || cp.Size != 1 || hex.EncodeToString(cp.Root[:]) != info.RootHash {
				t.Fatalf("checkpoint %+v: %v", cp, err)
			}

			// Metrics are on their own listener.
			resp, b = httpDo(t, "GET", "http://"+c.MetricsListen+"/metrics", nil)
			if resp.StatusCode != 200 || !strings.Contains(string(b), `tabula_tree_size{log="tabula.local - `+info.TreeID+`"} 1`) ||
				!strings.Contains(string(b), "tabula_http_requests_total") || !strings.Contains(string(b), "tabula_batch_size") {
				t.Fatalf("metrics: %d\n%.2000s", resp.StatusCode, b)
			}
			if resp, _ := httpDo(t, "GET", url+"/metrics", nil); resp.StatusCode != 404 {
				t.Fatalf("/metrics on the API port: %d", resp.StatusCode)
			}

			// A restart on the same data keeps the log and its key.
			stop()
			c.MetricsListen = freeAddr(t)
			url, _ = startServe(t, c)
			_, b = httpDo(t, "GET", url+"/api/v1/log", nil)
			var info2 models.LogInfo
			if err := json.Unmarshal(b, &info2); err != nil {
				t.Fatal(err)
			}
			if info2.TreeID != info.TreeID || info2.TreeSize != 1 || info2.RootHash != info.RootHash {
				t.Fatalf("after restart: %+v, before: %+v", info2, info)
			}
			entry2 := opensslEntry(t, dir, "second artifact\n")
			if resp, b := httpDo(t, "POST", url+"/api/v1/log/entries", entry2); resp.StatusCode != 201 {
				t.Fatalf("upload after restart: %d %s", resp.StatusCode, b)
			}
		})
	}
}

func TestServeRefusesReadableKey(t *testing.T) {
	c := defaultConfig(t)
	c.Key = filepath.Join(t.TempDir(), "key.pem")
	priv, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.WriteFiles(priv, c.Key, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(c.Key, 0o644); err != nil {
		t.Fatal(err)
	}
	err = serve(context.Background(), c, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("serve with a world-readable key: %v", err)
	}
}

func TestKeygenAndEnv(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "k.pem")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"keygen", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("keygen: %d %s", code, stderr.String())
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v (%v)", fi.Mode().Perm(), err)
	}
	if _, err := signer.LoadFile(out); err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(filepath.Join(dir, "k.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.ParsePublicKeyPEM(pubPEM); err != nil {
		t.Fatal(err)
	}
	// Never overwritten.
	if code := run(context.Background(), []string{"keygen", "--out", out}, &stdout, &stderr); code == 0 {
		t.Fatal("keygen overwrote a private key")
	}
	// Environment equivalents, overridden by the command line.
	t.Setenv("TABULA_BATCH_MAX_SIZE", "7")
	t.Setenv("TABULA_LISTEN", "127.0.0.1:9")
	fs := flagSetForTest()
	c := serveFlags(fs)
	if err := parseFlags(fs, []string{"--listen", "127.0.0.1:10"}); err != nil {
		t.Fatal(err)
	}
	if c.BatchMaxSize != 7 || c.Listen != "127.0.0.1:10" {
		t.Fatalf("batch %d listen %s", c.BatchMaxSize, c.Listen)
	}
	t.Setenv("TABULA_BATCH_MAX_SIZE", "seven")
	if err := parseFlags(flagSetForTest(), nil); err != nil {
		// serveFlags was not called on this set: nothing to fail on.
		t.Fatal(err)
	}
	fs = flagSetForTest()
	serveFlags(fs)
	if err := parseFlags(fs, nil); err == nil || !strings.Contains(err.Error(), "TABULA_BATCH_MAX_SIZE") {
		t.Fatalf("bad environment value: %v", err)
	}
}

func flagSetForTest() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func sha256Hex(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// TestTwoServersOnePostgres runs two `tabula serve` processes' worth of
// servers on one database, each taking writes: they share one tree.
func TestTwoServersOnePostgres(t *testing.T) {
	db := pgtest.NewDatabase(t)
	keyDir := t.TempDir()
	var urls []string
	for range 2 {
		c := defaultConfig(t)
		c.DatabaseURL = db
		c.DataDir = keyDir // the same key for both replicas
		url, _ := startServe(t, c)
		urls = append(urls, url)
	}
	dir := t.TempDir()
	for i := range 10 {
		resp, b := httpDo(t, "POST", urls[i%2]+"/api/v1/log/entries", opensslEntry(t, dir, fmt.Sprint("artifact ", i)))
		if resp.StatusCode != 201 {
			t.Fatalf("upload %d via replica %d: %d %s", i, i%2, resp.StatusCode, b)
		}
		var le models.LogEntry
		if err := json.Unmarshal(b, &le); err != nil {
			t.Fatal(err)
		}
		for _, e := range le {
			if e.LogIndex != int64(i) {
				t.Fatalf("upload %d got index %d", i, e.LogIndex)
			}
		}
	}
	// Both replicas serve the same tree (each may lag by its head cache).
	time.Sleep(tlog.DefaultHeadMaxAge)
	var infos []models.LogInfo
	for _, u := range urls {
		_, b := httpDo(t, "GET", u+"/api/v1/log", nil)
		var info models.LogInfo
		if err := json.Unmarshal(b, &info); err != nil {
			t.Fatal(err)
		}
		infos = append(infos, info)
	}
	if infos[0].TreeSize != 10 || infos[0].TreeID != infos[1].TreeID || infos[0].RootHash != infos[1].RootHash {
		t.Fatalf("replicas disagree: %+v vs %+v", infos[0], infos[1])
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestServeCacheFlags: the cache sizes reach the log (a server with the
// entry cache off and a two-tile cache still answers reads), and
// impossible sizes are refused before anything starts.
func TestServeCacheFlags(t *testing.T) {
	for _, bad := range []func(*serveConfig){
		func(c *serveConfig) { c.TileCacheSize = 0 },
		func(c *serveConfig) { c.EntryCacheMiB = -1 },
		func(c *serveConfig) { c.MemoryLimitMiB = -2 },
	} {
		c := defaultConfig(t)
		bad(c)
		if err := serve(context.Background(), c, slog.New(slog.DiscardHandler), nil); err == nil {
			t.Errorf("serve with tile cache %d, entry cache %d MiB: no error", c.TileCacheSize, c.EntryCacheMiB)
		}
	}
	for _, mib := range []int{0, 1} {
		c := defaultConfig(t)
		c.TileCacheSize, c.EntryCacheMiB = 2, mib
		url, _ := startServe(t, c)
		entry := opensslEntry(t, t.TempDir(), fmt.Sprintf("cache flags %d\n", mib))
		if resp, b := httpDo(t, "POST", url+"/api/v1/log/entries", entry); resp.StatusCode != 201 {
			t.Fatalf("upload: %d %s", resp.StatusCode, b)
		}
		for range 2 {
			resp, b := httpDo(t, "GET", url+"/api/v1/log/entries?logIndex=0", nil)
			if resp.StatusCode != 200 || !strings.Contains(string(b), `"logIndex":0`) {
				t.Fatalf("entry cache %d MiB: GET entry: %d %s", mib, resp.StatusCode, b)
			}
		}
	}
}

// TestMemoryLimitFlag: the default memory limit is the caches' bounds plus
// the headroom, and follows the cache flags; an explicit limit, or 0 (none),
// is kept as given.
func TestMemoryLimitFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{nil, 128 + 8192*16/1024 + 64 + 128},
		{[]string{"--entry-cache-mib", "0", "--tile-cache-size", "1024", "--bundle-cache-mib", "8"}, 0 + 16 + 8 + 128},
		{[]string{"--memory-limit-mib", "0"}, 0},
		{[]string{"--memory-limit-mib", "300", "--entry-cache-mib", "1000"}, 300},
	} {
		fs := flagSetForTest()
		c := serveFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := c.memoryLimitMiB(); got != tc.want {
			t.Errorf("%v: memory limit %d MiB, want %d", tc.args, got, tc.want)
		}
	}
}
