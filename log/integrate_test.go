package log

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

// digestSigner "signs" with SHA-256 of the message, so a SET shows which
// payload it was made over, and fails on the messages of the listed indexes.
type digestSigner struct {
	signer.Signer
	failAt map[uint64]bool
	calls  atomic.Int64
}

func (d *digestSigner) SignMessage(msg []byte) ([]byte, error) {
	d.calls.Add(1)
	for i := range d.failAt {
		if strings.HasSuffix(string(msg), fmt.Sprintf(`"logIndex":%d}`, i)) {
			return nil, fmt.Errorf("no signature for index %d", i)
		}
	}
	sum := sha256.Sum256(msg)
	return sum[:], nil
}

func setTestEntries(n int) []storage.Entry {
	entries := make([]storage.Entry, n)
	for i := range entries {
		entries[i] = storage.Entry{
			Index:          uint64(100 + i),
			Body:           fmt.Appendf(nil, `{"entry":%d}`, i),
			IntegratedTime: 1700000000 + int64(i%3),
		}
	}
	return entries
}

// TestSignSETs checks that every entry gets the SET over its own payload,
// whatever the batch size and the number of workers, and that a failure
// reports the first failing entry in batch order.
func TestSignSETs(t *testing.T) {
	logID := [32]byte{1, 2, 3}
	for _, n := range []int{0, 1, 2, 3, 7, 64, 65} {
		for _, workers := range []int{0, 1, 2, 3, 8, 100} {
			t.Run(fmt.Sprintf("n=%d/workers=%d", n, workers), func(t *testing.T) {
				s := &digestSigner{}
				entries := setTestEntries(n)
				if err := signSETs(s, logID, entries, workers); err != nil {
					t.Fatal(err)
				}
				for i, e := range entries {
					want := sha256.Sum256(SETPayload(e.Body, e.IntegratedTime, logID, e.Index))
					if string(e.SET) != string(want[:]) {
						t.Fatalf("entry %d: SET over another payload", i)
					}
				}
				if got := s.calls.Load(); got != int64(n) {
					t.Fatalf("%d signatures for %d entries", got, n)
				}
			})
		}
	}

	errTests := []struct {
		name    string
		n       int
		failAt  []uint64
		wantIdx uint64
	}{
		{name: "only entry", n: 1, failAt: []uint64{100}, wantIdx: 100},
		{name: "last entry", n: 9, failAt: []uint64{108}, wantIdx: 108},
		{name: "first of several runs", n: 9, failAt: []uint64{107, 101, 104}, wantIdx: 101},
		{name: "two in one run", n: 9, failAt: []uint64{106, 105}, wantIdx: 105},
	}
	for _, tt := range errTests {
		for _, workers := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%s/workers=%d", tt.name, workers), func(t *testing.T) {
				s := &digestSigner{failAt: map[uint64]bool{}}
				for _, i := range tt.failAt {
					s.failAt[i] = true
				}
				err := signSETs(s, logID, setTestEntries(tt.n), workers)
				want := fmt.Sprintf("signing entry timestamp: no signature for index %d", tt.wantIdx)
				if err == nil || err.Error() != want {
					t.Fatalf("err = %v, want %q", err, want)
				}
			})
		}
	}
}

// TestSignSETsLocal signs a batch in parallel with the real signer: every
// SET verifies over its entry's payload.
func TestSignSETsLocal(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(k)
	if err != nil {
		t.Fatal(err)
	}
	entries := setTestEntries(33)
	if err := signSETs(s, s.LogID(), entries, 4); err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if err := signer.Verify(s.Public(), SETPayload(e.Body, e.IntegratedTime, s.LogID(), e.Index), e.SET); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		// The SET must not verify for a neighbour's payload.
		if j := (i + 1) % len(entries); signer.Verify(s.Public(), SETPayload(entries[j].Body, entries[j].IntegratedTime, s.LogID(), entries[j].Index), e.SET) == nil {
			t.Fatalf("entry %d's SET verifies for entry %d", i, j)
		}
	}
}

// BenchmarkSignSETs is the integrator's signing of one full batch: serial
// (workers=1) against GOMAXPROCS workers. ns/op is the critical-path time
// for the batch.
func BenchmarkSignSETs(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := signer.New(k)
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, 0} {
		name := fmt.Sprintf("workers=%d", workers)
		if workers == 0 {
			workers = runtime.GOMAXPROCS(0)
			name = "workers=GOMAXPROCS"
		}
		b.Run(name, func(b *testing.B) {
			entries := setTestEntries(64)
			for b.Loop() {
				if err := signSETs(s, s.LogID(), entries, workers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
