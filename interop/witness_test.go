package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/witness/policy"
)

// TestTesseraSubmitsToTabulaWitness runs a Tessera log (v1.0.4, POSIX
// storage, in this process) whose witness policy names a `tabula witness`
// process, on each engine. Tessera's own witness client submits every
// checkpoint it publishes (c2sp.org/tlog-witness add-checkpoint) and
// checks the cosignature it gets back with transparency-dev/formats before
// it publishes the checkpoint with it.
//
//  1. Entries are added: the published checkpoint must meet the policy
//     (Tabula's witness/policy) and carry a cosignature that formats'
//     cosignature/v1 verifier accepts, and the witness's monitoring door
//     must serve the checkpoint of that size.
//  2. The witness is stopped and more entries are added: Tessera, failing
//     open, publishes them without a cosignature.
//  3. The witness is started again on its state, and one more entry is
//     added. Tessera's first request says the old size is the one it
//     published in step 2; the witness must answer 409 with the size it
//     stored in step 1, and cosign the new checkpoint when Tessera comes
//     back with that size and a consistency proof from it.
func TestTesseraSubmitsToTabulaWitness(t *testing.T) {
	// Tessera logs with klog: kept, and shown if the test fails.
	var tesseraLog syncBuffer
	klog.LogToStderr(false)
	klog.SetOutput(&tesseraLog)
	t.Cleanup(func() {
		klog.LogToStderr(true)
		if t.Failed() {
			t.Logf("Tessera's log:\n%s", tesseraLog.String())
		}
	})
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()

			origin := "tessera.interop.invalid/" + engine
			logSKey, logVKey, err := note.GenerateKey(rand.Reader, origin)
			if err != nil {
				t.Fatal(err)
			}
			logSigner, err := note.NewSigner(logSKey)
			if err != nil {
				t.Fatal(err)
			}
			logVerifier, err := note.NewVerifier(logVKey)
			if err != nil {
				t.Fatal(err)
			}

			const witnessName = "tabula-witness.interop.invalid"
			w := newTabulaWitness(t, engine, witnessName,
				fmt.Appendf(nil, "logs/v0\nvkey %s\norigin %s\n", logVKey, origin))
			vkey := w.vkey(t)
			// The vkey the command prints, as Tabula and as
			// transparency-dev/formats compute it from the public key.
			if want := checkpoint.CosignatureVKey(witnessName, w.pub); vkey != want {
				t.Errorf("tabula witness vkey printed %q, want %q", vkey, want)
			}
			ed25519VKey, err := note.NewEd25519VerifierKey(witnessName, w.pub)
			if err != nil {
				t.Fatal(err)
			}
			if want, err := fnote.VKeyToCosignatureV1(ed25519VKey); err != nil || vkey != want {
				t.Errorf("tabula witness vkey printed %q, transparency-dev/formats computes %q (%v)", vkey, want, err)
			}
			cosigVerifier, err := fnote.NewVerifierForCosignatureV1(vkey)
			if err != nil {
				t.Fatalf("transparency-dev/formats cannot read the vkey %q: %v", vkey, err)
			}

			policyText := fmt.Sprintf("log %s\nwitness tabula %s %s\nquorum tabula\n", logVKey, vkey, w.URL())
			group, err := tessera.NewWitnessGroupFromPolicy([]byte(policyText))
			if err != nil {
				t.Fatalf("Tessera cannot read the policy: %v\n%s", err, policyText)
			}
			pol, err := policy.Parse([]byte(policyText))
			if err != nil {
				t.Fatal(err)
			}

			driver, err := posix.New(ctx, posix.Config{Path: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			opts := tessera.NewAppendOptions().
				WithCheckpointSigner(logSigner).
				WithBatching(1, 10*time.Millisecond).
				WithCheckpointInterval(100*time.Millisecond).
				// An unchanged checkpoint is submitted again every second,
				// so a cosignature that did not come in time comes later.
				WithCheckpointRepublishInterval(time.Second).
				// Step 2 needs checkpoints published while the witness is
				// down; steps 1 and 3 check the cosignatures themselves.
				WithWitnesses(group, &tessera.WitnessOptions{Timeout: 10 * time.Second, FailOpen: true})
			appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := shutdown(context.Background()); err != nil {
					t.Errorf("Tessera shutdown: %v", err)
				}
			}()
			awaiter := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, 20*time.Millisecond)
			add := func(data string) uint64 {
				t.Helper()
				idx, _, err := awaiter.Await(ctx, appender.Add(ctx, tessera.NewEntry([]byte(data))))
				if err != nil {
					t.Fatalf("Tessera: adding %q: %v", data, err)
				}
				return idx.Index
			}
			// cosigned waits (bounded) until Tessera publishes a checkpoint
			// of at least size that meets the policy, and checks it with
			// formats' verifiers too.
			cosigned := func(size uint64) []byte {
				t.Helper()
				var last []byte
				var lastErr error
				for range 600 {
					cp, err := reader.ReadCheckpoint(ctx)
					if err != nil {
						t.Fatal(err)
					}
					last = cp
					if _, lastErr = pol.Verify(cp); lastErr == nil && checkpointSize(t, cp) >= size {
						n, err := note.Open(cp, note.VerifierList(logVerifier, cosigVerifier))
						if err != nil || len(n.Sigs) != 2 {
							t.Fatalf("transparency-dev/formats: %v, %d verified signatures, want the log's and the witness's\n%s", err, len(n.Sigs), cp)
						}
						return cp
					}
					time.Sleep(100 * time.Millisecond)
				}
				t.Fatalf("no checkpoint of size ≥ %d published with the tabula witness's cosignature (last: %v)\n%s", size, lastErr, last)
				return nil
			}

			// 1. Witnessed from the first entry.
			for i := range 3 {
				add(fmt.Sprintf("entry %d", i))
			}
			cp := cosigned(3)
			size1 := checkpointSize(t, cp)
			door := w.door(t, origin)
			if got := checkpointSize(t, door); got != size1 {
				t.Errorf("the witness's monitoring door serves size %d, want %d (the size it cosigned last)", got, size1)
			}
			if _, err := pol.Verify(door); err != nil {
				t.Errorf("the monitoring door's checkpoint does not meet the policy: %v\n%s", err, door)
			}

			// 2. The witness is down: Tessera fails open.
			w.stop(t)
			var last uint64
			for i := range 3 {
				last = add(fmt.Sprintf("entry while the witness is down %d", i))
			}
			cp, err = reader.ReadCheckpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if size := checkpointSize(t, cp); size != last+1 {
				t.Fatalf("published size %d after entry %d", size, last)
			}
			if _, err := pol.Verify(cp); !errors.Is(err, policy.ErrNoQuorum) {
				t.Fatalf("checkpoint published while the witness was down: policy says %v, want %v\n%s", err, policy.ErrNoQuorum, cp)
			}

			// 3. The witness is back: 409, then a consistency proof.
			w.start(t)
			last = add("entry after the witness came back")
			cp = cosigned(last + 1)
			door = w.door(t, origin)
			if got := checkpointSize(t, door); got < last+1 {
				t.Errorf("the witness's monitoring door serves size %d, want ≥ %d", got, last+1)
			}
			t.Logf("Tessera's checkpoint, cosigned by tabula witness after it caught up from size %d:\n%s", size1, cp)
		})
	}
}

// TestTabulaLogSubmitsToLitewitness runs a Tabula Rekor v2 log (Ed25519,
// the key type litewitness takes) on each engine with `serve
// --witness-policy` naming one litewitness (filippo.io/torchwood) whose
// key is in an ssh-agent and whose database lists the log (witnessctl).
//
//  1. Two entries are written with sigstore-go: GET /api/v2/checkpoint
//     must come to serve a checkpoint of size 2 that meets the policy
//     (Tabula's witness/policy) with litewitness' cosignature, which
//     transparency-dev/formats' verifier, with the vkey litewitness prints,
//     accepts; litewitness must have stored size 2 and that root.
//  2. Three more: the same at size 5, which litewitness only cosigns after
//     checking Tabula's consistency proof from size 2.
//  3. litewitness restarts on a new database that knows the log at size 0,
//     and one more entry is written: Tabula's first request says old size
//     5, litewitness answers 409 with size 0, and Tabula must come back
//     with old size 0 to get the checkpoint of size 6 cosigned.
func TestTabulaLogSubmitsToLitewitness(t *testing.T) {
	litewitnessCLI.path(t) // built before the subtests run in parallel
	witnessctlCLI.path(t)
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			origin := "log2026-witnessed-" + engine + ".interop.invalid"
			logKey := newEd25519(t)
			logKeyFile := writeEd25519PEM(t, dir, "log-key-v2.pem", logKey)
			logVKey, err := note.NewEd25519VerifierKey(origin, logKey.Public().(ed25519.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			logVerifier, err := note.NewVerifier(logVKey)
			if err != nil {
				t.Fatal(err)
			}

			lw := newLitewitness(t, "litewitness.interop.invalid")
			lw.addLog(t, origin, logVKey)
			lw.start(t)
			if want := checkpoint.CosignatureVKey(lw.name, lw.pub); lw.vkey != want {
				t.Errorf("litewitness prints the vkey %q, Tabula computes %q", lw.vkey, want)
			}
			cosigVerifier, err := fnote.NewVerifierForCosignatureV1(lw.vkey)
			if err != nil {
				t.Fatalf("transparency-dev/formats cannot read litewitness' vkey %q: %v", lw.vkey, err)
			}
			policyText := fmt.Sprintf("log %s\nwitness lw %s %s\nquorum lw\n", logVKey, checkpoint.CosignatureVKey(lw.name, lw.pub), lw.URL())
			pol, err := policy.Parse([]byte(policyText))
			if err != nil {
				t.Fatal(err)
			}
			policyFile := writeFile(t, dir, "witness-policy.txt", []byte(policyText))

			s := startServerWith(t, engine, serverOptions{V2Key: logKeyFile, Args: []string{"--witness-policy", policyFile}})
			ca := newTestCA(t)
			st := newV2Setup(t, s, origin, ca)
			n := 0
			write := func(k int) {
				t.Helper()
				for range k {
					st.sign(t, v2Case{name: "message/key"}, ca, fmt.Appendf(nil, "witnessed artifact %d", n))
					n++
				}
			}
			check := func(db string) {
				t.Helper()
				cp := s.waitCosigned(t, pol, uint64(n))
				if got := checkpointSize(t, cp); got != uint64(n) {
					t.Fatalf("cosigned checkpoint of size %d, the log has %d entries", got, n)
				}
				if nt, err := note.Open(cp, note.VerifierList(logVerifier, cosigVerifier)); err != nil || len(nt.Sigs) != 2 {
					t.Fatalf("transparency-dev/formats: %v, want the log's and litewitness' signatures\n%s", err, cp)
				}
				size, root := lw.tree(t, db, origin)
				if size != uint64(n) || root != checkpointRoot(t, cp) {
					t.Errorf("litewitness stored size %d root %s, want the cosigned %d %s", size, root, n, checkpointRoot(t, cp))
				}
			}

			// 1. The first checkpoints.
			write(2)
			check(lw.db)
			// 2. A consistency proof from size 2.
			write(3)
			check(lw.db)
			// 3. A witness that lost its state: 409 with size 0.
			lw.stop(t)
			lw.db = filepath.Join(lw.dir, "litewitness-2.db")
			lw.addLog(t, origin, logVKey)
			lw.start(t)
			write(1)
			check(lw.db)
		})
	}
}

// waitCosigned waits (bounded) until GET /api/v2/checkpoint serves a
// checkpoint of at least size that meets pol, and returns it.
func (s *server) waitCosigned(t *testing.T, pol *policy.Policy, size uint64) []byte {
	t.Helper()
	var last []byte
	var lastErr error
	for range 900 {
		resp, err := http.Get(s.URL + "/api/v2/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		last = body
		switch {
		case resp.StatusCode != http.StatusOK:
			lastErr = fmt.Errorf("status %d", resp.StatusCode)
		default:
			if _, lastErr = pol.Verify(body); lastErr == nil && checkpointSize(t, body) >= size {
				return body
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET /api/v2/checkpoint: no checkpoint of size ≥ %d meeting the policy (last: %v)\n%s", size, lastErr, last)
	return nil
}

// checkpointSize is the tree size of a signed checkpoint note.
func checkpointSize(t *testing.T, signed []byte) uint64 {
	t.Helper()
	lines := strings.SplitN(string(signed), "\n", 3)
	var size uint64
	if len(lines) < 3 {
		t.Fatalf("not a checkpoint: %q", signed)
	}
	if _, err := fmt.Sscanf(lines[1], "%d", &size); err != nil {
		t.Fatalf("checkpoint size line %q: %v", lines[1], err)
	}
	return size
}

// checkpointRoot is the base64 root hash of a signed checkpoint note.
func checkpointRoot(t *testing.T, signed []byte) string {
	t.Helper()
	lines := strings.SplitN(string(signed), "\n", 4)
	if len(lines) < 4 {
		t.Fatalf("not a checkpoint: %q", signed)
	}
	return lines[2]
}

// tabulaWitness is a `tabula witness` process, stopped and started by the
// test, on one engine with its state kept across restarts.
type tabulaWitness struct {
	name, addr, keyFile string
	pub                 ed25519.PublicKey
	args                []string
	p                   *proc
}

// newTabulaWitness starts `tabula witness` named name on a free loopback
// port with a new Ed25519 key, the log list logs and a fresh data
// directory (sqlite) or database (postgres).
func newTabulaWitness(t *testing.T, engine, name string, logs []byte) *tabulaWitness {
	t.Helper()
	dir := t.TempDir()
	key := newEd25519(t)
	w := &tabulaWitness{
		name:    name,
		addr:    freeAddr(t),
		keyFile: writeEd25519PEM(t, dir, "witness-key.pem", key),
		pub:     key.Public().(ed25519.PublicKey),
	}
	w.args = []string{"witness", "--listen", w.addr, "--key", w.keyFile, "--name", name,
		"--logs", writeFile(t, dir, "logs.txt", logs)}
	if witnessHasFlag(t, "metrics-listen") {
		w.args = append(w.args, "--metrics-listen", "")
	}
	if engine == "postgres" {
		w.args = append(w.args, "--database-url", newDatabase(t))
	} else {
		w.args = append(w.args, "--data-dir", filepath.Join(dir, "data"))
	}
	w.start(t)
	return w
}

// URL is the witness's URL prefix (add-checkpoint is below it).
func (w *tabulaWitness) URL() string { return "http://" + w.addr }

func (w *tabulaWitness) start(t *testing.T) {
	t.Helper()
	w.p = startProc(t, "tabula witness", syscall.SIGTERM, tabulaBin, w.args...)
	// Any answer will do: the door of a log it never saw is 404.
	w.p.waitHTTP(t, w.URL()+"/"+strings.Repeat("0", 64)+"/checkpoint")
}

// stop stops the witness, which must exit cleanly.
func (w *tabulaWitness) stop(t *testing.T) {
	t.Helper()
	if err := w.p.stop(); err != nil {
		t.Errorf("tabula witness exited with %v", err)
	}
}

// vkey is what `tabula witness vkey` prints for the witness's key and name.
func (w *tabulaWitness) vkey(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(string(tabula(t, "witness", "vkey", "--key", w.keyFile, "--name", w.name)))
}

// door GETs the witness's monitoring door for origin: the newest checkpoint
// it cosigned, with its cosignature.
func (w *tabulaWitness) door(t *testing.T, origin string) []byte {
	t.Helper()
	h := sha256.Sum256([]byte(origin))
	u := w.URL() + "/" + hex.EncodeToString(h[:]) + "/checkpoint"
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", u, resp.StatusCode, err, body)
	}
	return body
}

var witnessHelp struct {
	once sync.Once
	out  []byte
}

// witnessHasFlag reports whether `tabula witness` has the flag --name.
func witnessHasFlag(t *testing.T, name string) bool {
	t.Helper()
	witnessHelp.once.Do(func() {
		cmd := exec.Command(tabulaBin, "witness", "--help")
		cmd.Env = cleanEnv()
		witnessHelp.out, _ = cmd.CombinedOutput() // --help may exit non-zero
	})
	return bytes.Contains(witnessHelp.out, []byte("-"+name+" "))
}

// litewitness is a litewitness (filippo.io/torchwood) process with its key
// in an ssh-agent of its own and its SQLite database in dir.
type litewitness struct {
	name, addr, dir, db, sock, fingerprint string
	pub                                    ed25519.PublicKey
	vkey                                   string // as litewitness prints it
	p                                      *proc
}

// newLitewitness makes the key and the ssh-agent of a litewitness named
// name on a free loopback port; start runs it.
func newLitewitness(t *testing.T, name string) *litewitness {
	t.Helper()
	// Short: a Unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "tabula-lw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	key := newEd25519(t)
	pub := key.Public().(ed25519.PublicKey)
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	lw := &litewitness{
		name:        name,
		addr:        freeAddr(t),
		dir:         dir,
		db:          filepath.Join(dir, "litewitness.db"),
		sock:        filepath.Join(dir, "agent.sock"),
		fingerprint: ssh.FingerprintSHA256(sshPub),
		pub:         pub,
	}
	startSSHAgent(t, lw.sock, key)
	return lw
}

// URL is the witness's URL prefix (add-checkpoint is below it).
func (lw *litewitness) URL() string { return "http://" + lw.addr }

var litewitnessVKey = regexp.MustCompile(`msg="verifier key" vkey=(\S+)`)

func (lw *litewitness) start(t *testing.T) {
	t.Helper()
	lw.p = startProc(t, "litewitness", os.Interrupt, litewitnessCLI.path(t),
		"-name", lw.name, "-db", lw.db, "-ssh-agent", lw.sock, "-key", lw.fingerprint, "-listen", lw.addr)
	lw.p.waitHTTP(t, lw.URL()+"/")
	m := litewitnessVKey.FindStringSubmatch(lw.p.log())
	if m == nil {
		t.Fatalf("litewitness printed no verifier key:\n%s", lw.p.log())
	}
	lw.vkey = m[1]
}

func (lw *litewitness) stop(t *testing.T) {
	t.Helper()
	if err := lw.p.stop(); err != nil {
		t.Errorf("litewitness exited with %v", err)
	}
}

// addLog adds the log origin with its key to the witness's database, as
// its operator does with witnessctl.
func (lw *litewitness) addLog(t *testing.T, origin, vkey string) {
	t.Helper()
	witnessctlCLI.mustRun(t, lw.dir, "add-log", "-db", lw.db, "-origin", origin)
	witnessctlCLI.mustRun(t, lw.dir, "add-key", "-db", lw.db, "-origin", origin, "-key", vkey)
}

// tree is the size and base64 root hash db stores for origin (witnessctl
// list-logs).
func (lw *litewitness) tree(t *testing.T, db, origin string) (uint64, string) {
	t.Helper()
	out := witnessctlCLI.mustRun(t, lw.dir, "list-logs", "-db", db)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l struct {
			Origin   string `json:"origin"`
			Size     uint64 `json:"size"`
			RootHash string `json:"root_hash"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("witnessctl list-logs: %v\n%s", err, out)
		}
		if l.Origin == origin {
			return l.Size, l.RootHash
		}
	}
	t.Fatalf("witnessctl list-logs does not list %s:\n%s", origin, out)
	return 0, ""
}

// startSSHAgent serves key on the Unix socket sock until the test ends:
// the system's ssh-agent loaded with ssh-add, as litewitness' README says,
// or, where there is none, x/crypto/ssh/agent's keyring.
func startSSHAgent(t *testing.T, sock string, key ed25519.PrivateKey) {
	t.Helper()
	agentBin, err1 := exec.LookPath("ssh-agent")
	addBin, err2 := exec.LookPath("ssh-add")
	if err1 != nil || err2 != nil {
		t.Logf("no ssh-agent or ssh-add (%v, %v): serving the key with golang.org/x/crypto/ssh/agent", err1, err2)
		keyring := agent.NewKeyring()
		if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = agent.ServeAgent(keyring, c)
				}()
			}
		}()
		return
	}
	p := startProc(t, "ssh-agent", syscall.SIGTERM, agentBin, "-D", "-a", sock)
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if p.exited() || i == 600 {
			t.Fatalf("ssh-agent -D -a %s: no socket\n%s", sock, p.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	block, err := ssh.MarshalPrivateKey(key, "litewitness")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(filepath.Dir(sock), "litewitness-key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(addBin, keyFile)
	cmd.Env = append(cleanEnv(), "SSH_AUTH_SOCK="+sock)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// proc is a server process of a test: its output is kept, and it is
// stopped when the test ends (and shown if the test failed).
type proc struct {
	name string
	sig  os.Signal // what stops it
	cmd  *exec.Cmd
	done chan struct{}
	err  error // of Wait, once done
	out  syncBuffer
}

func (p *proc) log() string { return p.out.String() }

// startProc starts bin with args, stopped by sig at the end of the test.
func startProc(t *testing.T, name string, sig os.Signal, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, sig: sig, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.stop()
		if t.Failed() {
			t.Logf("%s %s output:\n%s", name, strings.Join(args, " "), p.log())
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop signals the process and waits (at most 30s, then kills it); it
// returns how it exited, nil if it was already stopped by stop.
func (p *proc) stop() error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(p.sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30s", p.name)
	}
}

// waitHTTP waits (bounded) until the process answers a GET of u.
func (p *proc) waitHTTP(t *testing.T, u string) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return
		}
		if p.exited() {
			t.Fatalf("%s exited before serving (%v):\n%s", p.name, p.err, p.log())
		}
		if i == 600 {
			t.Fatalf("%s does not answer at %s: %v", p.name, u, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr is a loopback address with a port free now, for a server that
// must keep its address across restarts (a witness policy names it).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeEd25519PEM writes key as a PKCS #8 PEM file (0600) in dir.
func writeEd25519PEM(t *testing.T, dir, name string, key ed25519.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
