// Package witnesstest makes witness cosignatures, policies and fake
// witness monitoring doors for tests of the verifiers (tabula verify,
// tabula monitor). It signs real cosignature/v1 cosignatures.
package witnesstest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/witness/policy"
)

// Witness is a test witness: its cosigner and its monitoring door.
type Witness struct {
	Signer *checkpoint.CosignatureSigner
	VKey   string

	mu    sync.Mutex
	notes map[string][]byte // by origin
	down  bool
}

// New returns witness i (key name witness<i>.test), whose cosignatures
// carry the time now().
func New(t testing.TB, i int, now func() time.Time) *Witness {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
	name := fmt.Sprintf("witness%d.test", i)
	s, err := checkpoint.NewCosignatureSigner(name, key, now)
	if err != nil {
		t.Fatal(err)
	}
	return &Witness{Signer: s, VKey: checkpoint.CosignatureVKey(name, key.Public().(ed25519.PublicKey)), notes: map[string][]byte{}}
}

// Cosign returns the signed note b with the cosignature lines of ws
// appended.
func Cosign(t testing.TB, b []byte, ws ...*Witness) []byte {
	t.Helper()
	i := bytes.Index(b, []byte("\n\n"))
	if i < 0 {
		t.Fatalf("not a signed note: %q", b)
	}
	text := b[:i+1]
	out := append([]byte(nil), b...)
	for _, w := range ws {
		sig, err := w.Signer.Sign(text)
		if err != nil {
			t.Fatal(err)
		}
		var hint [4]byte
		binary.BigEndian.PutUint32(hint[:], w.Signer.KeyHash())
		out = fmt.Appendf(out, "— %s %s\n", w.Signer.Name(), base64.StdEncoding.EncodeToString(append(hint[:], sig...)))
	}
	return out
}

// Policy returns a policy of ws with a quorum of k of them; urls, if given,
// are the witnesses' URLs.
func Policy(t testing.TB, k int, ws []*Witness, urls ...string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(PolicyText(k, ws, urls...)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// PolicyText is the text of the policy [Policy] returns.
func PolicyText(k int, ws []*Witness, urls ...string) string {
	var b strings.Builder
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = fmt.Sprintf("w%d", i)
		fmt.Fprintf(&b, "witness %s %s", names[i], w.VKey)
		if i < len(urls) {
			fmt.Fprintf(&b, " %s", urls[i])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "group g %d %s\nquorum g\n", k, strings.Join(names, " "))
	return b.String()
}

// Witness cosigns b, a checkpoint of origin, and serves the result at its
// monitoring door from now on.
func (w *Witness) Witness(t testing.TB, origin string, b []byte) []byte {
	t.Helper()
	c := Cosign(t, b, w)
	w.mu.Lock()
	w.notes[origin] = c
	w.mu.Unlock()
	return c
}

// Serve makes the door serve b for origin as is.
func (w *Witness) Serve(origin string, b []byte) {
	w.mu.Lock()
	w.notes[origin] = b
	w.mu.Unlock()
}

// SetDown makes the door answer 503.
func (w *Witness) SetDown(down bool) {
	w.mu.Lock()
	w.down = down
	w.mu.Unlock()
}

// Handler serves the monitoring door: GET /<hex sha256(origin)>/checkpoint.
func (w *Witness) Handler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.down {
			http.Error(rw, "down", http.StatusServiceUnavailable)
			return
		}
		for origin, b := range w.notes {
			h := sha256.Sum256([]byte(origin))
			if r.Method == http.MethodGet && r.URL.Path == "/"+hex.EncodeToString(h[:])+"/checkpoint" {
				rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = rw.Write(b)
				return
			}
		}
		http.NotFound(rw, r)
	})
}
