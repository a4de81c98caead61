package bodycodec

// How dictionary v1 (dict-v1.txt) was made, and the test that pins it:
// `go test ./storage/bodycodec -run TestDictionaryV1 -args -mkdict` writes
// it. It is the constant parts of the bodies Tabula stores, least likely
// first (zstd refers to the end of a raw dictionary with the shortest
// offsets), one part a line:
//
//  1. runs of base64 common to the certificates of at least three signers
//     (SANs) among the public-good bodies kept in types/*/testdata: the
//     PEM header and footer, Fulcio's issuer, algorithm identifiers,
//     extensions' OIDs;
//  2. for each public key type (RSA 2048/3072/4096, ECDSA P-521/P-384,
//     Ed25519, ECDSA P-256): the base64 of a PUBLIC KEY PEM that every key
//     of the type shares at its start and at its end, and the base64 of the
//     DER SubjectPublicKeyInfo's constant prefix (Rekor v2's rawBytes);
//  3. the JSON skeletons of every kind and apiVersion in types/*/testdata
//     (rekord, intoto 0.0.1 and 0.0.2, dsse, hashedrekord 0.0.2, then
//     hashedrekord 0.0.1 with each hash algorithm), long strings emptied;
//     and Rekor v2's key details;
//  4. last, the most common body's constant text in one piece: a
//     hashedrekord 0.0.1 skeleton with the P-256 PEM's prefix and suffix.
//
// The constant runs of keys are found by comparing several random keys of
// a type, in whole base64 groups: regenerating gives another file only with
// negligible odds (every sample sharing a whole group of random bits).

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var mkdict = flag.Bool("mkdict", false, "write dict-v1.txt from the generator instead of checking it")

// dictV1SHA256 pins dictionary v1: rows of Format ZstdV1 depend on it.
const dictV1SHA256 = "a51ebf9fe12d039ab82f42571505447264fba8d538ae5431d6bb99fbbeab760f"

func TestDictionaryV1(t *testing.T) {
	got := makeDictionary(t)
	if *mkdict {
		if err := os.WriteFile("dict-v1.txt", got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote dict-v1.txt: %d bytes, sha256 %x", len(got), sha256.Sum256(got))
		return
	}
	if sum := sha256.Sum256(dictV1); hex.EncodeToString(sum[:]) != dictV1SHA256 {
		t.Fatalf("dict-v1.txt has sha256 %x, want %s: a released dictionary must never change (make a new Format)", sum, dictV1SHA256)
	}
	if !bytes.Equal(got, dictV1) {
		t.Errorf("the generator no longer makes dict-v1.txt (%d bytes, want %d): keep it making v1, or make v2 a new Format", len(got), len(dictV1))
	}
}

// repoBodies are the canonical bodies kept in the repository, by file.
func repoBodies(t testing.TB) map[string][]byte {
	t.Helper()
	globs := []string{
		"../../types/hashedrekord/testdata/*body.json",
		"../../types/hashedrekord/testdata/public-good/*.body.json",
		"../../types/rekorv2/testdata/public-good/*.body.json",
		"../../types/intoto/testdata/golden/*.body.json",
		"../../types/dsse/testdata/golden/*.body.json",
		"../../types/rekord/testdata/*.body.json",
	}
	out := make(map[string][]byte)
	for _, g := range globs {
		files, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no files match %s", g)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(f, "../../")] = bytes.TrimSpace(b)
		}
	}
	return out
}

func makeDictionary(t testing.TB) []byte {
	t.Helper()
	bodies := repoBodies(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range bodies {
			if !yield(n) {
				return
			}
		}
	})
	var parts []string
	parts = append(parts, fulcioRuns(t, bodies, names)...)

	keys := []struct {
		name string
		make func() any
	}{
		{"rsa4096", func() any { return fakeRSA(4096) }},
		{"rsa3072", func() any { return fakeRSA(3072) }},
		{"rsa2048", func() any { return fakeRSA(2048) }},
		{"p521", func() any { return ecKey(elliptic.P521()) }},
		{"p384", func() any { return ecKey(elliptic.P384()) }},
		{"ed25519", func() any {
			pub, _, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				panic(err)
			}
			return pub
		}},
	}
	for _, k := range keys {
		parts = append(parts, keyConstants(t, k.make)...)
	}

	// Skeletons, hashedrekord 0.0.1 last.
	var skels, last []string
	seen := make(map[string]bool)
	for _, n := range names {
		s := skeleton(t, bodies[n])
		if seen[s] {
			continue
		}
		seen[s] = true
		if strings.HasPrefix(s, `{"apiVersion":"0.0.1","kind":"hashedrekord"`) {
			last = append(last, s)
		} else {
			skels = append(skels, s)
		}
	}
	parts = append(parts, skels...)
	parts = append(parts, "PKIX_RSA_PKCS1V15_4096_SHA256 PKIX_RSA_PKCS1V15_3072_SHA256 PKIX_RSA_PKCS1V15_2048_SHA256 "+
		"PKIX_ECDSA_P521_SHA_512 PKIX_ECDSA_P384_SHA_384 PKIX_ED25519_PH SHA2_512 SHA2_384")
	for _, alg := range []string{"sha512", "sha384"} {
		for _, s := range last {
			parts = append(parts, strings.Replace(s, `"algorithm":"sha256"`, `"algorithm":"`+alg+`"`, 1))
		}
	}
	parts = append(parts, last...)

	p256 := keyConstants(t, func() any { return ecKey(elliptic.P256()) })
	parts = append(parts, p256...)
	// p256 is {PEM prefix, PEM suffix, DER prefix}.
	parts = append(parts, `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":""}},`+
		`"signature":{"content":"","publicKey":{"content":"`+p256[0]+"\n"+p256[1]+`"}}}}`)
	return []byte(strings.Join(parts, "\n") + "\n")
}

func ecKey(c elliptic.Curve) any {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k.Public()
}

// fakeRSA is an RSA public key of the given size with a random modulus:
// only its encoding matters here, and generating real keys is slow.
func fakeRSA(bits int) any {
	b := make([]byte, bits/8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[0] |= 0xc0
	b[len(b)-1] |= 1
	return &rsa.PublicKey{N: new(big.Int).SetBytes(b), E: 65537}
}

// keyConstants returns what every key of a type shares: the start and the
// end of the base64 of its PUBLIC KEY PEM, and the start of the base64 of
// its DER SubjectPublicKeyInfo.
func keyConstants(t testing.TB, gen func() any) []string {
	t.Helper()
	const samples = 12
	var pems, ders []string
	for range samples {
		der, err := x509.MarshalPKIXPublicKey(gen())
		if err != nil {
			t.Fatal(err)
		}
		p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		pems = append(pems, base64.StdEncoding.EncodeToString(p))
		ders = append(ders, base64.StdEncoding.EncodeToString(der))
	}
	// Whole base64 groups only: a character that encodes random bits along
	// with constant ones may still be shared by every sample, by chance.
	whole := func(s string, fromEnd bool) string {
		if fromEnd {
			return s[len(s)%4:]
		}
		return s[:len(s)/4*4]
	}
	return []string{whole(commonPrefix(pems), false), whole(commonSuffix(pems), true), whole(commonPrefix(ders), false)}
}

func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		n := 0
		for n < len(p) && n < len(s) && p[n] == s[n] {
			n++
		}
		p = p[:n]
	}
	return p
}

func commonSuffix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		n := 0
		for n < len(p) && n < len(s) && p[len(p)-1-n] == s[len(s)-1-n] {
			n++
		}
		p = p[len(p)-n:]
	}
	return p
}

var hexString = regexp.MustCompile(`^[0-9a-f]{16,}$`)

// skeleton is body with every string that varies from entry to entry (40
// characters or more, or 16 hex digits or more) emptied, in canonical form.
func skeleton(t testing.TB, body []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var blank func(any) any
	blank = func(v any) any {
		switch v := v.(type) {
		case string:
			if len(v) >= 40 || hexString.MatchString(v) {
				return ""
			}
		case map[string]any:
			for k, e := range v {
				v[k] = blank(e)
			}
		case []any:
			for i, e := range v {
				v[i] = blank(e)
			}
		}
		return v
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(blank(v)); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// fulcioRuns returns the runs of at least 12 characters of base64 PEM
// common to the certificates of at least three identities (SANs) in the
// bodies, each once, in the order they were found: what Fulcio puts in
// every certificate, not what one signer's certificates share.
func fulcioRuns(t testing.TB, bodies map[string][]byte, names []string) []string {
	t.Helper()
	var certs, idents []string
	seen := make(map[string]bool)
	for _, n := range names {
		var b struct {
			Kind string `json:"kind"`
			Spec struct {
				Signature struct {
					PublicKey struct {
						Content []byte `json:"content"`
					} `json:"publicKey"`
				} `json:"signature"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(bodies[n], &b); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		blk, _ := pem.Decode(b.Spec.Signature.PublicKey.Content)
		if b.Kind != "hashedrekord" || blk == nil || blk.Type != "CERTIFICATE" || seen[string(blk.Bytes)] {
			continue
		}
		seen[string(blk.Bytes)] = true
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		certs = append(certs, base64.StdEncoding.EncodeToString(pem.EncodeToMemory(blk)))
		idents = append(idents, fmt.Sprint(cert.EmailAddresses, cert.URIs))
	}
	const minRun, minIdents = 12, 3
	var runs []string
	kept := make(map[string]bool)
	for i := range certs {
		for j := i + 1; j < len(certs); j++ {
			for _, r := range commonRuns(certs[i], certs[j], minRun) {
				if kept[r] {
					continue
				}
				in := make(map[string]bool)
				for k, c := range certs {
					if strings.Contains(c, r) {
						in[idents[k]] = true
					}
				}
				if len(in) >= minIdents {
					kept[r] = true
					runs = append(runs, r)
				}
			}
		}
	}
	if len(runs) == 0 {
		t.Fatalf("no run common to %d identities among %d certificates", minIdents, len(certs))
	}
	// Drop a run inside another.
	var out []string
	for _, r := range runs {
		inside := false
		for _, o := range runs {
			if o != r && strings.Contains(o, r) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, r)
		}
	}
	return out
}

// commonRuns returns the maximal runs of at least k bytes of b that occur
// in a, scanning b from left to right and taking the longest at each step.
func commonRuns(a, b string, k int) []string {
	at := make(map[string][]int)
	for i := 0; i+k <= len(a); i++ {
		at[a[i:i+k]] = append(at[a[i:i+k]], i)
	}
	var runs []string
	for j := 0; j+k <= len(b); {
		best := 0
		for _, i := range at[b[j:j+k]] {
			n := k
			for i+n < len(a) && j+n < len(b) && a[i+n] == b[j+n] {
				n++
			}
			best = max(best, n)
		}
		if best == 0 {
			j++
			continue
		}
		runs = append(runs, b[j:j+best])
		j += best
	}
	return runs
}

func TestCommonRuns(t *testing.T) {
	for _, c := range []struct {
		a, b string
		k    int
		want []string
	}{
		{"xxabcdefyy", "zzabcdefzz", 4, []string{"abcdef"}},
		{"abcdef", "ghijkl", 2, nil},
		{"abcXdefg", "abcYdefg", 3, []string{"abc", "defg"}},
		{"abcXdefg", "abcYdefg", 4, []string{"defg"}},
	} {
		if got := commonRuns(c.a, c.b, c.k); !slices.Equal(got, c.want) {
			t.Errorf("commonRuns(%q, %q, %d) = %q, want %q", c.a, c.b, c.k, got, c.want)
		}
	}
	if p, s := commonPrefix([]string{"abcd", "abce", "abx"}), commonSuffix([]string{"xbcd", "ycd", "zzcd"}); p != "ab" || s != "cd" {
		t.Errorf("commonPrefix, commonSuffix = %q, %q, want ab, cd", p, s)
	}
}
