package loadgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/verify"
)

func TestRandomFullTile(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 1))
	for _, tc := range []struct {
		size   uint64
		ok     bool
		levels int // highest level + 1 that may come out
	}{
		{0, false, 0},
		{255, false, 0},
		{256, true, 1},
		{65535, true, 1},
		{65536, true, 2},
		{1 << 24, true, 3},
	} {
		seen := map[uint8]bool{}
		for range 2000 {
			p, ok := randomFullTile(tc.size, rng)
			if ok != tc.ok {
				t.Fatalf("size %d: ok %v", tc.size, ok)
			}
			if !ok {
				break
			}
			if int(p.Level) >= tc.levels || p.Width != merkle.TileWidth ||
				(p.Index+1)<<(8*(uint(p.Level)+1)) > tc.size {
				t.Fatalf("size %d: tile %+v is not a full tile of the tree", tc.size, p)
			}
			seen[p.Level] = true
		}
		if tc.ok && !seen[0] {
			t.Fatalf("size %d: never a level-0 tile", tc.size)
		}
	}
}

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		mode, mix string
		want      map[string]int
		err       bool
	}{
		{ModeWrite, "", map[string]int{ModeWrite: 1}, false},
		{ModeMixed, DefaultMix, map[string]int{ModeWrite: 10, ModeReadEntry: 40, ModeReadProof: 20, ModeReadTile: 30}, false},
		{ModeMixed, "write=1, read-tile=0", map[string]int{ModeWrite: 1, ModeReadTile: 0}, false},
		{ModeMixed, "write", nil, true},
		{ModeMixed, "write=-1", nil, true},
		{ModeMixed, "delete=1", nil, true},
	} {
		got, err := parseMix(Config{Mode: tc.mode, Mix: tc.mix})
		if (err != nil) != tc.err {
			t.Fatalf("%s %q: err %v", tc.mode, tc.mix, err)
		}
		if err == nil && len(got) != len(tc.want) {
			t.Fatalf("%s %q: %v, want %v", tc.mode, tc.mix, got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Fatalf("%s %q: %v, want %v", tc.mode, tc.mix, got, tc.want)
			}
		}
	}
}

func TestStats(t *testing.T) {
	var ss []sample
	for i := 1; i <= 100; i++ {
		s := sample{op: ModeWrite, latency: time.Duration(i) * time.Millisecond, checked: i%10 == 0}
		if i > 95 {
			s.class = "503"
		}
		ss = append(ss, s)
	}
	r := stats(ss, 2*time.Second)
	want := Latency{P50: 50, P90: 90, P99: 99, Max: 100}
	if r.Ops != 100 || r.Good != 95 || r.Bad != 5 || r.Errors["503"] != 5 || r.Verified != 9 ||
		r.PerSecond != 47.5 || r.Latency != want {
		t.Fatalf("stats: %+v", r)
	}
	if r := stats(nil, time.Second); r.Ops != 0 || r.Latency != (Latency{}) {
		t.Fatalf("empty stats: %+v", r)
	}
}

func TestGenerateDistinct(t *testing.T) {
	for _, kind := range []string{KeyECDSA, KeyCert, KeyEd25519} {
		es, err := Generate(kind, 3, 50)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range es {
			if seen[string(e)] {
				t.Fatalf("%s: duplicate entry", kind)
			}
			seen[string(e)] = true
		}
	}
	if _, err := Generate("rsa", 1, 1); err == nil {
		t.Fatal("unknown key kind accepted")
	}
}

// FuzzParseEntry: answers come from the server under test, which may be
// broken; parsing and verifying them must never panic.
func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"abc":{"body":"e30=","integratedTime":1,"logID":"00","logIndex":0,"verification":{"inclusionProof":{"checkpoint":"o\n1\nAAAA\n\n— o AAAA\n","hashes":[],"logIndex":0,"rootHash":"00","treeSize":1},"signedEntryTimestamp":"AAAA"}}}`))
	f.Add([]byte(`{"abc":{"body":"e30=","integratedTime":1,"logID":"00","logIndex":-5,"verification":{"inclusionProof":{"checkpoint":"x","hashes":["zz"],"logIndex":-5,"rootHash":"zz","treeSize":-1},"signedEntryTimestamp":"AAAA"}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	key, err := verify.NewLogKey(k.Public())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEntry(b)
		if err != nil {
			return
		}
		if e.verify(key) == nil {
			t.Fatal("an answer verified against a key nobody signed with")
		}
	})
}
