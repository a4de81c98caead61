package checkpoint_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
)

// Cosignature golden values computed independently of Go with Python 3
// (hashlib and the cryptography package's Ed25519) for the Ed25519 key
// whose seed is 32 bytes of 0x07, named "witness.example.com/w1", cosigning
// the tlog-cosignature spec's example checkpoint at its example time:
//
//	key hint = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ pub)[:4]
//	message  = "cosignature/v1\ntime 1679315147\n" ‖ body
//	line     = base64(key hint ‖ uint64be(1679315147) ‖ Ed25519(message))
const (
	cosigName  = "witness.example.com/w1"
	cosigTime  = 1679315147
	cosigBody  = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	cosigHint  = 0x8122a5ab
	cosigVKey  = "witness.example.com/w1+8122a5ab+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
	cosigLine  = "gSKlqwAAAABkGFDLWr4Jea05CAgwNVtwky0Jgz6WfX0QJgM//FkB/W9BoT9TX0DkTxG+2cT4p/ViKNhUM/SnUwFcYQzugGFQ15LwDw=="
	specCosig  = "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
	cosigSigSz = 8 + ed25519.SignatureSize
)

func cosigKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)) }

func fixedClock(t int64) func() time.Time { return func() time.Time { return time.Unix(t, 0) } }

func TestCosignatureGolden(t *testing.T) {
	s, err := checkpoint.NewCosignatureSigner(cosigName, cosigKey(), fixedClock(cosigTime))
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyHash() != cosigHint {
		t.Errorf("key hash %08x, want %08x", s.KeyHash(), cosigHint)
	}
	pub := cosigKey().Public().(ed25519.PublicKey)
	if got := checkpoint.CosignatureVKey(cosigName, pub); got != cosigVKey {
		t.Errorf("vkey %q, want %q", got, cosigVKey)
	}
	signed, err := note.Sign(&note.Note{Text: cosigBody}, s)
	if err != nil {
		t.Fatal(err)
	}
	want := cosigBody + "\n— " + cosigName + " " + cosigLine + "\n"
	if string(signed) != want {
		t.Errorf("signed note\n%s\nwant\n%s", signed, want)
	}
	v, err := checkpoint.ParseCosignatureVKey(cosigVKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatalf("opening with our verifier: %v", err)
	}
	if len(n.Sigs) != 1 {
		t.Errorf("%d verified signatures, want 1", len(n.Sigs))
	}
}

// TestCosignatureSpecTimestamp reads the timestamp of the spec's example
// cosignature line (whose key the spec does not give).
func TestCosignatureSpecTimestamp(t *testing.T) {
	b, err := base64.StdEncoding.DecodeString(specCosig)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := checkpoint.CosignatureTime(b[4:])
	if err != nil {
		t.Fatal(err)
	}
	if ts.Unix() != cosigTime {
		t.Errorf("time %d, want %d", ts.Unix(), cosigTime)
	}
}

// TestCosignatureInterop checks Tabula's cosignatures against
// transparency-dev/formats' independent implementation, both ways.
func TestCosignatureInterop(t *testing.T) {
	ours, err := checkpoint.NewCosignatureSigner(cosigName, cosigKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	theirV, err := fnote.NewVerifierForCosignatureV1(cosigVKey)
	if err != nil {
		t.Fatal(err)
	}
	if theirV.KeyHash() != ours.KeyHash() {
		t.Fatalf("formats key hash %08x, ours %08x", theirV.KeyHash(), ours.KeyHash())
	}
	signed, err := note.Sign(&note.Note{Text: cosigBody}, ours)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(theirV)); err != nil {
		t.Errorf("formats refuses our cosignature: %v", err)
	}
	skey := "PRIVATE+KEY+" + cosigName + "+00000000+" + base64.StdEncoding.EncodeToString(append([]byte{0x04}, bytes.Repeat([]byte{7}, 32)...))
	theirS, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	signed, err = note.Sign(&note.Note{Text: cosigBody}, theirS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(ours.Verifier())); err != nil {
		t.Errorf("we refuse formats' cosignature: %v", err)
	}
}

func TestCosignatureRefused(t *testing.T) {
	s, err := checkpoint.NewCosignatureSigner(cosigName, cosigKey(), fixedClock(cosigTime))
	if err != nil {
		t.Fatal(err)
	}
	v := s.Verifier()
	sig, err := s.Sign([]byte(cosigBody))
	if err != nil {
		t.Fatal(err)
	}
	if ts, ok := v.VerifyTime([]byte(cosigBody), sig); !ok || ts.Unix() != cosigTime {
		t.Fatalf("VerifyTime = %v, %v; want %d, true", ts, ok, cosigTime)
	}
	other, err := checkpoint.NewCosignatureSigner("other.example/w", cosigKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := checkpoint.NewCosignatureVerifier(cosigName, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	withTime := func(t uint64) []byte {
		b := bytes.Clone(sig)
		binary.BigEndian.PutUint64(b, t)
		return b
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	for _, tc := range []struct {
		name string
		v    note.Verifier
		msg  string
		sig  []byte
		want bool
	}{
		{"valid", v, cosigBody, sig, true},
		{"same key other name verifies (the message has no name)", other.Verifier(), cosigBody, sig, true},
		{"other key", otherKey, cosigBody, sig, false},
		{"tampered size", v, strings.Replace(cosigBody, "20852163", "20852164", 1), sig, false},
		{"extension line added", v, cosigBody + "ext\n", sig, false},
		{"timestamp +1", v, cosigBody, withTime(cosigTime + 1), false},
		{"timestamp 2^63", v, cosigBody, withTime(1 << 63), false},
		{"signature bit", v, cosigBody, flip(sig, 20), false},
		{"truncated", v, cosigBody, sig[:len(sig)-1], false},
		{"extended", v, cosigBody, append(bytes.Clone(sig), 0), false},
		{"empty", v, cosigBody, nil, false},
		{"two-line text", v, "a\nb\n", sig, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.Verify([]byte(tc.msg), tc.sig); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCosignatureSignerErrors(t *testing.T) {
	key := cosigKey()
	for _, tc := range []struct {
		name  string
		kname string
		key   ed25519.PrivateKey
		now   int64
		t     uint64
		msg   string
	}{
		{"empty name", "", key, cosigTime, 0, cosigBody},
		{"name with plus", "a+b", key, cosigTime, 0, cosigBody},
		{"name with space", "a b", key, cosigTime, 0, cosigBody},
		{"short key", cosigName, key[:10], cosigTime, 0, cosigBody},
		{"time before 1970", cosigName, key, -1, 0, cosigBody},
		{"time 2^63 (SignAt)", cosigName, key, cosigTime, 1 << 63, cosigBody},
		{"two lines", cosigName, key, cosigTime, 0, "a\nb\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := checkpoint.NewCosignatureSigner(tc.kname, tc.key, fixedClock(tc.now))
			if err != nil {
				return
			}
			if tc.t != 0 {
				_, err = s.SignAt(tc.t, []byte(tc.msg))
			} else {
				_, err = s.Sign([]byte(tc.msg))
			}
			if err == nil {
				t.Error("signed, want an error")
			}
		})
	}
}

func TestParseCosignatureVKey(t *testing.T) {
	pub := cosigKey().Public().(ed25519.PublicKey)
	b64 := func(b ...byte) string { return base64.StdEncoding.EncodeToString(b) }
	for _, tc := range []struct {
		name, vkey string
		ok         bool
	}{
		{"golden", cosigVKey, true},
		{"wrong hint", "witness.example.com/w1+8122a5ac+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs", false},
		{"other name", "witness.example.com/w2+8122a5ab+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs", false},
		{"type 0x01", cosigName + "+8122a5ab+" + b64(append([]byte{1}, pub...)...), false},
		{"short key", cosigName + "+8122a5ab+" + b64(append([]byte{4}, pub[:31]...)...), false},
		{"no hint", cosigName + "+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs", false},
		{"short hint", cosigName + "+8122a5a+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs", false},
		{"bad base64", cosigName + "+8122a5ab+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtI!", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := checkpoint.ParseCosignatureVKey(tc.vkey)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && checkpoint.CosignatureVKey(v.Name(), v.Public()) != tc.vkey {
				t.Errorf("vkey does not round-trip")
			}
		})
	}
}

func FuzzCosignature(f *testing.F) {
	line, _ := base64.StdEncoding.DecodeString(cosigLine)
	f.Add([]byte(cosigBody), line[4:])
	f.Add([]byte("a\nb\n"), []byte{})
	v, err := checkpoint.ParseCosignatureVKey(cosigVKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg, sig []byte) {
		ts, terr := checkpoint.CosignatureTime(sig)
		got, ok := v.VerifyTime(msg, sig)
		if ok && (terr != nil || !got.Equal(ts)) {
			t.Fatalf("verified a cosignature whose time does not parse (%v) or differs (%v, %v)", terr, got, ts)
		}
		if ok && len(sig) != cosigSigSz {
			t.Fatalf("verified a %d-byte cosignature", len(sig))
		}
		if ok && !(string(msg) == cosigBody && bytes.Equal(sig, line[4:])) {
			t.Fatalf("verified a cosignature that is not the golden one: %q %x", msg, sig)
		}
	})
}

func FuzzParseCosignatureVKey(f *testing.F) {
	f.Add(cosigVKey)
	f.Add("a+00000000+BA==")
	f.Fuzz(func(t *testing.T, vkey string) {
		v, err := checkpoint.ParseCosignatureVKey(vkey)
		if err != nil {
			return
		}
		again, err := checkpoint.ParseCosignatureVKey(checkpoint.CosignatureVKey(v.Name(), v.Public()))
		if err != nil || again.Name() != v.Name() || again.KeyHash() != v.KeyHash() || !again.Public().Equal(v.Public()) {
			t.Fatalf("parsed %q, which does not round-trip: %v", vkey, err)
		}
	})
}
