// Package pgcluster starts throwaway PostgreSQL clusters for tests that must
// stop, start or replicate their database: a cluster of the test's own,
// never the shared test server (package pgtest), removed when the test ends.
//
// New initdbs a primary; NewStandby makes a streaming hot standby of it
// with pg_basebackup -R. The server binaries are found on PATH or in the
// newest /usr/lib/postgresql/*/bin. When they are absent the test is
// skipped, saying why, unless CI=true, where it fails: a CI that forgot to
// install them must not pass by skipping. As root (initdb refuses it) the
// clusters run as the user postgres, through runuser.
package pgcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a throwaway PostgreSQL cluster, which its test may stop and
// start at will.
type Cluster struct {
	t       testing.TB
	bin     string // directory of initdb, pg_ctl, postgres, pg_basebackup
	dir     string // owns data/, sock/, postgres.log
	port    int
	runUser string // set when the cluster runs as another user (we are root)
}

// findBin returns the directory of initdb: PATH first, then the newest
// /usr/lib/postgresql/*/bin, as scripts/test.sh looks.
func findBin() (string, bool) {
	if p, err := exec.LookPath("initdb"); err == nil {
		// A symbolic link (/usr/local/bin/initdb) leads to the
		// directory holding the other binaries.
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		return filepath.Dir(p), true
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range append(dirs, "/usr/local/pgsql/bin") {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, true
		}
	}
	return "", false
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// skip skips t, or fails it under CI=true.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and "+format, args...)
	}
	t.Skipf(format, args...)
}

// prepare finds the binaries and makes the cluster's directory (owned by
// the user it runs as); it skips t when it cannot run a cluster.
func prepare(t testing.TB, need ...string) *Cluster {
	t.Helper()
	bin, ok := findBin()
	if !ok {
		skip(t, "initdb not found (PATH, /usr/lib/postgresql/*/bin): install the PostgreSQL server to run this test")
	}
	for _, b := range append([]string{"pg_ctl", "postgres"}, need...) {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			skip(t, "found initdb in %s but no %s beside it", bin, b)
		}
	}
	c := &Cluster{t: t, bin: bin}
	parent := "" // os.TempDir()
	var uid, gid int
	if os.Getuid() == 0 {
		// initdb refuses root: run the cluster as postgres, in /tmp (a
		// TMPDIR under /root would be out of its reach).
		c.runUser = "postgres"
		u, err := user.Lookup(c.runUser)
		if err != nil {
			skip(t, "running as root and there is no user %q to run PostgreSQL as", c.runUser)
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			skip(t, "running as root and there is no runuser to run PostgreSQL as another user")
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "tabula-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		c.Stop("immediate")
		os.RemoveAll(dir)
	})
	if c.runUser != "" {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run("mkdir", "-m", "700", filepath.Join(dir, "sock")); err != nil {
		t.Fatalf("mkdir: %v\n%s", err, out)
	}
	return c
}

// New initdbs a cluster in a temporary directory (trust auth, superuser
// postgres, 127.0.0.1 on a free port, ready to be replicated) and starts
// it; it is stopped and removed when the test ends. It skips the test when
// PostgreSQL's server binaries are not installed (fails it under CI=true).
func New(t testing.TB) *Cluster {
	t.Helper()
	c := prepare(t)
	if out, err := c.run("initdb", "-D", c.DataDir(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// fsync off is safe here: the test stops PostgreSQL, never the machine, so
	// what was written to the kernel survives. synchronous_commit stays on: a
	// COMMIT is acknowledged only once its WAL is written. initdb's
	// pg_hba.conf lets local replication connections in (trust).
	c.appendConf("\n# tabula throwaway test cluster\nlisten_addresses = '127.0.0.1'\n" +
		"unix_socket_directories = '" + filepath.Join(c.dir, "sock") + "'\nfsync = off\nfull_page_writes = off\n" +
		"log_min_messages = warning\nwal_level = replica\nmax_wal_senders = 4\n")
	c.startOnFreePort()
	return c
}

// NewStandby makes a streaming hot standby of primary (pg_basebackup -R:
// it connects to the primary and replays its WAL as it comes) and starts
// it on a port of its own; it is stopped and removed when the test ends.
func NewStandby(t testing.TB, primary *Cluster) *Cluster {
	t.Helper()
	c := prepare(t, "pg_basebackup")
	if out, err := c.run("pg_basebackup", "-D", c.DataDir(), "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port),
		"-U", "postgres", "-X", "stream", "-R", "--no-sync", "-c", "fast"); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	c.appendConf("\n# standby\nunix_socket_directories = '" + filepath.Join(c.dir, "sock") + "'\nhot_standby = on\n" +
		"hot_standby_feedback = on\nwal_receiver_status_interval = 1s\n")
	c.startOnFreePort()
	return c
}

func (c *Cluster) appendConf(conf string) {
	c.t.Helper()
	if out, err := c.run("sh", "-c", "cat >> "+filepath.Join(c.DataDir(), "postgresql.conf")+" <<'EOF'\n"+conf+"EOF\n"); err != nil {
		c.t.Fatalf("writing postgresql.conf: %v\n%s", err, out)
	}
}

func (c *Cluster) startOnFreePort() {
	c.t.Helper()
	for try := 0; ; try++ {
		c.port = FreePort(c.t)
		err := c.startErr()
		if err == nil {
			return
		}
		if try == 4 {
			c.t.Fatalf("starting the throwaway cluster: %v\n%s", err, Tail(filepath.Join(c.dir, "postgres.log"), 20))
		}
	}
}

// FreePort returns a TCP port free on 127.0.0.1 (for now).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// DataDir is the cluster's data directory.
func (c *Cluster) DataDir() string { return filepath.Join(c.dir, "data") }

// URL is the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// run runs a command (a PostgreSQL binary by bare name) as the cluster's user.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	if p := filepath.Join(c.bin, name); !strings.Contains(name, "/") {
		if _, err := os.Stat(p); err == nil {
			name = p
		}
	}
	var cmd *exec.Cmd
	if c.runUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.runUser, "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func (c *Cluster) startErr() error {
	out, err := c.run("pg_ctl", "-D", c.DataDir(), "-l", filepath.Join(c.dir, "postgres.log"),
		"-w", "-t", "60", "-o", fmt.Sprintf("-p %d", c.port), "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	return nil
}

// Start starts the (stopped) cluster on its port.
func (c *Cluster) Start() {
	c.t.Helper()
	if err := c.startErr(); err != nil {
		c.t.Fatalf("%v\n%s", err, Tail(filepath.Join(c.dir, "postgres.log"), 20))
	}
}

// Stop stops the cluster: mode "immediate" is an abrupt stop (every backend
// killed, crash recovery on the next start), "fast" a clean one.
func (c *Cluster) Stop(mode string) {
	if _, err := os.Stat(filepath.Join(c.DataDir(), "postmaster.pid")); err != nil {
		return
	}
	start := time.Now()
	if out, err := c.run("pg_ctl", "-D", c.DataDir(), "-m", mode, "-w", "-t", "30", "stop"); err != nil {
		c.t.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	c.t.Logf("pg_ctl stop -m %s took %s", mode, time.Since(start).Round(time.Millisecond))
}

// Exec runs one statement on the cluster's postgres database.
func (c *Cluster) Exec(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// QueryString runs a query returning one text value on the cluster's
// postgres database.
func (c *Cluster) QueryString(ctx context.Context, sql string, args ...any) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	err = conn.QueryRow(ctx, sql, args...).Scan(&v)
	return v, err
}

// Tail returns the last n lines of the file at path (or why it cannot).
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
