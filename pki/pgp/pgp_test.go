package pgp

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// entities are generated once: RSA key generation is slow.
var entities = sync.OnceValues(func() (map[string]*openpgp.Entity, error) {
	out := map[string]*openpgp.Entity{}
	for name, cfg := range map[string]*packet.Config{
		"rsa":     {Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048},
		"ed25519": {Algorithm: packet.PubKeyAlgoEdDSA},
		"ecdsa":   {Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP256},
	} {
		e, err := openpgp.NewEntity("Gen "+name, "", name+"@Example.com", cfg)
		if err != nil {
			return nil, err
		}
		out[name] = e
	}
	return out, nil
})

func entity(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	es, err := entities()
	if err != nil {
		t.Fatal(err)
	}
	return es[name]
}

func armoredPublic(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, map[string]string{"Comment": "generated"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.Bytes()
}

func binaryPublic(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func detachSign(t testing.TB, e *openpgp.Entity, msg []byte, armored bool) []byte {
	t.Helper()
	var b bytes.Buffer
	sign := openpgp.DetachSign
	if armored {
		sign = openpgp.ArmoredDetachSign
	}
	if err := sign(&b, e, bytes.NewReader(msg), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGnuPGVectors checks keys and signatures made by GnuPG 2.2 (see
// testdata/README.md): armored and binary keys, armored, binary and text-mode
// signatures.
func TestGnuPGVectors(t *testing.T) {
	msg := readFile(t, "artifact.txt")
	tests := []struct {
		key, sig string
		wantErr  string
	}{
		{"ed25519.pub.asc", "artifact.txt.ed25519.asc", ""},
		{"ed25519.pub.asc", "artifact.txt.ed25519.sig", ""},
		{"ed25519.pub.asc", "artifact.txt.ed25519-text.asc", ""},
		{"ed25519.pub.gpg", "artifact.txt.ed25519.sig", ""},
		{"ed25519.private.asc", "artifact.txt.ed25519.asc", ""},
		{"rsa.pub.asc", "artifact.txt.rsa.sig", ""},
		{"rsa.pub.asc", "artifact.txt.ed25519.sig", "openpgp: signature made by unknown entity"},
		{"ed25519.pub.asc", "artifact.txt.rsa.sig", "openpgp: signature made by unknown entity"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.sig, func(t *testing.T) {
			k, err := ParsePublicKey(readFile(t, tt.key))
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseSignature(readFile(t, tt.sig))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Verify(msg, k)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Verify: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := s.Verify(append(bytes.Clone(msg), 'x'), k); err == nil {
				t.Fatal("verified a tampered message")
			}
		})
	}
}

// TestCanonicalKey: Rekor's canonical key is go-crypto's re-serialization of
// every entity in one armored PUBLIC KEY BLOCK without headers (or a trailing
// newline). testdata/ed25519.canonical.asc pins it; it carries exactly the
// packets of GnuPG's own export (checked here packet by packet), written with
// new-format packet headers where GnuPG writes old-format ones. The binary
// export and the private key give the same bytes.
func TestCanonicalKey(t *testing.T) {
	want := readFile(t, "ed25519.canonical.asc")
	if got, gpg := packets(t, want), packets(t, readFile(t, "ed25519.pub.asc")); !slices.EqualFunc(got, gpg, func(a, b *packet.OpaquePacket) bool {
		return a.Tag == b.Tag && bytes.Equal(a.Contents, b.Contents)
	}) {
		t.Fatal("golden canonical key does not hold GnuPG's packets")
	}
	for _, name := range []string{"ed25519.pub.asc", "ed25519.pub.gpg", "ed25519.private.asc", "ed25519.canonical.asc"} {
		t.Run(name, func(t *testing.T) {
			k, err := ParsePublicKey(readFile(t, name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("canonical key\n got %q\nwant %q", got, want)
			}
		})
	}
}

// packets lists the packets of an armored block.
func packets(t testing.TB, armored []byte) []*packet.OpaquePacket {
	t.Helper()
	blk, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		t.Fatal(err)
	}
	var out []*packet.OpaquePacket
	r := packet.NewOpaqueReader(blk.Body)
	for {
		p, err := r.Next()
		if err != nil {
			return out
		}
		out = append(out, p)
	}
}

func TestEmails(t *testing.T) {
	twoBlocks := append(readFile(t, "ed25519.pub.asc"), readFile(t, "rsa.pub.asc")...)
	tests := []struct {
		name string
		key  []byte
		want []string
	}{
		{"gnupg", readFile(t, "ed25519.pub.asc"), []string{"Tabula.Test@Example.com"}},
		{"two armored blocks", twoBlocks, []string{"Tabula.Test@Example.com", "rsa@example.org"}},
		{"generated", armoredPublic(t, entity(t, "rsa")), []string{"rsa@Example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePublicKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.Emails(); !slices.Equal(got, tt.want) {
				t.Fatalf("emails %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGenerated signs with go-crypto keys of each algorithm, in every
// key/signature encoding, and checks verification, tampering and the
// canonical forms.
func TestGenerated(t *testing.T) {
	msg := []byte("tabula pgp generated artifact\n")
	for _, alg := range []string{"rsa", "ed25519", "ecdsa"} {
		e := entity(t, alg)
		for _, keyEnc := range []string{"armored", "binary"} {
			for _, sigEnc := range []string{"armored", "binary"} {
				t.Run(alg+"/"+keyEnc+"-key/"+sigEnc+"-sig", func(t *testing.T) {
					keyBytes := binaryPublic(t, e)
					if keyEnc == "armored" {
						keyBytes = armoredPublic(t, e)
					}
					sigBytes := detachSign(t, e, msg, sigEnc == "armored")
					k, err := ParsePublicKey(keyBytes)
					if err != nil {
						t.Fatal(err)
					}
					s, err := ParseSignature(sigBytes)
					if err != nil {
						t.Fatal(err)
					}
					if err := s.Verify(msg, k); err != nil {
						t.Fatalf("Verify: %v", err)
					}
					if err := s.Verify(msg[1:], k); err == nil {
						t.Fatal("verified a tampered message")
					}
					// The canonical key is a fixed point and has no armor headers.
					ck, err := k.Canonical()
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(ck, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n")) {
						t.Fatalf("canonical key does not start with a bare armor header: %q", ck)
					}
					k2, err := ParsePublicKey(ck)
					if err != nil {
						t.Fatal(err)
					}
					ck2, _ := k2.Canonical()
					if !bytes.Equal(ck, ck2) {
						t.Fatal("canonical key is not a fixed point")
					}
					// The canonical signature: armored input kept as is, binary
					// input armored; either way it verifies again.
					cs, err := s.Canonical()
					if err != nil {
						t.Fatal(err)
					}
					if sigEnc == "armored" && !bytes.Equal(cs, sigBytes) {
						t.Fatal("armored signature was not kept as sent")
					}
					if !bytes.HasPrefix(cs, []byte("-----BEGIN PGP SIGNATURE-----")) {
						t.Fatalf("canonical signature is not armored: %q", cs)
					}
					s2, err := ParseSignature(cs)
					if err != nil {
						t.Fatal(err)
					}
					if err := s2.Verify(msg, k2); err != nil {
						t.Fatalf("canonical signature does not verify: %v", err)
					}
				})
			}
		}
	}
}

// TestBinarySignatureCanonical pins the armoring of a binary signature:
// go-crypto's armor, no headers, 64 columns, CRC-24.
func TestBinarySignatureCanonical(t *testing.T) {
	bin := readFile(t, "artifact.txt.ed25519.sig")
	s, err := ParseSignature(bin)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	blk, err := armor.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(blk.Body); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body.Bytes(), bin) || len(blk.Header) != 0 || blk.Type != "PGP SIGNATURE" {
		t.Fatalf("canonical signature does not wrap the input: %q", got)
	}
	lines := strings.Split(string(got), "\n")
	if lines[0] != "-----BEGIN PGP SIGNATURE-----" || lines[1] != "" || len(lines[2]) != 64 {
		t.Fatalf("unexpected armor layout: %q", got)
	}
}

// TestMultipleKeys: several armored blocks concatenate into one key ring,
// and a signature by any of them verifies.
func TestMultipleKeys(t *testing.T) {
	msg := readFile(t, "artifact.txt")
	ring := append(readFile(t, "ed25519.pub.asc"), readFile(t, "rsa.pub.asc")...)
	ring = append(ring, "trailing text after the last block is ignored\n"...)
	k, err := ParsePublicKey(ring)
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []string{"artifact.txt.ed25519.sig", "artifact.txt.rsa.sig"} {
		s, err := ParseSignature(readFile(t, sig))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(msg, k); err != nil {
			t.Fatalf("%s: %v", sig, err)
		}
	}
	ck, err := k.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(ck), "-----BEGIN PGP PUBLIC KEY BLOCK-----"); n != 1 {
		t.Fatalf("canonical key ring has %d armor blocks, want 1", n)
	}
}

// v3Packet builds a version 3 signature packet (RFC 4880 §5.2.2) by e's RSA
// key over msg, as GnuPG 1.x --force-v3-sigs did.
func v3Packet(t testing.TB, e *openpgp.Entity, msg []byte, sigType packet.SignatureType, created time.Time) []byte {
	t.Helper()
	priv, ok := e.PrivateKey.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("entity key is %T, want RSA", e.PrivateKey.PrivateKey)
	}
	h := sha256.New()
	h.Write(msg)
	var trailer [5]byte
	trailer[0] = byte(sigType)
	binary.BigEndian.PutUint32(trailer[1:], uint32(created.Unix()))
	h.Write(trailer[:])
	digest := h.Sum(nil)
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte{3, 5}
	body = append(body, trailer[:]...)
	body = binary.BigEndian.AppendUint64(body, e.PrimaryKey.KeyId)
	body = append(body, byte(packet.PubKeyAlgoRSA), 8) // RSA, SHA-256
	body = append(body, digest[0], digest[1])
	body = binary.BigEndian.AppendUint16(body, uint16(priv.N.BitLen()))
	body = append(body, sig...)
	// New-format header, tag 2, two-octet length (192 ≤ len < 8384).
	n := len(body) - 192
	out := []byte{0xc2, byte(n>>8) + 192, byte(n)}
	return append(out, body...)
}

// TestV3Signature: version 3 signatures, which go-crypto no longer parses,
// still verify (binary and text documents), and fail when tampered.
func TestV3Signature(t *testing.T) {
	e := entity(t, "rsa")
	key, err := ParsePublicKey(armoredPublic(t, e))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("line one\nline two\n")
	created := time.Unix(1262304000, 0)
	tests := []struct {
		name    string
		sig     []byte
		msg     []byte
		wantErr string
	}{
		{"binary", v3Packet(t, e, msg, packet.SigTypeBinary, created), msg, ""},
		// A text signature is made over CRLF line ends and verifies over LF.
		{"text", v3Packet(t, e, []byte("line one\r\nline two\r\n"), packet.SigTypeText, created), msg, ""},
		{"tampered message", v3Packet(t, e, msg, packet.SigTypeBinary, created), []byte("line one\n"), "openpgp: invalid signature: hash tag doesn't match"},
		{"marker first", append([]byte{0xca, 0x03, 'P', 'G', 'P'}, v3Packet(t, e, msg, packet.SigTypeBinary, created)...), msg, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSignature(tt.sig)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Verify(tt.msg, key)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Verify: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	// A corrupted RSA value passes the hash tag check and fails the RSA check.
	bad := v3Packet(t, e, msg, packet.SigTypeBinary, created)
	bad[len(bad)-1] ^= 1
	s, err := ParseSignature(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(msg, key); err == nil || err.Error() != "openpgp: invalid signature: RSA verification failure" {
		t.Fatalf("Verify: %v", err)
	}
}

func TestRejectKeys(t *testing.T) {
	sigArmor := readFile(t, "artifact.txt.ed25519.asc")
	pub := string(readFile(t, "ed25519.pub.asc"))
	corrupt := strings.Replace(pub, "mDMEaw3pyRYJKwYBBAHaRw8BAQdA", "mDMEaw3pyRYJKwYBBAHaRw8BAQdB", 1)
	strayEnd := pub + "stray line\n-----END PGP PUBLIC KEY BLOCK-----\n"
	tests := []struct {
		name string
		key  []byte
		want string // prefix
	}{
		{"empty", nil, "unable to read PGP public key: EOF"},
		{"short", []byte("-----BEGIN"), "unable to read PGP public key: EOF"},
		{"signature block as key", sigArmor, "invalid PGP type detected"},
		{"garbage binary", []byte("this is not an OpenPGP key at all"), "error reading binary PGP public key: "},
		{"corrupt armored", []byte(corrupt), "error reading PGP public key: "},
		{"stray END line", []byte(strayEnd), "invalid PGP public key provided: "},
		{"armor of a non-key", []byte(strings.Replace(string(sigArmor), "SIGNATURE", "PUBLIC KEY BLOCK", 2)), "error reading PGP public key: "},
		{"leading whitespace", append([]byte("\n"), pub...), "error reading binary PGP public key: "},
		{"begin without end", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n"), "no PGP public keys could be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePublicKey(tt.key)
			if err == nil {
				t.Fatalf("accepted: %v", k)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestRejectSignatures(t *testing.T) {
	keyArmor := readFile(t, "ed25519.pub.asc")
	userID := []byte{0xcd, 0x03, 'a', 'b', 'c'} // a user ID packet
	tests := []struct {
		name string
		sig  []byte
		want string // prefix
	}{
		{"empty", nil, "invalid PGP signature: EOF"},
		{"key block as signature", keyArmor, "invalid PGP signature provided"},
		{"garbage", []byte("not a signature"), "invalid PGP signature: "},
		{"non-signature packet", userID, "invalid PGP signature: openpgp: invalid data: non signature packet found"},
		{"marker only", []byte{0xca, 0x03, 'P', 'G', 'P'}, "invalid PGP signature: EOF"},
		{"truncated v3", []byte{0xc2, 0x02, 3, 5}, "invalid PGP signature: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSignature(tt.sig)
			if err == nil {
				t.Fatalf("accepted: %v", s)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestUninitialized(t *testing.T) {
	var k PublicKey
	if _, err := k.Canonical(); err == nil {
		t.Error("Canonical of a zero key succeeded")
	}
	var s Signature
	if _, err := s.Canonical(); err == nil {
		t.Error("Canonical of a zero signature succeeded")
	}
	if err := s.Verify(nil, &k); err == nil {
		t.Error("Verify of a zero signature succeeded")
	}
	good, err := ParseSignature(readFile(t, "artifact.txt.ed25519.sig"))
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Verify(nil, nil); err == nil {
		t.Error("Verify with a nil key succeeded")
	}
}

func FuzzParsePublicKey(f *testing.F) {
	for _, name := range []string{"ed25519.pub.asc", "ed25519.pub.gpg", "rsa.pub.asc", "ed25519.private.asc", "artifact.txt.ed25519.asc"} {
		f.Add(readFile(f, name))
	}
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePublicKey(b)
		if err != nil {
			return
		}
		k.Emails()
		c, err := k.Canonical()
		if err != nil {
			return
		}
		// A canonical key parses again to itself.
		k2, err := ParsePublicKey(c)
		if err != nil {
			t.Fatalf("canonical key does not parse: %v\n%q", err, c)
		}
		c2, err := k2.Canonical()
		if err != nil || !bytes.Equal(c, c2) {
			t.Fatalf("canonical key is not a fixed point: %v", err)
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	for _, name := range []string{"artifact.txt.ed25519.asc", "artifact.txt.ed25519.sig", "artifact.txt.rsa.sig", "artifact.txt.ed25519-text.asc"} {
		f.Add(readFile(f, name))
	}
	f.Add([]byte{0xc2, 0x02, 3, 5})
	f.Add([]byte{0xca, 0x03, 'P', 'G', 'P', 0xc2, 0x01, 4})
	ring := append(readFile(f, "ed25519.pub.asc"), readFile(f, "rsa.pub.asc")...)
	key, err := ParsePublicKey(ring)
	if err != nil {
		f.Fatal(err)
	}
	msg := readFile(f, "artifact.txt")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSignature(b)
		if err != nil {
			return
		}
		verified := s.Verify(msg, key) == nil
		c, err := s.Canonical()
		if err != nil {
			t.Fatalf("Canonical: %v", err)
		}
		s2, err := ParseSignature(c)
		if err != nil {
			t.Fatalf("canonical signature does not parse: %v\n%q", err, c)
		}
		if verified && s2.Verify(msg, key) != nil {
			t.Fatal("canonical signature no longer verifies")
		}
	})
}
