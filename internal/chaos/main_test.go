package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Knobs: the short defaults run inside `make test`; `make chaos` raises them.
const (
	envKills        = "TABULA_CHAOS_KILLS"         // SIGKILLs per engine (TestCrashRecovery)
	envOutage       = "TABULA_CHAOS_OUTAGE"        // how long PostgreSQL stays down (TestDatabaseOutage)
	envReplicaTime  = "TABULA_CHAOS_REPLICA_TIME"  // how long the replicas take writes (TestReplicas)
	envReplicas     = "TABULA_CHAOS_REPLICAS"      // how many replicas (TestReplicas)
	envReplicaKills = "TABULA_CHAOS_REPLICA_KILLS" // SIGKILLs of a random replica (TestReplicas)
	envWriters      = "TABULA_CHAOS_WRITERS"       // concurrent writer goroutines per test
)

// tabulaBin is the `tabula` binary built once by TestMain.
var tabulaBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tabula-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := buildTabula(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: building tabula:", err)
		return 1
	}
	tabulaBin = bin
	return m.Run()
}

// buildTabula builds cmd/tabula into dir, with the race detector when this
// test binary has it (the server's own data races then fail the tests, and
// the build shares the cache of the other packages' race builds).
func buildTabula(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
		if _, serr := os.Stat(goBin); serr != nil {
			return "", fmt.Errorf("no go command in PATH: %w", err)
		}
	}
	bin := filepath.Join(dir, "tabula")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/tabularium/tabula/cmd/tabula")
	cmd := exec.Command(goBin, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %v: %w", args, err)
	}
	return bin, nil
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 30s", name, v)
	}
	return d
}
