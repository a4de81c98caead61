package witness_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/witness"
	"github.com/tabularium/tabula/witness/policy"
)

const origin = "example.com/log"

// engine opens a fresh database and returns a function that opens a handle
// on it, as each process would.
type engine struct {
	name string
	open func(t *testing.T) func(t *testing.T) storage.WitnessState
}

var engines = []engine{
	{"sqlite", func(t *testing.T) func(t *testing.T) storage.WitnessState {
		path := filepath.Join(t.TempDir(), "witness.db")
		return func(t *testing.T) storage.WitnessState {
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
	{"postgres", func(t *testing.T) func(t *testing.T) storage.WitnessState {
		url := pgtest.NewDatabase(t)
		return func(t *testing.T) storage.WitnessState {
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
}

// testLog is a log with an Ed25519 key and a tree of entries.
type testLog struct {
	signer note.Signer
	vkey   string
	tree   *testonly.Tree
}

func newTestLog(t testing.TB, name string) *testLog {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{signer: s, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
}

func (l *testLog) verifier(t testing.TB) note.Verifier {
	v, err := note.NewVerifier(l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// grow appends n entries tagged tag.
func (l *testLog) grow(tag string, n int) {
	for i := range n {
		l.tree.AppendData([]byte(fmt.Sprintf("%s-%d-%d", tag, l.tree.Size(), i)))
	}
}

// fork returns a log with l's key and the first keep entries of l.
func (l *testLog) fork(keep uint64) *testLog {
	f := &testLog{signer: l.signer, vkey: l.vkey, tree: testonly.New(rfc6962.DefaultHasher)}
	for i := range keep {
		f.tree.Append(l.tree.LeafHash(i))
	}
	return f
}

func text(o string, size uint64, root []byte) string {
	return fmt.Sprintf("%s\n%d\n%s\n", o, size, base64.StdEncoding.EncodeToString(root))
}

// signed is the signed checkpoint of the tree at size.
func (l *testLog) signed(t testing.TB, size uint64) []byte {
	b, err := note.Sign(&note.Note{Text: text(origin, size, l.tree.HashAt(size))}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (l *testLog) proof(t testing.TB, from, to uint64) [][]byte {
	if from == 0 {
		return nil
	}
	p, err := l.tree.ConsistencyProof(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func body(old uint64, proof [][]byte, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(signed)
	return b.Bytes()
}

// corruptSig flips a bit of the last signature of signed, keeping its key
// name and hint.
func corruptSig(t testing.TB, signed []byte) []byte {
	i := bytes.LastIndexByte(signed, ' ')
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(string(signed[i+1:]), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-1] ^= 1
	return append(bytes.Clone(signed[:i+1]), base64.StdEncoding.EncodeToString(sig)+"\n"...)
}

func newSigner(t testing.TB, name string) *checkpoint.CosignatureSigner {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := checkpoint.NewCosignatureSigner(name, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newWitness(t testing.TB, s *checkpoint.CosignatureSigner, st storage.WitnessState, logs ...witness.Log) *witness.Witness {
	w, err := witness.New(witness.Config{
		Signer: s, Logs: logs, State: st,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func post(t testing.TB, url string, b []byte) (int, string, string) {
	t.Helper()
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(got)
}

// checkCosigned checks that lines are a valid cosignature of signed by s,
// with checkpoint's verifier and with a policy listing the log and the
// witness.
func checkCosigned(t *testing.T, l *testLog, s *checkpoint.CosignatureSigner, signed []byte, lines string) {
	t.Helper()
	v := s.Verifier()
	n, err := note.Open(append(bytes.Clone(signed), lines...), note.VerifierList(v))
	if err != nil {
		t.Fatalf("the cosignature does not verify: %v\n%s", err, lines)
	}
	if len(n.Sigs) != 1 {
		t.Fatalf("%d cosignatures verified", len(n.Sigs))
	}
	sig, _ := base64.StdEncoding.DecodeString(n.Sigs[0].Base64)
	if ts, ok := v.VerifyTime([]byte(n.Text), sig[4:]); !ok || ts.IsZero() || time.Since(ts) > time.Hour {
		t.Fatalf("cosignature time %v, ok %v", ts, ok)
	}
	pol := fmt.Sprintf("log %s\nwitness w1 %s\nquorum w1\n", l.vkey, checkpoint.CosignatureVKey(s.Name(), v.Public()))
	p, err := policy.Parse([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(append(bytes.Clone(signed), lines...)); err != nil {
		t.Fatalf("policy: %v", err)
	}
	if _, err := p.Verify(signed); !errors.Is(err, policy.ErrNoQuorum) {
		t.Fatalf("policy without the cosignature: %v, want ErrNoQuorum", err)
	}
}

func TestAddCheckpointCodes(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			st := e.open(t)(t)
			l := newTestLog(t, origin)
			other := newTestLog(t, origin) // same name, another key
			stranger := newTestLog(t, "example.com/other")
			s := newSigner(t, "witness.example/w1")
			w := newWitness(t, s, st, witness.Log{Origin: origin, Verifiers: []note.Verifier{l.verifier(t)}})
			srv := httptest.NewServer(w.Handler())
			defer srv.Close()

			l.grow("a", 20)
			other.grow("a", 5)
			fork := l.fork(3) // diverges before the first size cosigned
			fork.grow("b", 17)
			cp5, cp10, cp20 := l.signed(t, 5), l.signed(t, 10), l.signed(t, 20)
			badSig := corruptSig(t, cp10)
			empty := sha256.Sum256(nil)
			zeroWrong, _ := note.Sign(&note.Note{Text: text(origin, 0, make([]byte, 32))}, l.signer)
			zeroRight, _ := note.Sign(&note.Note{Text: text(origin, 0, empty[:])}, l.signer)
			strangerCP, _ := note.Sign(&note.Note{Text: text("example.com/other", 5, l.tree.HashAt(5))}, stranger.signer)

			steps := []struct {
				name   string
				body   []byte
				code   int
				want   string // body for 409, or substring
				cosign []byte // checkpoint cosigned on 200
			}{
				{"unknown origin", body(0, nil, strangerCP), 404, "", nil},
				{"signed by another key", body(0, nil, other.signed(t, 5)), 403, "", nil},
				{"bad signature by the log's key", body(0, nil, badSig), 403, "", nil},
				{"old beyond size", body(11, nil, cp10), 400, "", nil},
				{"malformed", []byte("old 1\n"), 400, "", nil},
				{"size 0 with a wrong root", body(0, nil, zeroWrong), 422, "", nil},
				{"proof with old 0", body(0, l.proof(t, 5, 10), cp10), 422, "", nil},
				{"size 0", body(0, nil, zeroRight), 200, "", zeroRight},
				{"first", body(0, nil, cp5), 200, "", cp5},
				{"stale old", body(0, nil, cp10), 409, "5\n", nil},
				{"old ahead", body(7, l.proof(t, 7, 10), cp10), 409, "5\n", nil},
				{"bad proof", body(5, l.proof(t, 6, 10), cp10), 422, "", nil},
				{"fork's proof", body(5, fork.proof(t, 5, 20), fork.signed(t, 20)), 422, "", nil},
				{"grow", body(5, l.proof(t, 5, 10), cp10), 200, "", cp10},
				{"same again", body(10, nil, cp10), 200, "", cp10},
				{"same size, proof given", body(10, l.proof(t, 5, 10), cp10), 422, "", nil},
				{"same size, other root", body(10, nil, fork.signed(t, 10)), 422, "", nil},
				{"fork after", body(10, fork.proof(t, 10, 20), fork.signed(t, 20)), 422, "", nil},
				{"grow again", body(10, l.proof(t, 10, 20), cp20), 200, "", cp20},
				{"older checkpoint", body(20, nil, cp10), 400, "", nil},
				{"too large", append(body(20, nil, cp20), bytes.Repeat([]byte("x"), witness.MaxBodySize)...), 413, "", nil},
			}
			for _, s2 := range steps {
				code, ctype, got := post(t, srv.URL, s2.body)
				if code != s2.code {
					t.Fatalf("%s: status %d (%q), want %d", s2.name, code, got, s2.code)
				}
				switch code {
				case 409:
					if ctype != "text/x.tlog.size" || got != s2.want {
						t.Fatalf("%s: 409 %q %q, want text/x.tlog.size %q", s2.name, ctype, got, s2.want)
					}
				case 200:
					checkCosigned(t, l, s, s2.cosign, got)
				}
			}
			// The monitoring door has the last cosigned checkpoint.
			resp, err := http.Get(srv.URL + "/" + witness.OriginHash(origin) + "/checkpoint")
			if err != nil {
				t.Fatal(err)
			}
			latest, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.HasPrefix(latest, []byte(text(origin, 20, l.tree.HashAt(20)))) {
				t.Fatalf("monitoring door: %d %q", resp.StatusCode, latest)
			}
			if _, err := note.Open(latest, note.VerifierList(l.verifier(t))); err != nil {
				t.Fatalf("stored note, log signature: %v", err)
			}
			if _, err := note.Open(latest, note.VerifierList(s.Verifier())); err != nil {
				t.Fatalf("stored note, cosignature: %v", err)
			}
			for _, tc := range []struct {
				method, path string
				code         int
			}{
				{"GET", "/" + witness.OriginHash("example.com/other") + "/checkpoint", 404},
				{"GET", "/" + strings.ToUpper(witness.OriginHash(origin)) + "/checkpoint", 404},
				{"GET", "/add-checkpoint", 405},
				{"PUT", "/add-checkpoint", 405},
				{"POST", "/" + witness.OriginHash(origin) + "/checkpoint", 405},
				{"GET", "/nothing", 404},
			} {
				req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.code {
					t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.code)
				}
			}
		})
	}
}

// TestMonitoringDoorEmpty: a configured log never cosigned is 404.
func TestMonitoringDoorEmpty(t *testing.T) {
	st := engines[0].open(t)(t)
	l := newTestLog(t, origin)
	w := newWitness(t, newSigner(t, "w"), st, witness.Log{Origin: origin, Verifiers: []note.Verifier{l.verifier(t)}})
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/" + witness.OriginHash(origin) + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
	if _, err := w.Latest(context.Background(), origin); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Latest: %v, want ErrNotFound", err)
	}
}

// TestRestart: a new Witness on the same database keeps the state.
func TestRestart(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			reopen := e.open(t)
			l := newTestLog(t, origin)
			l.grow("a", 10)
			fork := l.fork(3)
			fork.grow("b", 7)
			s := newSigner(t, "w")
			logs := witness.Log{Origin: origin, Verifiers: []note.Verifier{l.verifier(t)}}
			w1 := newWitness(t, s, reopen(t), logs)
			if _, err := w1.AddCheckpoint(context.Background(), 0, nil, l.signed(t, 5)); err != nil {
				t.Fatal(err)
			}
			w2 := newWitness(t, s, reopen(t), logs)
			_, err := w2.AddCheckpoint(context.Background(), 0, nil, fork.signed(t, 5))
			var we *witness.Error
			if !errors.As(err, &we) || we.Status != 409 || we.Size != 5 {
				t.Fatalf("after restart, old 0: %v, want 409 size 5", err)
			}
			_, err = w2.AddCheckpoint(context.Background(), 5, nil, fork.signed(t, 5))
			if !errors.As(err, &we) || we.Status != 422 {
				t.Fatalf("after restart, fork at 5: %v, want 422", err)
			}
			if _, err := w2.AddCheckpoint(context.Background(), 5, l.proof(t, 5, 10), l.signed(t, 10)); err != nil {
				t.Fatalf("after restart, growth: %v", err)
			}
		})
	}
}

// TestRace: two witnesses on one database, each with several requests in
// flight, are offered different roots at one size from the same state;
// exactly one root is cosigned per size, round after round.
func TestRace(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			reopen := e.open(t)
			l := newTestLog(t, origin)
			s := newSigner(t, "w")
			logs := witness.Log{Origin: origin, Verifiers: []note.Verifier{l.verifier(t)}}
			ws := []*witness.Witness{newWitness(t, s, reopen(t), logs), newWitness(t, s, reopen(t), logs)}
			var srvs []*httptest.Server
			for _, w := range ws {
				srv := httptest.NewServer(w.Handler())
				defer srv.Close()
				srvs = append(srvs, srv)
			}
			cur := l // the tree the witness holds
			const rounds, racers = 6, 6
			for round := range rounds {
				from := cur.tree.Size()
				trees := make([]*testLog, racers)
				for i := range trees {
					trees[i] = cur.fork(from)
					trees[i].grow(fmt.Sprintf("r%d-%d", round, i%3), 4) // three distinct roots
				}
				codes := make([]int, racers)
				answers := make([]string, racers)
				var wg sync.WaitGroup
				for i := range racers {
					b := body(from, trees[i].proof(t, from, from+4), trees[i].signed(t, from+4))
					wg.Go(func() { codes[i], _, answers[i] = post(t, srvs[i%2].URL, b) })
				}
				wg.Wait()
				var roots = map[string]bool{}
				winner := -1
				for i, c := range codes {
					switch c {
					case 200:
						roots[string(trees[i].tree.HashAt(from+4))] = true
						winner = i
						checkCosigned(t, trees[i], s, trees[i].signed(t, from+4), answers[i])
					case 409:
						if answers[i] != strconv.FormatUint(from+4, 10)+"\n" {
							t.Fatalf("round %d: racer %d: 409 %q", round, i, answers[i])
						}
					default:
						t.Fatalf("round %d: racer %d: %d %q", round, i, c, answers[i])
					}
				}
				if len(roots) != 1 {
					t.Fatalf("round %d: %d roots cosigned at size %d", round, len(roots), from+4)
				}
				cur = trees[winner]
			}
		})
	}
}
