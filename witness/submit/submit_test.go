package submit_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/fakewitness"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/witness/policy"
	"github.com/tabularium/tabula/witness/submit"
)

// engines are the storage engines; Database opens one database again and
// again (another process's connection).
var engines = logsettest.Engines()

// fixture is a log of a set, and witnesses of it.
type fixture struct {
	set   storage.LogSet
	log   *log.Log
	logV  note.Verifier
	ws    []*fakewitness.Witness
	added int
	// metrics, if set, are the submitters' metrics.
	metrics *submit.Metrics
}

func newFixture(t *testing.T, set storage.LogSet, witnesses int) *fixture {
	t.Helper()
	ls := logsettest.Open(t, set)
	shard, err := ls.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := shard.Log.Profile()
	v, err := checkpoint.NewVerifier(p.KeyName, p.KeyIDForm, shard.Log.Signer().Public())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{set: set, log: shard.Log, logV: v}
	for i := range witnesses {
		f.ws = append(f.ws, fakewitness.New(t, fmt.Sprintf("w%d.example", i+1), v))
	}
	return f
}

// add adds n entries and returns the head size.
func (f *fixture) add(t *testing.T, n int) uint64 {
	t.Helper()
	var last log.Result
	for range n {
		r, err := f.log.Add(context.Background(), log.Leaf{Body: fmt.Appendf(nil, "entry %d", f.added)})
		if err != nil {
			t.Fatal(err)
		}
		f.added++
		last = r
	}
	return last.Entry.Index + 1
}

// policy is a policy of the fixture's witnesses with quorum text q (a
// group line and quorum line naming them).
func (f *fixture) policy(t *testing.T, quorum string) *policy.Policy {
	t.Helper()
	var b strings.Builder
	for _, w := range f.ws {
		b.WriteString(w.PolicyLine())
	}
	b.WriteString(quorum)
	p, err := policy.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start runs a submitter of the fixture's log for holder until the
// returned stop is called or the test ends.
func (f *fixture) start(t *testing.T, set storage.LogSet, p *policy.Policy, holder string) (*submit.Submitter, func()) {
	t.Helper()
	cfg := submit.Config{
		Policy: p, Store: set, Holder: holder,
		MinInterval: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		LeaseTTL: 300 * time.Millisecond, Poll: 10 * time.Millisecond, Timeout: 5 * time.Second,
		Metrics: f.metrics,
	}
	if err := cfg.SetLog(f.log); err != nil {
		t.Fatal(err)
	}
	s, err := submit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return s, stop
}

// wait returns the cosigned checkpoint covering size, failing after 20 s.
func wait(t *testing.T, s *submit.Submitter, size uint64) storage.CosignedCheckpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cp, err := s.Wait(ctx, size)
	if err != nil {
		t.Fatalf("no cosigned checkpoint of size %d: %v (status %+v)", size, err, s.Status())
	}
	return cp
}

// until polls cond for up to 20 s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

const twoOfTwo = "group both all w1.example w2.example\nquorum both\n"

// checkStored checks the stored checkpoint is the log's of size, signed
// by the log and cosigned by the witnesses of want (indexes into f.ws).
func checkStored(t *testing.T, f *fixture, size uint64, want ...int) {
	t.Helper()
	cp, err := f.set.LatestCosigned(context.Background(), f.log.TreeID())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != size {
		t.Fatalf("stored size %d, want %d", cp.Size, size)
	}
	n, err := note.Open(cp.Note, note.VerifierList(f.logV))
	if err != nil {
		t.Fatalf("stored note: %v\n%s", err, cp.Note)
	}
	if !strings.HasPrefix(n.Text, fmt.Sprintf("%s\n%d\n", f.log.Origin(), size)) {
		t.Fatalf("stored note of another checkpoint:\n%s", cp.Note)
	}
	for _, i := range want {
		v := f.ws[i].Signer.Verifier()
		ok := false
		for _, sig := range n.UnverifiedSigs {
			b, err := base64.StdEncoding.DecodeString(sig.Base64)
			if err == nil && sig.Name == v.Name() && sig.Hash == v.KeyHash() && len(b) > 4 && v.Verify([]byte(n.Text), b[4:]) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no valid cosignature of %s in the stored note:\n%s", v.Name(), cp.Note)
		}
	}
}

func TestTwoOfTwo(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			set := e.Database(t)(t)
			f := newFixture(t, set, 2)
			p := f.policy(t, twoOfTwo)
			s, _ := f.start(t, set, p, "a")
			size := f.add(t, 5)
			cp := wait(t, s, size)
			if cp.Size != size {
				t.Fatalf("cosigned size %d, want %d", cp.Size, size)
			}
			checkStored(t, f, size, 0, 1)
			size = f.add(t, 3) // a consistency proof from 5 to 8
			wait(t, s, size)
			checkStored(t, f, size, 0, 1)
			for _, w := range f.ws {
				if got, _, _, _ := w.Stats(f.log.Origin()); got != size {
					t.Errorf("%s holds size %d, want %d", w.Name, got, size)
				}
			}
			st := s.Status()
			if !st.Leader || st.CosignedSize != size || len(st.Witnesses) != 2 || st.Witnesses[0].Size != size || st.Witnesses[0].LastError != "" {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// TestCatchUp: witnesses that hold another size than the submitter
// guesses answer 409 with theirs; the submitter proves consistency from
// it. One claiming a size larger than the head is refused.
func TestCatchUp(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			set := e.Database(t)(t)
			f := newFixture(t, set, 2)
			ctx := context.Background()
			small := f.add(t, 3)
			root, err := f.log.RootHash(ctx, small)
			if err != nil {
				t.Fatal(err)
			}
			f.ws[0].SetState(f.log.Origin(), small, root[:]) // cosigned size 3 before (say, restarted)
			size := f.add(t, 6)
			p := f.policy(t, twoOfTwo)
			s, _ := f.start(t, set, p, "a")
			wait(t, s, size)
			checkStored(t, f, size, 0, 1)
			if got, _, conflicts, _ := f.ws[0].Stats(f.log.Origin()); got != size || conflicts == 0 {
				t.Errorf("w1: size %d, %d conflicts; want %d and a 409", got, conflicts, size)
			}
			if _, _, conflicts, _ := f.ws[1].Stats(f.log.Origin()); conflicts != 0 {
				t.Errorf("w2, of size 0 as guessed: %d conflicts", conflicts)
			}
		})
	}
}

// TestWitnessAhead: a witness claiming a size larger than the log's head
// (a lying or confused witness) is refused: no cosignature from it, the
// quorum is not met, nothing stored.
func TestWitnessAhead(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			set := e.Database(t)(t)
			f := newFixture(t, set, 2)
			size := f.add(t, 2)
			f.ws[1].SetState(f.log.Origin(), size+100, make([]byte, 32))
			p := f.policy(t, twoOfTwo)
			s, _ := f.start(t, set, p, "a")
			until(t, "w2's refusal, twice", func() bool {
				st := s.Status()
				return st.Witnesses[1].Failures >= 2 && st.Witnesses[0].Size == size
			})
			if st := s.Status(); !strings.Contains(st.Witnesses[1].LastError, "larger than the log's head") {
				t.Errorf("w2's error: %q", st.Witnesses[1].LastError)
			}
			if _, err := set.LatestCosigned(context.Background(), f.log.TreeID()); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("stored without w2: %v", err)
			}
		})
	}
}

// TestWitnessDown: with a 2-of-2 policy and one witness down, the log
// goes on (fail-open), nothing is stored; once the witness is back, the
// head is cosigned. A 1-of-2 policy is met by the other witness alone.
func TestWitnessDown(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			set := e.Database(t)(t)
			f := newFixture(t, set, 2)
			f.ws[1].SetDown(true)
			p := f.policy(t, twoOfTwo)
			s, _ := f.start(t, set, p, "a")
			size := f.add(t, 4)
			until(t, "two failures of w2", func() bool {
				st := s.Status()
				return st.Witnesses[1].Failures >= 2 && st.Witnesses[0].Size == size
			})
			if _, err := set.LatestCosigned(context.Background(), f.log.TreeID()); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("stored without a quorum: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := s.Wait(ctx, size); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait without a quorum: %v", err)
			}
			if st := s.Status(); !strings.Contains(st.Witnesses[1].LastError, "503") {
				t.Errorf("w2's error: %q", st.Witnesses[1].LastError)
			}
			f.ws[1].SetDown(false)
			wait(t, s, size)
			checkStored(t, f, size, 0, 1)
		})
	}
}

// TestOneOfTwo: a policy of any one of two witnesses is met while the
// other is down.
func TestOneOfTwo(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			set := e.Database(t)(t)
			f := newFixture(t, set, 2)
			f.ws[0].SetDown(true)
			p := f.policy(t, "group one any w1.example w2.example\nquorum one\n")
			s, _ := f.start(t, set, p, "a")
			size := f.add(t, 3)
			wait(t, s, size)
			checkStored(t, f, size, 1)
		})
	}
}

// TestLeaseHandover: two submitters of one log on one database (two
// processes); one submits at a time, and when it stops the other takes
// over.
func TestLeaseHandover(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			open := e.Database(t)
			set := open(t)
			f := newFixture(t, set, 2)
			p := f.policy(t, twoOfTwo)
			a, stopA := f.start(t, set, p, "a")
			until(t, "a to take the lease", func() bool { return a.Status().Leader })
			b, _ := f.start(t, open(t), p, "b")
			size := f.add(t, 3)
			wait(t, a, size)
			wait(t, b, size) // b sees a's checkpoint through the database
			if b.Status().Leader {
				t.Fatal("b holds the lease while a does")
			}
			stopA()
			size = f.add(t, 3)
			wait(t, b, size)
			if !b.Status().Leader {
				t.Fatal("b cosigned without the lease")
			}
			checkStored(t, f, size, 0, 1)
		})
	}
}

// TestBadCosignature: a witness whose cosignature does not verify with the
// policy's key for it (here: the policy names another key) does not count:
// the 2-of-2 quorum is not met and nothing is stored.
func TestBadCosignature(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			set := e.Database(t)(t)
			f := newFixture(t, set, 2)
			other := fakewitness.New(t, "w2.example", f.logV) // same name, another key
			line := strings.Replace(other.PolicyLine(), other.URL, f.ws[1].URL, 1)
			p, err := policy.Parse([]byte(f.ws[0].PolicyLine() + line + twoOfTwo))
			if err != nil {
				t.Fatal(err)
			}
			s, _ := f.start(t, set, p, "a")
			size := f.add(t, 2)
			until(t, "w2's cosignature refused twice", func() bool {
				st := s.Status()
				return st.Witnesses[1].Failures >= 2 && st.Witnesses[0].Size == size
			})
			if st := s.Status(); !strings.Contains(st.Witnesses[1].LastError, "no valid cosignature") {
				t.Errorf("w2's error: %q", st.Witnesses[1].LastError)
			}
			if _, err := set.LatestCosigned(context.Background(), f.log.TreeID()); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("stored with a bad cosignature: %v", err)
			}
		})
	}
}
