package chaos

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/pgcluster"
)

// server is one `tabula serve` process (or another long-running tabula
// command, see newWitness), restartable on the same data.
type server struct {
	t     *testing.T
	name  string
	sub   string   // the tabula command: "serve" or "witness"
	ready string   // the log message that says it serves, with its url
	args  []string // the command's flags, without --listen
	logs  string   // directory of the per-start log files
	// sticky keeps the first start's listen address for the restarts (a
	// witness's URL is in the policy).
	sticky bool
	listen string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	url    string
	starts int
	races  []string // log files that reported a data race
}

// newServer describes a server; start runs it. Its log files are kept in a
// temporary directory and their tails are printed if the test fails.
func newServer(t *testing.T, name string, args ...string) *server {
	return newProcess(t, name, "serve", "tabula serving", false, args...)
}

// newWitness describes a `tabula witness` process, restarted on the
// address of its first start.
func newWitness(t *testing.T, name string, args ...string) *server {
	return newProcess(t, name, "witness", "tabula witness serving", true, args...)
}

func newProcess(t *testing.T, name, sub, ready string, sticky bool, args ...string) *server {
	s := &server{t: t, name: name, sub: sub, ready: ready, sticky: sticky, args: args, logs: t.TempDir()}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			s.dumpLogs()
		}
	})
	return s
}

// start runs the server and waits until it serves, returning its base URL.
func (s *server) start() string {
	s.t.Helper()
	s.mu.Lock()
	s.starts++
	n := s.starts
	s.mu.Unlock()
	logPath := filepath.Join(s.logs, fmt.Sprintf("%s.%03d.log", s.name, n))
	logFile, err := os.Create(logPath)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	listen := s.listen
	s.mu.Unlock()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	args := append([]string{s.sub, "--listen", listen, "--metrics-listen", "", "--log-level", "info"}, s.args...)
	cmd := exec.Command(tabulaBin, args...)
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.name, err)
	}
	urlc := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer logFile.Close()
		s.scan(stderr, logFile, logPath, urlc)
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	select {
	case u := <-urlc:
		s.mu.Lock()
		s.url = u
		if s.sticky {
			s.listen = strings.TrimPrefix(u, "http://")
		}
		s.mu.Unlock()
		return u
	case <-exited:
		s.t.Fatalf("%s exited before serving (start %d): %s", s.name, n, pgcluster.Tail(logPath, 20))
	case <-time.After(60 * time.Second):
		s.kill()
		s.t.Fatalf("%s did not serve within 60 s (start %d): %s", s.name, n, pgcluster.Tail(logPath, 20))
	}
	return ""
}

// scan copies the server's stderr to its log file, reports the URL of the
// s.ready line ("tabula serving"), and notes data race reports.
func (s *server) scan(r io.Reader, w io.Writer, logPath string, urlc chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	raced := false
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = w.Write(append(line, '\n'))
		if strings.Contains(string(line), "WARNING: DATA RACE") && !raced {
			raced = true
			s.mu.Lock()
			s.races = append(s.races, logPath)
			s.mu.Unlock()
		}
		var rec struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == s.ready && rec.URL != "" {
			select {
			case urlc <- rec.URL:
			default:
			}
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Errorf("killing %s: %v", s.name, err)
	}
	<-exited
}

// raceReports lists the log files of starts that reported a data race.
func (s *server) raceReports() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.races...)
}

func (s *server) dumpLogs() {
	entries, _ := os.ReadDir(s.logs)
	for _, e := range entries {
		p := filepath.Join(s.logs, e.Name())
		if t := pgcluster.Tail(p, 15); t != "" {
			s.t.Logf("--- tail of %s:\n%s", e.Name(), t)
		}
	}
}

// keygen writes a log key with `tabula keygen` and returns the private key's
// path and the public key PEM.
func keygen(t *testing.T) (string, []byte) {
	t.Helper()
	priv := filepath.Join(t.TempDir(), "log-key.pem")
	if out, err := exec.Command(tabulaBin, "keygen", "--out", priv).CombinedOutput(); err != nil {
		t.Fatalf("tabula keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(strings.TrimSuffix(priv, ".pem") + ".pub.pem")
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// neverRestarted reports whether the server still runs its first start.
func (s *server) neverRestarted() bool {
	s.mu.Lock()
	cmd, exited, starts := s.cmd, s.exited, s.starts
	s.mu.Unlock()
	if cmd == nil || starts != 1 {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}
