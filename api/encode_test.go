package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/merkle"
)

// refLogEntry is how the LogEntry answer was built before the hand-written
// encoder: models filled in, then json.Marshal. The encoder must match it.
// start is the log's StartIndex: the top-level logIndex is start + the
// entry's index in its log, the proof's is the latter.
func refLogEntry(treeID int64, logID [32]byte, start uint64, a entryAnswer) models.LogEntry {
	hashes := make([]string, len(a.proof))
	for i, h := range a.proof {
		hashes[i] = hex.EncodeToString(h[:])
	}
	out := models.LogEntryAnon{
		Body:           a.e.Body,
		IntegratedTime: a.e.IntegratedTime,
		LogID:          hex.EncodeToString(logID[:]),
		LogIndex:       int64(start + a.e.Index),
		Verification: &models.Verification{
			InclusionProof: &models.InclusionProof{
				Checkpoint: string(a.head.Checkpoint),
				Hashes:     hashes,
				LogIndex:   int64(a.e.Index),
				RootHash:   hex.EncodeToString(a.head.Root[:]),
				TreeSize:   int64(a.head.Size),
			},
			SignedEntryTimestamp: a.e.SET,
		},
	}
	if len(a.e.Attestation) > 0 {
		out.Attestation = &models.LogEntryAttestation{Data: a.e.Attestation}
	}
	return models.LogEntry{fmt.Sprintf("%016x%x", uint64(treeID), a.e.LeafHash[:]): out}
}

// oddStrings are checkpoint texts that exercise every escaping rule of
// encoding/json.
var oddStrings = []string{
	"",
	"rekor.example - 123\n42\nq80+9x0=\n\n— rekor.example AbCd+/==\n",
	`"quoted" \back\slash/ <html> & more`,
	"ctl \x00\x01\x07\b\f\n\r\t\x1f\x7f end",
	"bad utf8 \xff\xfe \xc3 \xe2\x80 end\xf0",
	"seps \u2028 \u2029 \u2027 \u202a",
	"emoji 🪵 ünïcödé — ☃",
	"\xed\xa0\x80 surrogate half",
}

func randomAnswer(rng *mrand.Rand) entryAnswer {
	bytesN := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var a entryAnswer
	a.e.Index = rng.Uint64N(1 << uint(rng.IntN(62)+1))
	copy(a.e.LeafHash[:], bytesN(32))
	switch rng.IntN(4) {
	case 0: // nil body
	case 1:
		a.e.Body = []byte{}
	default:
		a.e.Body = bytesN(rng.IntN(700))
	}
	a.e.IntegratedTime = rng.Int64() - rng.Int64()
	if rng.IntN(4) > 0 {
		a.e.SET = bytesN(rng.IntN(80))
	}
	if rng.IntN(3) == 0 {
		a.e.Attestation = bytesN(rng.IntN(300))
	}
	a.head.Size = rng.Uint64N(1 << 62)
	copy(a.head.Root[:], bytesN(32))
	if rng.IntN(3) == 0 {
		a.head.Checkpoint = bytesN(rng.IntN(200)) // arbitrary bytes, invalid UTF-8 too
	} else {
		a.head.Checkpoint = []byte(oddStrings[rng.IntN(len(oddStrings))])
	}
	if rng.IntN(5) > 0 {
		a.proof = make([]merkle.Hash, rng.IntN(40))
		for i := range a.proof {
			copy(a.proof[i][:], bytesN(32))
		}
	}
	return a
}

func TestEncoderMatchesJSONMarshal(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 5))
	for i, treeID := range []int64{0, 1, 0x0123456789abcdef, 1<<63 - 1} {
		var logID [32]byte
		copy(logID[:], fmt.Sprint(treeID, "log id bytes......................"))
		start := []uint64{0, 1, 1 << 40, 1<<62 - 1}[i]
		enc := newEncoder(treeID, logID, start)
		var all []entryAnswer
		var allRef []models.LogEntry
		for range 500 {
			a := randomAnswer(rng)
			a.enc = enc
			ref := refLogEntry(treeID, logID, start, a)
			want, err := json.Marshal(ref)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second time the head's parts come from the cache.
			for range 2 {
				if got := appendEntry(nil, &a); !bytes.Equal(got, want) {
					t.Fatalf("treeID %d: encoder differs from json.Marshal:\ngot  %s\nwant %s", treeID, got, want)
				}
			}
			all, allRef = append(all, a), append(allRef, ref)
		}
		for _, n := range []int{0, 1, 2, 10, len(all)} {
			want, err := json.Marshal(append([]models.LogEntry{}, allRef[:n]...))
			if err != nil {
				t.Fatal(err)
			}
			if got := appendEntries(nil, all[:n]); !bytes.Equal(got, want) {
				t.Fatalf("%d entries: encoder differs from json.Marshal:\ngot  %s\nwant %s", n, got, want)
			}
		}
	}
}

func TestConsistencyProofMatchesJSONMarshal(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 7))
	for n := range 64 {
		proof := make([]merkle.Hash, n%40)
		var root merkle.Hash
		for i := range proof {
			for j := range proof[i] {
				proof[i][j] = byte(rng.Uint32())
			}
		}
		root[n%32] = byte(n)
		hashes := make([]string, len(proof))
		for i, h := range proof {
			hashes[i] = hex.EncodeToString(h[:])
		}
		want, err := json.Marshal(models.ConsistencyProof{Hashes: hashes, RootHash: hex.EncodeToString(root[:])})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendConsistencyProof(nil, proof, root); !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	cases := append([]string{}, oddStrings...)
	for b := range 256 { // every single byte
		cases = append(cases, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	for r := rune(0x2000); r < 0x2100; r++ {
		cases = append(cases, "x"+string(r))
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	}
}

func TestEncoderWrite(t *testing.T) {
	encs := newEncoders()
	a := randomAnswer(mrand.New(mrand.NewPCG(1, 2)))
	a.enc = newEncoder(7, [32]byte{1}, 3)
	for range 3 { // pooled buffers are reused
		rec := httptest.NewRecorder()
		encs.write(rec, 201, func(b []byte) []byte { return appendEntry(b, &a) })
		want := append(appendEntry(nil, &a), '\n')
		if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json" ||
			rec.Header().Get("Content-Length") != strconv.Itoa(len(want)) || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Fatalf("write: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
		}
	}
}

func BenchmarkEncodeLogEntry(b *testing.B) {
	rng := mrand.New(mrand.NewPCG(3, 3))
	a := randomAnswer(rng)
	a.e.Body, a.e.SET, a.e.Attestation = make([]byte, 520), make([]byte, 71), nil
	a.proof = make([]merkle.Hash, 17)
	a.head.Checkpoint = []byte(oddStrings[1])
	var logID [32]byte
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			writeJSON(rec, 200, refLogEntry(1, logID, 0, a))
		}
	})
	b.Run("encoder", func(b *testing.B) {
		encs := newEncoders()
		a.enc = newEncoder(1, logID, 0)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			encs.write(rec, 200, func(buf []byte) []byte { return appendEntry(buf, &a) })
		}
	})
}
