package chaos

import (
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
)

// pgCluster is a throwaway PostgreSQL cluster of one test's own, which the
// test may stop and start at will. The shared test server is never touched.
type pgCluster struct {
	t       *testing.T
	bin     string // directory of initdb, pg_ctl, postgres
	dir     string // owns data/, sock/, postgres.log
	port    int
	runUser string // set when the cluster runs as another user (we are root)
}

// findPGBin returns the directory of initdb: PATH first, then the newest
// /usr/lib/postgresql/*/bin, as scripts/test.sh looks.
func findPGBin() (string, bool) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), true
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range append(dirs, "/usr/local/pgsql/bin") {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, true
		}
	}
	return "", false
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// newPGCluster initdbs a cluster in a temporary directory (trust auth,
// superuser postgres, 127.0.0.1 on a free port) and starts it; it is stopped
// and removed when the test ends. It skips the test when PostgreSQL's server
// binaries are not installed.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bin, ok := findPGBin()
	if !ok {
		t.Skip("initdb/pg_ctl not found (PATH, /usr/lib/postgresql/*/bin): install the PostgreSQL server to run the database outage test")
	}
	for _, b := range []string{"pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Skipf("found initdb in %s but no %s beside it", bin, b)
		}
	}
	c := &pgCluster{t: t, bin: bin}
	parent := "" // os.TempDir()
	var uid, gid int
	if os.Getuid() == 0 {
		// initdb refuses root: run the cluster as postgres, in /tmp (a
		// TMPDIR under /root would be out of its reach).
		c.runUser = "postgres"
		u, err := user.Lookup(c.runUser)
		if err != nil {
			t.Skipf("running as root and there is no user %q to run PostgreSQL as", c.runUser)
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			t.Skip("running as root and there is no runuser to run PostgreSQL as another user")
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "tabula-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		c.stop("immediate")
		os.RemoveAll(dir)
	})
	if c.runUser != "" {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if out, err := c.run("mkdir", "-m", "700", filepath.Join(dir, "sock")); err != nil {
		t.Fatalf("mkdir: %v\n%s", err, out)
	}
	// fsync off is safe here: the test stops PostgreSQL, never the machine, so
	// what was written to the kernel survives. synchronous_commit stays on: a
	// COMMIT is acknowledged only once its WAL is written.
	conf := fmt.Sprintf("\n# tabula chaos test cluster\nlisten_addresses = '127.0.0.1'\n"+
		"unix_socket_directories = '%s'\nfsync = off\nfull_page_writes = off\nlog_min_messages = warning\n",
		filepath.Join(dir, "sock"))
	if out, err := c.run("sh", "-c", "cat >> "+filepath.Join(c.data(), "postgresql.conf")+" <<'EOF'\n"+conf+"EOF\n"); err != nil {
		t.Fatalf("writing postgresql.conf: %v\n%s", err, out)
	}
	for try := 0; ; try++ {
		c.port = freePort(t)
		err := c.startErr()
		if err == nil {
			break
		}
		if try == 4 {
			t.Fatalf("starting the throwaway cluster: %v\n%s", err, tail(filepath.Join(dir, "postgres.log"), 20))
		}
	}
	return c
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// URL is the cluster's postgres database.
func (c *pgCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// run runs a command (a PostgreSQL binary by bare name) as the cluster's user.
func (c *pgCluster) run(name string, args ...string) ([]byte, error) {
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

func (c *pgCluster) startErr() error {
	out, err := c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "postgres.log"),
		"-w", "-t", "60", "-o", fmt.Sprintf("-p %d", c.port), "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	return nil
}

// start starts the (stopped) cluster on its port.
func (c *pgCluster) start() {
	c.t.Helper()
	if err := c.startErr(); err != nil {
		c.t.Fatalf("%v\n%s", err, tail(filepath.Join(c.dir, "postgres.log"), 20))
	}
}

// stop stops the cluster: mode "immediate" is an abrupt stop (every backend
// killed, crash recovery on the next start).
func (c *pgCluster) stop(mode string) {
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err != nil {
		return
	}
	start := time.Now()
	if out, err := c.run("pg_ctl", "-D", c.data(), "-m", mode, "-w", "-t", "30", "stop"); err != nil {
		c.t.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	c.t.Logf("pg_ctl stop -m %s took %s", mode, time.Since(start).Round(time.Millisecond))
}
