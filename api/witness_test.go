package api_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/fakewitness"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
	"github.com/tabularium/tabula/witness/policy"
	"github.com/tabularium/tabula/witness/submit"
)

// witnessed is a server whose Rekor v1 and v2 logs two test witnesses
// cosign under a 2-of-2 policy.
type witnessed struct {
	*server
	store    storage.LogSet
	v1, v2   *logset.Set
	v1Key    *signer.Local
	ws       []*fakewitness.Witness
	mgr      *submit.Manager
	v1V, v2V note.Verifier
	policy   *policy.Policy
	v1TreeID string
}

// logVerifier is the note verifier of the active log of set.
func logVerifier(t *testing.T, set *logset.Set) note.Verifier {
	t.Helper()
	sh, err := set.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(sh.Info.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p := sh.Log.Profile()
	v, err := checkpoint.NewVerifier(p.KeyName, p.KeyIDForm, pub)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newManager runs a witness manager over the sets, stopped when the test
// ends.
func newManager(t *testing.T, store storage.LogSet, p *policy.Policy, holder string, sets ...*logset.Set) *submit.Manager {
	t.Helper()
	m, err := submit.NewManager(submit.ManagerConfig{
		Policies: []*policy.Policy{p}, Sets: sets, Store: store, Refresh: 20 * time.Millisecond,
		Submitter: submit.Config{
			Holder: holder, MinInterval: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
			LeaseTTL: 300 * time.Millisecond, Poll: 20 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func newWitnessed(t *testing.T, e logsettest.Engine, edit func(*api.Config)) *witnessed {
	t.Helper()
	w := &witnessed{store: e.Open(t), v1Key: logsettest.Key(t)}
	w.v1 = logsettest.Open(t, w.store, w.v1Key)
	w.v2 = logsettest.OpenV2(t, w.store, nil)
	w.v1V, w.v2V = logVerifier(t, w.v1), logVerifier(t, w.v2)
	text := ""
	for _, name := range []string{"w1.example", "w2.example"} {
		x := fakewitness.New(t, name, w.v1V, w.v2V)
		w.ws = append(w.ws, x)
		text += x.PolicyLine()
	}
	var err error
	if w.policy, err = policy.Parse([]byte(text + "group both all w1.example w2.example\nquorum both\n")); err != nil {
		t.Fatal(err)
	}
	w.mgr = newManager(t, w.store, w.policy, "replica-a", w.v1, w.v2)
	w.server = newServerWith(t, e, func(c *api.Config) {
		c.Logs, c.V2Logs, c.Witnesses = w.v1, w.v2, w.mgr
		if edit != nil {
			edit(c)
		}
	})
	sh, err := w.v1.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.v1TreeID = strconv.FormatInt(sh.TreeID(), 10)
	return w
}

// post sends a write with the given headers.
func (s *server) postWith(path string, body []byte, header ...string) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.URL+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, b
}

// cosigners returns the witnesses whose valid cosignature the signed note
// carries, after checking the log's signature with v.
func (w *witnessed) cosigners(t *testing.T, signed []byte, v note.Verifier) []string {
	t.Helper()
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint: %v\n%s", err, signed)
	}
	var names []string
	for _, x := range w.ws {
		cv := x.Signer.Verifier()
		for _, sig := range n.UnverifiedSigs {
			b, err := base64.StdEncoding.DecodeString(sig.Base64)
			if err == nil && sig.Name == cv.Name() && sig.Hash == cv.KeyHash() && len(b) > 4 && cv.Verify([]byte(n.Text), b[4:]) {
				names = append(names, x.Name)
			}
		}
	}
	return names
}

func (w *witnessed) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, b := w.do("GET", path, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// TestWitnessedWrites: on both engines, writes that ask to wait get an
// inclusion proof against a checkpoint both witnesses cosigned (Rekor v1
// and v2), the checkpoint paths serve the cosigned checkpoint and
// latest-checkpoint the log's own; with a witness down, a write that waits
// gets the log's checkpoint and Tabula-Witnessed: false, and /readyz stays
// 200 and names the failing witness.
func TestWitnessedWrites(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			w := newWitnessed(t, e, nil)
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			k := w.logKey()

			// Rekor v1: a write that waits.
			resp, b := w.postWith("/api/v1/log/entries", newEntry(t, sgn, "witnessed 1"), api.WitnessWaitHeader, "20")
			if resp.StatusCode != 201 || resp.Header.Get(api.WitnessedHeader) != "true" {
				t.Fatalf("POST: %d %s: %q %s", resp.StatusCode, api.WitnessedHeader, resp.Header.Get(api.WitnessedHeader), b)
			}
			var le models.LogEntry
			if err := json.Unmarshal(b, &le); err != nil {
				t.Fatal(err)
			}
			_, entry, _ := verifyEntry(t, k, le)
			// Its checkpoint is the tree head both witnesses cosigned (the
			// one /checkpoint serves), with the log's signature line alone:
			// Rekor v1 clients refuse any other signature line.
			wrote := entry.Verification.InclusionProof.Checkpoint
			text, _, _ := strings.Cut(wrote, "\n\n")
			cosigned := w.get(t, "/checkpoint")
			for i := 0; i < 50 && !bytes.HasPrefix(cosigned, []byte(text+"\n\n")); i++ {
				time.Sleep(100 * time.Millisecond) // the server caches /checkpoint for up to 500 ms
				cosigned = w.get(t, "/checkpoint")
			}
			if got := w.cosigners(t, cosigned, w.v1V); len(got) != 2 {
				t.Fatalf("/checkpoint is cosigned by %v, want both:\n%s", got, cosigned)
			}
			if !bytes.HasPrefix(cosigned, []byte(text+"\n\n")) ||
				strings.Count(wrote, "\n— ") != 1 {
				t.Fatalf("the write's checkpoint:\n%s\nwant the cosigned tree head\n%s\nwith the log's signature alone", wrote, cosigned)
			}

			// The checkpoint paths.
			for _, c := range []struct {
				path      string
				v         note.Verifier
				cosigners int
			}{
				{"/checkpoint", w.v1V, 2},
				{"/logs/" + w.v1TreeID + "/checkpoint", w.v1V, 2},
				{"/latest-checkpoint", w.v1V, 0},
				{"/logs/" + w.v1TreeID + "/latest-checkpoint", w.v1V, 0},
			} {
				if got := w.cosigners(t, w.get(t, c.path), c.v); len(got) != c.cosigners {
					t.Errorf("GET %s: cosigned by %v, want %d witnesses", c.path, got, c.cosigners)
				}
			}

			// A write that does not ask: no wait, no header.
			resp, b = w.postWith("/api/v1/log/entries", newEntry(t, sgn, "not waiting"))
			if resp.StatusCode != 201 || resp.Header.Get(api.WitnessedHeader) != "" {
				t.Fatalf("POST without waiting: %d %q %s", resp.StatusCode, resp.Header.Get(api.WitnessedHeader), b)
			}

			// Rekor v2.
			req, err := sgn.HashedRekordV2([]byte("witnessed v2"))
			if err != nil {
				t.Fatal(err)
			}
			resp, b = w.postWith("/api/v2/log/entries", req, api.WitnessWaitHeader, "20")
			if resp.StatusCode != 201 || resp.Header.Get(api.WitnessedHeader) != "true" {
				t.Fatalf("v2 POST: %d %q %s", resp.StatusCode, resp.Header.Get(api.WitnessedHeader), b)
			}
			var tle protorekor.TransparencyLogEntry
			if err := protojson.Unmarshal(b, &tle); err != nil {
				t.Fatal(err)
			}
			env := []byte(tle.GetInclusionProof().GetCheckpoint().GetEnvelope())
			if got := w.cosigners(t, env, w.v2V); len(got) != 2 {
				t.Fatalf("the v2 write's checkpoint is cosigned by %v:\n%s", got, env)
			}
			cp, err := checkpoint.Open(env, note.VerifierList(w.v2V))
			if err != nil || int64(cp.Size) != tle.GetInclusionProof().GetTreeSize() || !bytes.Equal(cp.Root[:], tle.GetInclusionProof().GetRootHash()) {
				t.Fatalf("v2 checkpoint %+v (%v) does not match the proof", cp, err)
			}
			if got := w.cosigners(t, w.get(t, "/api/v2/checkpoint"), w.v2V); len(got) != 2 {
				t.Errorf("/api/v2/checkpoint cosigned by %v", got)
			}
			if got := w.cosigners(t, w.get(t, "/api/v2/latest-checkpoint"), w.v2V); len(got) != 0 {
				t.Errorf("/api/v2/latest-checkpoint cosigned by %v", got)
			}

			// Bad headers: 400, nothing written.
			for _, h := range []string{"soon", "-1", "NaN"} {
				resp, b := w.postWith("/api/v1/log/entries", newEntry(t, sgn, "bad header "+h), api.WitnessWaitHeader, h)
				if resp.StatusCode != 400 {
					t.Errorf("%s %q: %d %s", api.WitnessWaitHeader, h, resp.StatusCode, b)
				}
			}

			// A witness down: fail-open.
			w.ws[1].SetDown(true)
			resp, b = w.postWith("/api/v1/log/entries", newEntry(t, sgn, "w2 is down"), api.WitnessWaitHeader, "0.3")
			if resp.StatusCode != 201 || resp.Header.Get(api.WitnessedHeader) != "false" {
				t.Fatalf("POST with w2 down: %d %q %s", resp.StatusCode, resp.Header.Get(api.WitnessedHeader), b)
			}
			var le2 models.LogEntry
			if err := json.Unmarshal(b, &le2); err != nil {
				t.Fatal(err)
			}
			_, entry, _ = verifyEntry(t, k, le2)
			if got := w.cosigners(t, []byte(entry.Verification.InclusionProof.Checkpoint), w.v1V); len(got) != 0 {
				t.Fatalf("the write's checkpoint is cosigned by %v, want the log's own", got)
			}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				resp, b := w.do("GET", "/readyz", nil)
				if resp.StatusCode != 200 {
					t.Fatalf("/readyz: %d %s", resp.StatusCode, b)
				}
				if bytes.Contains(b, []byte("witness w2.example: size")) && bytes.Contains(b, []byte("failing")) {
					if !bytes.HasPrefix(b, []byte("ok\n")) || !bytes.Contains(b, []byte("witnessed log "+w.v1TreeID)) {
						t.Fatalf("/readyz:\n%s", b)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/readyz never reported w2 failing:\n%s", b)
				}
			}
		})
	}
}

// TestWitnessReplicaAndRotation: a second replica on the same database
// (one of the two holds each log's lease) serves the cosignatures of the
// checkpoint the first one's write waited for; after a rotation the new active log is witnessed and
// the frozen one's submitter stops once its final checkpoint is cosigned.
func TestWitnessReplicaAndRotation(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			w := newWitnessed(t, e, nil)
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			// Replica b: its own log sets and manager over the same store.
			v1b := logsettest.OpenConfig(t, logset.Config{Store: w.store, Keys: []logset.Signer{w.v1Key}, RefreshAge: 20 * time.Millisecond})
			mb := newManager(t, w.store, w.policy, "replica-b", v1b)
			b := httptest.NewServer(api.New(api.Config{Logs: v1b, Types: types.NewRegistry(hashedrekord.New()), Witnesses: mb}))
			t.Cleanup(b.Close)
			rb := &server{Server: b, t: t}

			resp, body := w.postWith("/api/v1/log/entries", newEntry(t, sgn, "replicated"), api.WitnessWaitHeader, "20")
			if resp.StatusCode != 201 || resp.Header.Get(api.WitnessedHeader) != "true" {
				t.Fatalf("POST: %d %q %s", resp.StatusCode, resp.Header.Get(api.WitnessedHeader), body)
			}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				resp, cp := rb.do("GET", "/checkpoint", nil)
				if resp.StatusCode == 200 && len(w.cosigners(t, cp, w.v1V)) == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("replica b never served the cosigned checkpoint:\n%s", cp)
				}
			}

			// Rotation, with an entry no witness has seen yet: the new log
			// gets cosigned, and the frozen one's submitter runs until its
			// final checkpoint is cosigned, then stops.
			// (w2 is down while it is written and the log rotates.)
			w.ws[1].SetDown(true)
			if resp, body := w.postWith("/api/v1/log/entries", newEntry(t, sgn, "the frozen log's last")); resp.StatusCode != 201 {
				t.Fatalf("POST: %d %s", resp.StatusCode, body)
			}
			old := w.v1TreeID
			next := logsettest.Rotate(t, w.store, w.v1Key)
			for deadline := time.Now().Add(20 * time.Second); !slices.ContainsFunc(w.mgr.Status(), func(st submit.Status) bool {
				return st.TreeID == next.TreeID
			}); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the new log never got a submitter")
				}
			}
			w.ws[1].SetDown(false) // back once the server has followed the rotation
			id := strconv.FormatInt(next.TreeID, 10)
			final, _, _ := bytes.Cut(w.get(t, "/logs/"+old+"/latest-checkpoint"), []byte("\n\n"))
			if lines := strings.Split(string(final), "\n"); len(lines) < 2 || lines[1] != "2" {
				t.Fatalf("the frozen log's final checkpoint:\n%s", final)
			}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				var ids []string
				for _, st := range w.mgr.Status() {
					ids = append(ids, strconv.FormatInt(st.TreeID, 10))
				}
				cp := w.get(t, "/logs/"+old+"/checkpoint")
				if strings.Contains(strings.Join(ids, " "), id) && !strings.Contains(strings.Join(ids, " "), old) &&
					bytes.HasPrefix(cp, append(final, "\n\n"...)) && len(w.cosigners(t, cp, w.v1V)) == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("submitters of trees %v after rotating %s to %s; the frozen log's checkpoint:\n%s\nwant its final one cosigned:\n%s", ids, old, id, cp, final)
				}
			}
			resp, body = w.postWith("/api/v1/log/entries", newEntry(t, sgn, "after rotation"), api.WitnessWaitHeader, "20")
			if resp.StatusCode != 201 || resp.Header.Get(api.WitnessedHeader) != "true" {
				t.Fatalf("POST after rotation: %d %q %s", resp.StatusCode, resp.Header.Get(api.WitnessedHeader), body)
			}
			cp := w.get(t, "/logs/"+id+"/checkpoint")
			if len(w.cosigners(t, cp, w.v1V)) != 2 || !bytes.HasPrefix(cp, []byte("tabula.test - "+id+"\n")) {
				t.Fatalf("the new log's checkpoint:\n%s", cp)
			}
		})
	}
}
