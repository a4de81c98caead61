package hashedrekord

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/tabularium/tabula/types/internal/schema"
)

func sp(s string) *string { return &s }

// checkCanonicalBody compares canonicalBody with the reference on one input.
func checkCanonicalBody(t *testing.T, h *schema.Hash, sig, pemBytes []byte) {
	t.Helper()
	want, wantErr := marshalCanonicalBody(h, sig, pemBytes)
	got, err := canonicalBody(h, sig, pemBytes)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("canonicalBody(%+v) error %v, reference error %v", h, err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("canonicalBody differs from Marshal+Transform\n got %q\nwant %q", got, want)
	}
}

func TestCanonicalBodyMatchesReference(t *testing.T) {
	pemBytes := []byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n")
	tests := []struct {
		name      string
		alg, val  *string
		sig, pemB []byte
	}{
		{name: "typical", alg: sp("sha256"), val: sp("0123456789abcdef"), sig: []byte{0x30, 0x45, 0x02}, pemB: pemBytes},
		{name: "upper-case hex kept", alg: sp("sha512"), val: sp("ABCDEF"), sig: []byte("s"), pemB: pemBytes},
		{name: "empty signature omitted", alg: sp("sha256"), val: sp("00"), sig: nil, pemB: pemBytes},
		{name: "empty key omitted", alg: sp("sha256"), val: sp("00"), sig: []byte("x"), pemB: nil},
		{name: "empty non-nil slices omitted", alg: sp("sha256"), val: sp("00"), sig: []byte{}, pemB: []byte{}},
		{name: "nil algorithm is null", alg: nil, val: sp("00"), sig: []byte("x"), pemB: pemBytes},
		{name: "nil value is null", alg: sp("sha256"), val: nil, sig: []byte("x"), pemB: pemBytes},
		{name: "both nil", sig: []byte("x"), pemB: pemBytes},
		{name: "empty strings", alg: sp(""), val: sp(""), sig: []byte("x"), pemB: pemBytes},
		{name: "quote and backslash", alg: sp(`a"b\c`), val: sp(`\"`), sig: []byte("x"), pemB: pemBytes},
		{name: "control characters", alg: sp("\x00\x01\b\f\n\r\t\x1f\x7f"), val: sp("x"), sig: []byte("x"), pemB: pemBytes},
		{name: "html characters", alg: sp("<script>&amp;</script>"), val: sp("'"), sig: []byte("x"), pemB: pemBytes},
		{name: "non-ASCII", alg: sp("é€😀"), val: sp("\u2028\u2029\ufeff"), sig: []byte("x"), pemB: pemBytes},
		{name: "invalid UTF-8", alg: sp("\xff\xfe"), val: sp("a\xc3"), sig: []byte("x"), pemB: pemBytes},
		{name: "all printable ASCII", alg: sp(printableASCII()), val: sp("~ !"), sig: []byte("x"), pemB: pemBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCanonicalBody(t, &schema.Hash{Algorithm: tt.alg, Value: tt.val}, tt.sig, tt.pemB)
		})
	}
}

func TestPlainJSON(t *testing.T) {
	tests := []struct {
		in   *string
		want bool
	}{
		{nil, false},
		{sp(""), true},
		{sp("sha256"), true},
		{sp("0123456789abcdefABCDEF"), true},
		{sp(printableASCII()), false}, // has '"' and '\\'
		{sp(" !#$%&'()*+,-./:;<=>?@[]^_`{|}~"), true},
		{sp(`"`), false},
		{sp(`\\`), false},
		{sp("\x1f"), false},
		{sp("\x7f"), false},
		{sp("é"), false},
		{sp("\xff"), false},
	}
	for _, tt := range tests {
		if got := plainJSON(tt.in); got != tt.want {
			t.Errorf("plainJSON(%q) = %v, want %v", deref(tt.in), got, tt.want)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func printableASCII() string {
	b := make([]byte, 0, 95)
	for c := byte(0x20); c < 0x7f; c++ {
		b = append(b, c)
	}
	return string(b)
}

// TestCanonicalBodyRandom is a property test: on random strings (biased to
// the bytes JSON escapes) and random byte slices, the direct writer agrees
// with Marshal+Transform.
func TestCanonicalBodyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(8785, 1))
	alphabet := []byte("\x00\x1f\"\\/<>&'\x7f abcAZ09+=\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\xff")
	str := func() *string {
		if rng.IntN(8) == 0 {
			return nil
		}
		b := make([]byte, rng.IntN(12))
		printable := rng.IntN(2) == 0 // mostly the direct writer's inputs
		for i := range b {
			if printable {
				b[i] = byte(0x20 + rng.IntN(0x7f-0x20))
			} else if rng.IntN(2) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = byte(rng.IntN(256))
			}
		}
		return sp(string(b))
	}
	bytesOf := func() []byte {
		n := rng.IntN(80)
		if n == 0 && rng.IntN(2) == 0 {
			return nil
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	for range 5000 {
		checkCanonicalBody(t, &schema.Hash{Algorithm: str(), Value: str()}, bytesOf(), bytesOf())
	}
}

func FuzzCanonicalBody(f *testing.F) {
	f.Add("sha256", "0123abcd", []byte{0x30, 0x44}, []byte("-----BEGIN PUBLIC KEY-----\n"), uint8(0))
	f.Add(`"\`, "\u2028\x00", []byte{}, []byte(nil), uint8(3))
	f.Add("\xff", "é", []byte("x"), []byte("y"), uint8(1))
	f.Fuzz(func(t *testing.T, alg, val string, sig, pemBytes []byte, nils uint8) {
		h := &schema.Hash{Algorithm: &alg, Value: &val}
		if nils&1 != 0 {
			h.Algorithm = nil
		}
		if nils&2 != 0 {
			h.Value = nil
		}
		checkCanonicalBody(t, h, sig, pemBytes)
	})
}

// BenchmarkCanonicalBody measures the body writer alone, on an entry shaped
// like cosign's (P-256 signature, certificate PEM of ~1 KB).
func BenchmarkCanonicalBody(b *testing.B) {
	h := &schema.Hash{Algorithm: sp("sha256"), Value: sp("4d5a3e2c1b0a99887766554433221100ffeeddccbbaa99887766554433221100")}
	sig := bytes.Repeat([]byte{0x30}, 71)
	pemBytes := bytes.Repeat([]byte("MIIC1jCCAl2gAwIBAgIUXq1dB0aA0Rr6k0bq2x4jZ8d8g2owCgYIKoZIzj0EAwMw\n"), 16)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := canonicalBody(h, sig, pemBytes); err != nil {
			b.Fatal(err)
		}
	}
}
