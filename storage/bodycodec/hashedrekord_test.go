package bodycodec

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
)

// hrBody is a hashedrekord v0.0.1 body in the log's canonical form with
// the given text for its values.
func hrBody(algorithm, digest, sig, key string) []byte {
	return []byte(hrHead + algorithm + hrValue + digest + hrSignature + sig + hrKey + key + hrTail)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestHashedRekordFields: canonical hashedrekord bodies are stored as their
// fields (every digest algorithm, a PEM key or certificate kept as DER,
// a verifier that is not PEM kept as it is) and read back exactly; any
// other text of the same values is left to zstd, and reads back exactly
// too.
func TestHashedRekordFields(t *testing.T) {
	c := newCodec(t)
	sig := b64(bytes.Repeat([]byte{0x30, 0x45}, 36))
	d256, d384, d512 := strings.Repeat("ab", 32), strings.Repeat("cd", 48), strings.Repeat("ef", 64)
	der := bytes.Repeat([]byte{0x30, 0x59, 0x13}, 30)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bytes.Repeat(der, 8)})
	key := b64(keyPEM)
	crlf := b64(bytes.ReplaceAll(keyPEM, []byte("\n"), []byte("\r\n")))
	for _, tc := range []struct {
		name string
		body []byte
		want Format
	}{
		{"sha256, PEM public key", hrBody("sha256", d256, sig, key), HashedRekordV1},
		{"sha384", hrBody("sha384", d384, sig, key), HashedRekordV1},
		{"sha512", hrBody("sha512", d512, sig, key), HashedRekordV1},
		{"certificate", hrBody("sha256", d256, sig, b64(certPEM)), HashedRekordV1},
		{"another PEM type", hrBody("sha256", d256, sig, b64(pem.EncodeToMemory(&pem.Block{Type: "EC PUBLIC KEY", Bytes: der}))), HashedRekordV1},
		{"PEM with CRLF", hrBody("sha256", d256, sig, crlf), HashedRekordV1},
		{"PEM with headers", hrBody("sha256", d256, sig, b64(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"a": "b"}, Bytes: der}))), HashedRekordV1},
		{"not PEM", hrBody("sha256", d256, sig, b64(bytes.Repeat([]byte("k"), 300))), HashedRekordV1},
		{"empty signature and key", hrBody("sha256", d256, "", ""), HashedRekordV1},
		{"upper-case hex", hrBody("sha256", strings.ToUpper(d256), sig, key), ZstdV1},
		{"digest too short", hrBody("sha256", d256[2:], sig, key), ZstdV1},
		{"digest of another algorithm's size", hrBody("sha256", d384, sig, key), ZstdV1},
		{"unknown algorithm", hrBody("sha1", d256, sig, key), ZstdV1},
		{"base64 without padding", hrBody("sha256", d256, strings.TrimRight(b64([]byte("sig.")), "="), key), ZstdV1},
		{"base64 with a newline", hrBody("sha256", d256, sig[:8]+`\n`+sig[8:], key), ZstdV1},
		{"URL base64", hrBody("sha256", d256, strings.NewReplacer("+", "-", "/", "_").Replace(b64(bytes.Repeat([]byte{0xfb, 0xff}, 40))), key), ZstdV1},
		{"a space", bytes.Replace(hrBody("sha256", d256, sig, key), []byte(`":"`), []byte(`": "`), 1), ZstdV1},
		{"trailing newline", append(hrBody("sha256", d256, sig, key), '\n'), ZstdV1},
		{"another field", bytes.Replace(hrBody("sha256", d256, sig, key), []byte(hrTail), []byte(`"}},"x":1}}`), 1), ZstdV1},
		{"a quote in a value", hrBody("sha256", d256, sig, `a"b`), ZstdV1},
		{"another apiVersion", bytes.Replace(hrBody("sha256", d256, sig, key), []byte("0.0.1"), []byte("0.0.2"), 1), ZstdV1},
	} {
		stored, f := c.Encode(tc.body)
		if f != tc.want {
			t.Errorf("%s: format %d, want %d", tc.name, f, tc.want)
		}
		got, err := c.Decode(stored, f)
		if err != nil || !bytes.Equal(got, tc.body) {
			t.Errorf("%s: round trip: %v\n got %s\nwant %s", tc.name, err, got, tc.body)
		}
		if f == HashedRekordV1 && len(stored) >= len(tc.body)*3/4 {
			t.Errorf("%s: %d bytes stored for %d", tc.name, len(stored), len(tc.body))
		}
	}
}

// TestHashedRekordDecodeRefuses: stored fields that are not what Encode
// writes fail with ErrCorrupt.
func TestHashedRekordDecodeRefuses(t *testing.T) {
	c := newCodec(t)
	good, f := c.Encode(generated(t, 1, false)[0].body)
	if f != HashedRekordV1 {
		t.Fatalf("format %d", f)
	}
	for _, tc := range []struct {
		name   string
		stored []byte
	}{
		{"empty", nil},
		{"unknown algorithm", append([]byte{0x03}, good[1:]...)},
		{"unknown verifier kind", append([]byte{0x30}, good[1:]...)},
		{"digest cut", good[:20]},
		{"no signature length", good[:33]},
		{"signature longer than the rest", append(append(slices33(good), 0xff, 0x01), 1, 2, 3)},
		{"too long", make([]byte, MaxBodySize+1)},
		{"decodes past MaxBodySize", append(append([]byte{0x20}, make([]byte, 32)...), append([]byte{0}, make([]byte, MaxBodySize-100)...)...)},
	} {
		if got, err := c.Decode(tc.stored, HashedRekordV1); err == nil {
			t.Errorf("%s: decoded %d bytes", tc.name, len(got))
		}
	}
}

func slices33(b []byte) []byte { return append([]byte(nil), b[:33]...) }

// FuzzHashedRekord: Encode of any text either leaves it to another format
// or stores it as fields that decode to it exactly, and never panics.
func FuzzHashedRekord(f *testing.F) {
	for _, s := range append(generated(f, 2, false), generated(f, 1, true)...) {
		f.Add(s.body)
	}
	f.Add(hrBody("sha512", strings.Repeat("00", 64), "", ""))
	f.Fuzz(func(t *testing.T, body []byte) {
		stored, ok := encodeHashedRekord(body)
		if !ok {
			return
		}
		got, err := decodeHashedRekord(stored)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("stored as fields, read back %q, %v", got, err)
		}
	})
}
