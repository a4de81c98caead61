// Package fakewitness is a small c2sp.org/tlog-witness witness for tests
// of the log side (package witness/submit, the API): logs known by their
// keys, state in memory by origin, the spec's 400, 403, 404, 409 and 422
// rules, cosignatures by checkpoint.CosignatureSigner. It is not `tabula
// witness` (package witness), so that the log side is tested apart from it.
package fakewitness

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/witness"
)

// Witness is a test witness of one log, served over HTTP.
type Witness struct {
	Name   string // the policy's name for it
	URL    string // its submission prefix
	Signer *checkpoint.CosignatureSigner
	logVs  note.Verifiers

	mu        sync.Mutex
	state     map[string]tree // by origin
	down      bool
	requests  int
	conflicts int
	cosigned  int
}

// tree is what the witness holds of a log.
type tree struct {
	size uint64
	root []byte
}

// New starts a witness named name (its key name too) of the logs whose
// signatures logVs verify (any origin), closed when the test ends.
func New(t testing.TB, name string, logVs ...note.Verifier) *Witness {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := checkpoint.NewCosignatureSigner(name, key, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	w := &Witness{Name: name, Signer: s, logVs: note.VerifierList(logVs...), state: map[string]tree{}}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// PolicyLine is the witness's line in a policy: "witness <name> <vkey> <url>".
func (w *Witness) PolicyLine() string {
	return fmt.Sprintf("witness %s %s %s\n", w.Name, checkpoint.CosignatureVKey(w.Name, w.Signer.Verifier().Public()), w.URL)
}

// SetDown makes the witness answer 503 (down) or serve again.
func (w *Witness) SetDown(down bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.down = down
}

// SetState sets the size and root the witness holds of origin (as if it
// had cosigned them before).
func (w *Witness) SetState(origin string, size uint64, root []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state[origin] = tree{size, bytes.Clone(root)}
}

// Stats returns the size the witness holds of origin and how many requests
// it got (of every log), answered 409, and cosigned.
func (w *Witness) Stats(origin string) (size uint64, requests, conflicts, cosigned int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state[origin].size, w.requests, w.conflicts, w.cosigned
}

func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests++
	switch {
	case w.down:
		http.Error(rw, "down", http.StatusServiceUnavailable)
		return
	case r.URL.Path != "/add-checkpoint":
		http.NotFound(rw, r)
		return
	case r.Method != http.MethodPost:
		http.Error(rw, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	old, hashes, signed, err := witness.ParseAddCheckpoint(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := note.Open(signed, w.logVs)
	if err != nil {
		http.Error(rw, "no trusted signature: "+err.Error(), http.StatusForbidden)
		return
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		http.Error(rw, "malformed checkpoint", http.StatusBadRequest)
		return
	}
	st, ok := w.state[lines[0]]
	if !ok {
		st = tree{0, rfc6962.DefaultHasher.EmptyRoot()}
	}
	size, err1 := strconv.ParseUint(lines[1], 10, 64)
	root, err2 := base64.StdEncoding.DecodeString(lines[2])
	switch {
	case err1 != nil || err2 != nil || len(root) != 32:
		http.Error(rw, "malformed checkpoint", http.StatusBadRequest)
		return
	case old > size:
		http.Error(rw, "old size larger than the checkpoint's", http.StatusBadRequest)
		return
	case old != st.size:
		w.conflicts++
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", st.size)
		return
	case old == 0 && len(hashes) > 0:
		http.Error(rw, "a proof from size 0", http.StatusUnprocessableEntity)
		return
	case old == size && !bytes.Equal(root, st.root):
		http.Error(rw, "same size, another root", http.StatusUnprocessableEntity)
		return
	case old > 0 && old < size:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, hashes, st.root, root); err != nil {
			http.Error(rw, "bad proof: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
	}
	w.state[lines[0]] = tree{size, root}
	cosigned, err := note.Sign(&note.Note{Text: n.Text}, w.Signer)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	w.cosigned++
	_, sigs, _ := bytes.Cut(cosigned, []byte("\n\n"))
	rw.Write(sigs) //nolint:errcheck // the client's loss
}
