package chaos

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/witness/policy"
)

// witnessBound is how long any one wait of TestWitnessed may take: a
// submission round is well under a second; the margin is for a loaded
// machine and the submitter's back-off after a witness was down.
const witnessBound = 30 * time.Second

// TestWitnessed runs `tabula serve` with a 2-of-2 witness policy over two
// `tabula witness` processes (w1, w2), on each engine: on SQLite every
// process has its own data directory, on PostgreSQL its own database.
// Both witnesses also follow a lying log (internal/lyinglog, in the test
// process) through their feeders.
//
// Checked, each wait bounded:
//  1. /checkpoint reaches the log's head with a checkpoint that meets the
//     policy, and a write asking Tabula-Witness-Wait gets Tabula-Witnessed:
//     true;
//  2. with w2 down, /latest-checkpoint grows while /checkpoint stays at the
//     last cosigned size (still meeting the policy), /readyz answers 200
//     and names w2 failing; w2 restarted on its data catches up;
//  3. w1 ahead of the stored cosigned checkpoint (w2 down, writes, serve
//     restarted): the new submitter learns w1's size through 409 (counted
//     in tabula_witness_submissions_total{outcome="conflict"}) and the head
//     gets cosigned by both;
//  4. the lying log, cosigned by both, forks: the witnesses keep their
//     checkpoints, refuse the forked ones posted directly (422: same size
//     and another root; a consistency proof that cannot verify), and
//     `tabula monitor --once --witness-policy` reports the split view and
//     the fork with evidence files.
func TestWitnessed(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			w := &witnessRun{t: t, engine: engine, client: &http.Client{Timeout: 15 * time.Second}}
			w.run()
		})
	}
}

type witnessRun struct {
	t      *testing.T
	engine string
	client *http.Client

	serveStore []string // serve's database flags
	serve      *server
	url        string // serve's current URL
	metrics    string // serve's metrics URL
	origin     string // serve's Rekor v1 log
	pol        *policy.Policy
	witnesses  [2]*server
	wurls      [2]string
	signer     *testentry.Signer
	writes     int
	figures    []string
	phase      time.Time
}

// store is the database flags of a new process of the run.
func (w *witnessRun) store() []string {
	if w.engine == "postgres" {
		return []string{"--database-url", pgtest.NewDatabase(w.t)}
	}
	return []string{"--data-dir", filepath.Join(w.t.TempDir(), "data")}
}

func (w *witnessRun) mark(name string) {
	now := time.Now()
	w.figures = append(w.figures, fmt.Sprintf("%s %s", name, now.Sub(w.phase).Round(time.Millisecond)))
	w.phase = now
}

func (w *witnessRun) run() {
	t := w.t
	w.phase = time.Now()
	start := w.phase
	var err error
	if w.signer, err = testentry.NewSigner(); err != nil {
		t.Fatal(err)
	}

	// The lying log, served in the test process.
	lpriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	liar, err := lyinglog.NewTree(lyinglog.TreeID, lpriv)
	if err != nil {
		t.Fatal(err)
	}
	if err := liar.Append(lyingEntries("honest", 5)...); err != nil {
		t.Fatal(err)
	}
	lsrv := httptest.NewServer(liar.Handler())
	t.Cleanup(lsrv.Close)
	liarVKey, err := checkpoint.VKey(lyinglog.Hostname, checkpoint.KeyIDRekorV1, lpriv.Public())
	if err != nil {
		t.Fatal(err)
	}

	// serve's first start creates its Rekor v1 log; `tabula log vkeys`
	// lists it for the witnesses.
	dir := t.TempDir()
	w.serveStore = w.store()
	if w.engine == "postgres" {
		w.serveStore = append(w.serveStore, "--data-dir", filepath.Join(dir, "serve-data"))
	}
	first := newServer(t, w.engine+"-serve-first", w.serveStore...)
	first.start()
	first.kill()
	out, err := exec.Command(tabulaBin, append([]string{"log", "vkeys"}, w.serveStore...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tabula log vkeys: %v\n%s", err, out)
	}
	logList := string(out)
	m := regexp.MustCompile(`(?m)^vkey (\S+)\norigin (.+)$`).FindStringSubmatch(logList)
	if m == nil {
		t.Fatalf("tabula log vkeys printed no log:\n%s", out)
	}
	logVKey := m[1]
	w.origin = m[2]
	logList += fmt.Sprintf("vkey %s\norigin %s\nfeed tiles %s\n", liarVKey, liar.Origin(), lsrv.URL)
	listPath := filepath.Join(dir, "logs.txt")
	writeFile(t, listPath, logList)

	// Two witnesses, their vkeys, the 2-of-2 policies.
	var wvkeys [2]string
	for i := range w.witnesses {
		name := fmt.Sprintf("w%d", i+1)
		key := filepath.Join(dir, name+"-key.pem")
		args := append([]string{"--name", name, "--key", key, "--logs", listPath, "--feed-interval", "200ms"}, w.store()...)
		w.witnesses[i] = newWitness(t, w.engine+"-"+name, args...)
		w.wurls[i] = w.witnesses[i].start()
		out, err := exec.Command(tabulaBin, "witness", "vkey", "--key", key, "--name", name).CombinedOutput()
		if err != nil {
			t.Fatalf("tabula witness vkey: %v\n%s", err, out)
		}
		wvkeys[i] = strings.TrimSpace(string(out))
	}
	witnessLines := fmt.Sprintf("witness w1 %s %s\nwitness w2 %s %s\ngroup g all w1 w2\nquorum g\n", wvkeys[0], w.wurls[0], wvkeys[1], w.wurls[1])
	polText := "log " + logVKey + "\n" + witnessLines
	if w.pol, err = policy.Parse([]byte(polText)); err != nil {
		t.Fatalf("the policy:\n%s\n%v", polText, err)
	}
	polPath := filepath.Join(dir, "policy.txt")
	writeFile(t, polPath, polText)
	liarPolPath := filepath.Join(dir, "liar-policy.txt")
	writeFile(t, liarPolPath, "log "+liarVKey+"\n"+witnessLines)

	w.metrics = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append([]string{"--witness-policy", polPath, "--witness-min-interval", "100ms", "--witness-timeout", "3s",
		"--metrics-listen", w.metrics}, w.serveStore...)
	w.serve = newServer(t, w.engine+"-serve", args...)
	w.url = w.serve.start()
	w.mark("setup")

	// 1. Cosigned at the head; a write that waits is witnessed.
	w.write(3)
	w.waitCosignedHead("the first writes")
	if h := w.writeWait(); h != "true" {
		t.Fatalf("a write with Tabula-Witness-Wait: 10 answered Tabula-Witnessed: %q, want true", h)
	}
	s1 := w.waitCosignedHead("the witnessed write")
	w.mark("cosigned")

	// 2. w2 down: the log goes on, /checkpoint stays cosigned.
	w.witnesses[1].kill()
	w.write(3)
	head := s1 + 3
	w.waitFor("/latest-checkpoint to reach the head with w2 down", func() (bool, string) {
		n := w.size(w.url + "/latest-checkpoint")
		return n == head, fmt.Sprintf("size %d, want %d", n, head)
	})
	w.waitFor("/readyz to name w2 failing", func() (bool, string) {
		code, body := w.get(w.url + "/readyz")
		return code == http.StatusOK && regexp.MustCompile(`(?m)^  witness w2: .*failing`).Match(body), fmt.Sprintf("%d %q", code, body)
	})
	if n := w.verifyCosigned(w.url + "/checkpoint"); n != s1 {
		t.Fatalf("with w2 down, /checkpoint is at size %d, want the last cosigned size %d", n, s1)
	}
	w.mark("w2-down")
	w.witnesses[1].start()
	w.waitCosignedHead("w2's restart")
	w.mark("w2-back")

	// 3. A stale size: w1 cosigns beyond the stored cosigned checkpoint;
	// serve's next submitter learns it through 409.
	s2 := head
	w.witnesses[1].kill()
	w.write(2)
	head = s2 + 2
	door := func(i int) string {
		sum := sha256.Sum256([]byte(w.origin))
		return w.wurls[i] + "/" + hex.EncodeToString(sum[:]) + "/checkpoint"
	}
	w.waitFor("w1 to cosign beyond the stored cosigned size", func() (bool, string) {
		n := w.size(door(0))
		return n == head, fmt.Sprintf("w1 at %d, want %d", n, head)
	})
	if n := w.verifyCosigned(w.url + "/checkpoint"); n != s2 {
		t.Fatalf("with w2 down, /checkpoint is at size %d, want %d", n, s2)
	}
	w.serve.kill()
	w.witnesses[1].start()
	w.url = w.serve.start()
	w.waitCosignedHead("serve's restart with w1 ahead")
	n409 := w.conflicts("w1")
	if n409 < 1 {
		t.Errorf("serve counted %v submissions to w1 answered 409, want at least 1 (w1 was at %d, the stored cosigned size %d)", n409, head, s2)
	}
	w.mark(fmt.Sprintf("stale-409 (%v conflicts from w1; serve's lease outlives its SIGKILL by up to 10 s)", n409))

	// 4. The lying log forks.
	lorigin := sha256.Sum256([]byte(liar.Origin()))
	ldoor := func(i int) string { return w.wurls[i] + "/" + hex.EncodeToString(lorigin[:]) + "/checkpoint" }
	var honest [2][]byte
	for i := range w.witnesses {
		w.waitFor(fmt.Sprintf("w%d to cosign the lying log through its feeder", i+1), func() (bool, string) {
			code, b := w.get(ldoor(i))
			honest[i] = b
			return code == http.StatusOK && noteSize(b) == 5, fmt.Sprintf("%d %q", code, b)
		})
	}
	if err := liar.Fork(3, lyingEntries("forked", 2)...); err != nil {
		t.Fatal(err)
	}
	forked, err := liar.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // five feed intervals: the feeders see the fork
	for i := range w.witnesses {
		if _, b := w.get(ldoor(i)); noteRoot(b) != noteRoot(honest[i]) || noteSize(b) != 5 {
			t.Errorf("w%d's checkpoint of the lying log changed after the fork:\n%s\nwas\n%s", i+1, b, honest[i])
		}
	}
	code, body := w.addCheckpoint(w.wurls[0], 5, nil, forked)
	if code != http.StatusUnprocessableEntity {
		t.Errorf("w1 answered the forked checkpoint of the same size %d %q, want 422", code, body)
	}
	w.monitor(lsrv.URL, liar.PublicKeyPEM(), liarPolPath, "split-view")
	if err := liar.Append(lyingEntries("forked more", 2)...); err != nil {
		t.Fatal(err)
	}
	grown, err := liar.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	proof, err := liar.ConsistencyProof(context.Background(), 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	var p [][]byte
	for _, h := range proof {
		p = append(p, h[:])
	}
	code, body = w.addCheckpoint(w.wurls[0], 5, p, grown)
	if code != http.StatusUnprocessableEntity {
		t.Errorf("w1 answered the grown forked checkpoint with the forked tree's proof %d %q, want 422", code, body)
	}
	w.monitor(lsrv.URL, liar.PublicKeyPEM(), liarPolPath, "inconsistent-checkpoint")
	for i := range w.witnesses {
		if _, b := w.get(ldoor(i)); noteRoot(b) != noteRoot(honest[i]) || noteSize(b) != 5 {
			t.Errorf("w%d's checkpoint of the lying log changed after the fork:\n%s\nwas\n%s", i+1, b, honest[i])
		}
	}
	w.mark("fork")

	for _, s := range append([]*server{w.serve, first}, w.witnesses[:]...) {
		if races := s.raceReports(); len(races) > 0 {
			t.Errorf("%s reported data races: see %v", s.name, races)
		}
	}
	t.Logf("FIGURES witnessed/%s: %d writes, head %d; phases: %s; total %s",
		w.engine, w.writes, head, strings.Join(w.figures, ", "), time.Since(start).Round(time.Millisecond))
}

func lyingEntries(tag string, n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, fmt.Appendf(nil, "lying log %s entry %d", tag, i))
	}
	return out
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after witnessBound
// with cond's last word.
func (w *witnessRun) waitFor(what string, cond func() (bool, string)) {
	w.t.Helper()
	deadline := time.Now().Add(witnessBound)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("waited %s for %s: %s", witnessBound, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *witnessRun) get(url string) (int, []byte) {
	resp, err := w.client.Get(url)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return resp.StatusCode, b
}

// size is the tree size of the checkpoint at url, 0 if none.
func (w *witnessRun) size(url string) uint64 {
	code, b := w.get(url)
	if code != http.StatusOK {
		return 0
	}
	return noteSize(b)
}

func noteSize(b []byte) uint64 {
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 3 {
		return 0
	}
	n, _ := strconv.ParseUint(lines[1], 10, 64)
	return n
}

func noteRoot(b []byte) string {
	lines := strings.SplitN(string(b), "\n", 4)
	if len(lines) < 4 {
		return ""
	}
	return lines[2]
}

// verifyCosigned checks that the checkpoint at url meets the policy and
// returns its size.
func (w *witnessRun) verifyCosigned(url string) uint64 {
	w.t.Helper()
	code, b := w.get(url)
	if code != http.StatusOK {
		w.t.Fatalf("GET %s: %d %q", url, code, b)
	}
	if _, err := w.pol.Verify(b); err != nil {
		w.t.Fatalf("GET %s does not meet the policy: %v\n%s", url, err, b)
	}
	return noteSize(b)
}

// waitCosignedHead waits until /checkpoint meets the policy at the head
// size of /latest-checkpoint, and returns that size.
func (w *witnessRun) waitCosignedHead(after string) uint64 {
	w.t.Helper()
	var head uint64
	w.waitFor("a cosigned checkpoint at the head after "+after, func() (bool, string) {
		head = w.size(w.url + "/latest-checkpoint")
		code, b := w.get(w.url + "/checkpoint")
		if code != http.StatusOK {
			return false, fmt.Sprintf("/checkpoint: %d %q", code, b)
		}
		if _, err := w.pol.Verify(b); err != nil {
			return false, fmt.Sprintf("/checkpoint: %v:\n%s", err, b)
		}
		n := noteSize(b)
		return head > 0 && n == head, fmt.Sprintf("cosigned at %d, head %d", n, head)
	})
	return head
}

// write uploads n entries, each acknowledged.
func (w *witnessRun) write(n int) {
	w.t.Helper()
	for range n {
		if code, b, _ := w.post(nil); code != http.StatusCreated {
			w.t.Fatalf("POST /api/v1/log/entries: %d %q", code, b)
		}
	}
}

// writeWait uploads an entry that waits for witnesses and returns its
// Tabula-Witnessed header.
func (w *witnessRun) writeWait() string {
	w.t.Helper()
	code, b, h := w.post(http.Header{"Tabula-Witness-Wait": {"10"}})
	if code != http.StatusCreated {
		w.t.Fatalf("POST /api/v1/log/entries waiting: %d %q", code, b)
	}
	return h.Get("Tabula-Witnessed")
}

func (w *witnessRun) post(h http.Header) (int, []byte, http.Header) {
	w.t.Helper()
	w.writes++
	body, err := w.signer.HashedRekord(fmt.Appendf(nil, "tabula witnessed %s %d %d", w.engine, time.Now().UnixNano(), w.writes))
	if err != nil {
		w.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, w.url+"/api/v1/log/entries", bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		w.t.Fatalf("POST /api/v1/log/entries: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// addCheckpoint posts a tlog-witness add-checkpoint request.
func (w *witnessRun) addCheckpoint(url string, old uint64, proof [][]byte, signed []byte) (int, []byte) {
	w.t.Helper()
	body := fmt.Appendf(nil, "old %d\n", old)
	for _, h := range proof {
		body = append(body, base64.StdEncoding.EncodeToString(h)+"\n"...)
	}
	body = append(append(body, '\n'), signed...)
	resp, err := w.client.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		w.t.Fatalf("POST %s/add-checkpoint: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// conflicts is serve's count of submissions to witness answered 409.
func (w *witnessRun) conflicts(witness string) float64 {
	w.t.Helper()
	code, b := w.get("http://" + w.metrics + "/metrics")
	if code != http.StatusOK {
		w.t.Fatalf("GET serve's /metrics: %d %q", code, b)
	}
	var sum float64
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "tabula_witness_submissions_total{") &&
			strings.Contains(line, `outcome="conflict"`) && strings.Contains(line, `witness="`+witness+`"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				w.t.Fatalf("metrics line %q: %v", line, err)
			}
			sum += v
		}
	}
	return sum
}

// monitor runs `tabula monitor --once` on the lying log with the policy and
// wants alert kind among its alerts, with evidence files written.
func (w *witnessRun) monitor(server string, pub []byte, pol, kind string) {
	w.t.Helper()
	dir := w.t.TempDir()
	key := filepath.Join(dir, "liar.pub.pem")
	writeFile(w.t, key, string(pub))
	state := filepath.Join(dir, "state")
	cmd := exec.Command(tabulaBin, "monitor", "--once", "--server", server, "--log-key", key, "--state-dir", state,
		"--witness-policy", pol, "--uncosigned-after", "0")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		w.t.Errorf("tabula monitor --once on the forked log: %v, want exit status 1 (an alert)\n%s", err, out)
	}
	if !strings.Contains(string(out), "kind="+kind) {
		w.t.Errorf("tabula monitor --once on the forked log reported no %s alert:\n%s", kind, out)
	}
	evidence, _ := filepath.Glob(filepath.Join(state, "monitor", "*", "evidence", "*.note"))
	if len(evidence) < 2 {
		w.t.Errorf("tabula monitor wrote %d evidence files, want both notes:\n%s", len(evidence), out)
	}
	w.t.Logf("monitor (%s): %d evidence files", kind, len(evidence))
}
