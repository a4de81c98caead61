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

// tabulaBin is the tabula binary built by TestMain.
var tabulaBin string

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
	Engine      string // "sqlite" or "postgres"
	DatabaseURL string // the postgres engine's database
}

// engines lists the storage engines every interop test runs on.
var engines = []string{"sqlite", "postgres"}

// forEachEngine runs f as a subtest on a fresh server of each engine.
func forEachEngine(t *testing.T, f func(t *testing.T, s *server)) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			f(t, startServer(t, engine))
		})
	}
}

// startServer runs `tabula serve` on a free port with a temporary data
// directory (and, for postgres, a fresh database) until the test ends.
func startServer(t *testing.T, engine string) *server {
	t.Helper()
	s := &server{DataDir: t.TempDir(), Engine: engine}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "", "--data-dir", s.DataDir}
	if engine == "postgres" {
		s.DatabaseURL = newDatabase(t)
		args = append(args, "--database-url", s.DatabaseURL)
	}
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
