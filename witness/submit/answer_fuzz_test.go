package submit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"testing"
	"time"

	"github.com/tabularium/tabula/checkpoint"
)

// FuzzWitnessAnswer feeds arbitrary witness answers to what the submitter
// reads of them: a 200's cosignature lines and a 409's size. A line is
// taken only if it is one of the answer's lines and verifies with the
// witness's key over the checkpoint text; a size only if the body is a
// decimal number with at most a final newline.
func FuzzWitnessAnswer(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	s, err := checkpoint.NewCosignatureSigner("w.example/w", key, func() time.Time { return time.Unix(1700000000, 0) })
	if err != nil {
		f.Fatal(err)
	}
	v := s.Verifier()
	text := []byte("log.example\n5\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	good, err := s.Sign(text)
	if err != nil {
		f.Fatal(err)
	}
	signed := binary.BigEndian.AppendUint32(nil, v.KeyHash())
	line := []byte("— w.example/w " + base64.StdEncoding.EncodeToString(append(signed, good...)) + "\n")
	if _, ok := cosignatureIn(line, v, text); !ok {
		f.Fatalf("the seed's cosignature line %q is not taken", line)
	}
	f.Add(line)
	f.Add(append([]byte("— other.example/w AAAAAAAA\n"), line...))
	f.Add([]byte("17\n"))
	f.Add([]byte("— w.example/w \n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, answer []byte) {
		if l, ok := cosignatureIn(answer, v, text); ok {
			if !bytes.Contains(answer, l) || !bytes.HasSuffix(l, []byte("\n")) {
				t.Fatalf("took %q, not a line of the answer", l)
			}
			sig, ok := parseLine(l)
			if !ok || !verifyLine(v, text, sig) {
				t.Fatalf("took %q, which does not verify", l)
			}
		}
		if n, err := parseSize(answer); err == nil {
			digits := bytes.TrimSuffix(answer, []byte("\n"))
			if len(digits) == 0 || bytes.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
				t.Fatalf("size %d from %q", n, answer)
			}
		}
	})
}
