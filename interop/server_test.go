package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// tabulaBin is the tabula binary built by TestMain, in binDir.
var tabulaBin, binDir string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tabula-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	tabulaBin = filepath.Join(dir, "tabula")
	// Built in the main module (its own go.mod and go.sum), as shipped.
	cmd := exec.Command("go", "build", "-o", tabulaBin, "./cmd/tabula")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: building tabula: %v\n", err)
		return 1
	}
	return m.Run()
}

// server is a running `tabula serve`.
type server struct {
	URL         string // http://127.0.0.1:port
	DataDir     string
	Engine      string   // "sqlite" or "postgres"
	DatabaseURL string   // the postgres engine's database
	Keys        []string // its --key files; none: it made its own in DataDir
	V2Key       string   // its --v2-key file; empty: the data directory's
}

// serverOptions are the settings of a `tabula serve` beyond its engine.
type serverOptions struct {
	Keys  []string // --key files; none: the server makes its own
	V2Key string   // --v2-key file (also given to `log create`); empty: the data directory's
	Args  []string // more flags, e.g. --witness-policy FILE
}

// engines lists the storage engines every interop test runs on.
var engines = []string{"sqlite", "postgres"}

// forEachEngine runs f as a subtest on a fresh server of each engine.
func forEachEngine(t *testing.T, f func(t *testing.T, s *server)) {
	forEachEngineKeys(t, 0, f)
}

// forEachEngineKeys is forEachEngine with nKeys log keys made by `tabula
// keygen` and given to the server's --key (the first signs its first log);
// with none, the server makes its own key in its data directory.
func forEachEngineKeys(t *testing.T, nKeys int, f func(t *testing.T, s *server)) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			var keys []string
			dir := t.TempDir()
			for i := range nKeys {
				k := filepath.Join(dir, fmt.Sprintf("log-key-%d.pem", i))
				tabula(t, "keygen", "--out", k)
				keys = append(keys, k)
			}
			f(t, startServer(t, engine, keys...))
		})
	}
}

// startServer runs `tabula serve` on a free port with a temporary data
// directory (and, for postgres, a fresh database) until the test ends,
// with the log keys in keys (none: the server makes one).
func startServer(t *testing.T, engine string, keys ...string) *server {
	t.Helper()
	return startServerWith(t, engine, serverOptions{Keys: keys})
}

// startServerWith is startServer with the settings of opts.
func startServerWith(t *testing.T, engine string, opts serverOptions) *server {
	t.Helper()
	s := &server{DataDir: t.TempDir(), Engine: engine, Keys: opts.Keys, V2Key: opts.V2Key}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "", "--data-dir", s.DataDir}
	if engine == "postgres" {
		s.DatabaseURL = newDatabase(t)
		args = append(args, "--database-url", s.DatabaseURL)
	}
	if len(opts.Keys) > 0 {
		args = append(args, "--key", strings.Join(opts.Keys, ","))
	}
	if opts.V2Key != "" {
		args = append(args, "--v2-key", opts.V2Key)
	}
	args = append(args, opts.Args...)
	cmd := exec.Command(tabulaBin, args...)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var logs bytes.Buffer
	urlc := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			mu.Lock()
			logs.Write(line)
			logs.WriteByte('\n')
			mu.Unlock()
			var rec struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "tabula serving" {
				select {
				case urlc <- rec.URL:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() { <-done; exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("tabula serve (%s) exited with %v", engine, err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("tabula serve (%s) did not stop within 30s", engine)
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("tabula serve (%s) log:\n%s", engine, logs.String())
			mu.Unlock()
		}
	})
	select {
	case s.URL = <-urlc:
		return s
	case <-done:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("tabula serve exited before serving:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		t.Fatal("tabula serve did not start within 60s")
	}
	return nil
}

// rotate runs `tabula log rotate` on s's database while s serves it: the
// active log freezes and a new one, signed by keyFile, takes the next
// entries. It returns the new log's tree ID.
func (s *server) rotate(t *testing.T, keyFile string) int64 {
	t.Helper()
	args := []string{"log", "rotate", "--data-dir", s.DataDir, "--key", keyFile}
	if s.DatabaseURL != "" {
		args = append(args, "--database-url", s.DatabaseURL)
	}
	out := tabula(t, args...)
	for _, line := range strings.Split(string(out), "\n") {
		var treeID int64
		if _, err := fmt.Sscanf(line, "created log %d ", &treeID); err == nil {
			return treeID
		}
	}
	t.Fatalf("tabula %s: no \"created log <tree ID>\" in\n%s", strings.Join(args, " "), out)
	return 0
}

// cleanEnv is the environment without TABULA_* settings, which would
// override the flags the tests choose.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TABULA_") {
			env = append(env, kv)
		}
	}
	return env
}

// tabula runs the tabula binary (a client command) and returns its output.
func tabula(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tabulaBin, args...)
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tabula %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// The PostgreSQL test server, as in the main module's internal/pgtest
// (which another module cannot import).
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	envDatabaseURL     = "TABULA_TEST_DATABASE_URL"
	envSkipPostgres    = "TABULA_TEST_SKIP_POSTGRES"
)

// newDatabase creates an empty, uniquely named database on the test server,
// drops it when the test ends, and returns its URL.
func newDatabase(t *testing.T) string {
	t.Helper()
	if os.Getenv(envSkipPostgres) == "1" {
		t.Skipf("%s=1: skipping a test that needs PostgreSQL", envSkipPostgres)
	}
	admin := os.Getenv(envDatabaseURL)
	if admin == "" {
		admin = defaultDatabaseURL
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL to a database on the test server", envDatabaseURL)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "tabula_interop_" + hex.EncodeToString(b[:])
	shown := u.Redacted()
	pgExec(t, admin, shown, `CREATE DATABASE "`+name+`" TEMPLATE template0`)
	// Registered before the server's cleanup, so it runs after the server stopped.
	t.Cleanup(func() { pgExec(t, admin, shown, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`) })
	u.Path = "/" + name
	return u.String()
}

func pgExec(t *testing.T, admin, shown, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("cannot reach the test PostgreSQL server at %s: %v\n"+
			"Start PostgreSQL there, point %s at another server, or set %s=1 to skip the PostgreSQL runs.",
			shown, err, envDatabaseURL, envSkipPostgres)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
