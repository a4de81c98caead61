package api_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/testentry"
)

// hostileCase is one bad request and the answer Rekor v1 gives it.
type hostileCase struct {
	name, method, path string
	body               []byte
	code               int
	// msg is a substring of the error message; "" means the response has
	// an empty body (the entry GETs' 404, as in Rekor).
	msg     string
	chunked bool // send the body without Content-Length
}

// hashedRekord is a proposed hashedrekord entry built from its parts, for
// entries testentry would refuse to make.
func hashedRekord(alg, digestHex string, sig, pemText []byte) []byte {
	b, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1",
		"kind":       "hashedrekord",
		"spec": map[string]any{
			"data": map[string]any{"hash": map[string]any{"algorithm": alg, "value": digestHex}},
			"signature": map[string]any{
				"content":   base64.StdEncoding.EncodeToString(sig),
				"publicKey": map[string]any{"content": base64.StdEncoding.EncodeToString(pemText)},
			},
		},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// specWith is a hashedrekord entry whose spec is the raw JSON given.
func specWith(spec string) []byte {
	return []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":` + spec + `}`)
}

// keyPEM is the PUBLIC KEY PEM of pub.
func keyPEM(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// selfSigned is a self-signed certificate for key, valid from notBefore to notAfter.
func selfSigned(t *testing.T, key crypto.Signer, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(42),
		Subject:        pkix.Name{CommonName: "hostile"},
		NotBefore:      notBefore,
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{"hostile@example.com"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// signedWith is a hashedrekord entry for artifact signed by key, carrying pemText.
func signedWith(t *testing.T, key crypto.Signer, pemText []byte, artifact string) []byte {
	t.Helper()
	s, err := testentry.NewSignerFromKey(key, pemText)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.HashedRekord([]byte(artifact))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nested is n opening brackets, a value and n closing ones.
func nested(open, value, closing string, n int) string {
	return strings.Repeat(open, n) + value + strings.Repeat(closing, n)
}

func hostileCases(t *testing.T) []hostileCase {
	t.Helper()
	const entries = "/api/v1/log/entries"
	const retrieve = "/api/v1/log/entries/retrieve"
	const index = "/api/v1/index/retrieve"

	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256PEM := keyPEM(t, p256.Public())
	good := signedWith(t, p256, p256PEM, "artifact")
	other := signedWith(t, p256, p256PEM, "other artifact")
	var goodMap, otherMap map[string]any
	if err := json.Unmarshal(good, &goodMap); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(other, &otherMap); err != nil {
		t.Fatal(err)
	}
	sigOf := func(m map[string]any) string {
		return m["spec"].(map[string]any)["signature"].(map[string]any)["content"].(string)
	}
	digest := sha256.Sum256([]byte("artifact"))
	digestHex := hex.EncodeToString(digest[:])
	goodSig, _ := base64.StdEncoding.DecodeString(sigOf(goodMap))
	otherSig, _ := base64.StdEncoding.DecodeString(sigOf(otherMap))

	// Weak or unsupported algorithms, each with a signature that verifies.
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d512 := sha512.Sum512([]byte("artifact"))
	p256sha512, err := ecdsa.SignASN1(rand.Reader, p256, d512[:])
	if err != nil {
		t.Fatal(err)
	}
	dsaPEM, err := os.ReadFile("testdata/hostile/dsa-2048-public.pem")
	if err != nil {
		t.Fatal(err)
	}
	dsaSig, err := os.ReadFile("testdata/hostile/dsa-2048-hello.sig")
	if err != nil {
		t.Fatal(err)
	}
	helloDigest := sha256.Sum256([]byte("hello\n"))

	// Certificates: expired, not yet valid, weak key, malformed, too long a chain.
	now := time.Now()
	expired := selfSigned(t, p256, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	rsaCert := selfSigned(t, rsa1024, now.Add(-time.Hour), now.Add(time.Hour))
	block, _ := pem.Decode(selfSigned(t, p256, now.Add(-time.Hour), now.Add(time.Hour)))
	truncatedCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes[:len(block.Bytes)/2]})
	chain11 := bytes.Repeat(selfSigned(t, p256, now.Add(-time.Hour), now.Add(time.Hour)), 11)
	privDER, err := x509.MarshalPKCS8PrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	garbagePEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("not DER at all")})
	unknownBlock := pem.EncodeToMemory(&pem.Block{Type: "SSH PUBLIC KEY", Bytes: []byte{1, 2, 3}})

	uuid := func(n int, c string) string { return entries + "/" + strings.Repeat(c, n) }
	hex64 := strings.Repeat("ab", 32)
	tooMany := func(n int) []byte {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("%064x", i)
		}
		b, _ := json.Marshal(map[string]any{"entryUUIDs": ids})
		return b
	}
	indexes := func(n int) []byte {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		b, _ := json.Marshal(map[string]any{"logIndexes": idx})
		return b
	}
	deepArrays := []byte(nested("[", "1", "]", 100_000))
	deepObjects := []byte(nested(`{"a":`, "1", "}", 100_000))
	big := bytes.Repeat([]byte("x"), api.DefaultMaxRequestBody+1)

	c := func(name, method, path string, body []byte, code int, msg string) hostileCase {
		return hostileCase{name: name, method: method, path: path, body: body, code: code, msg: msg}
	}
	return []hostileCase{
		// Malformed, truncated and wrongly typed JSON.
		c("truncated object", "POST", entries, []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}`), 400, "error processing entry"),
		c("truncated in a string", "POST", entries, good[:len(good)/2], 400, "unexpected EOF"),
		c("lone brace", "POST", entries, []byte(`}`), 400, "invalid character"),
		c("empty body", "POST", entries, nil, 422, "proposedEntry in body is required"),
		c("whitespace body", "POST", entries, []byte(" \n\t "), 422, "proposedEntry in body is required"),
		c("JSON array", "POST", entries, []byte(`[]`), 400, "cannot unmarshal array"),
		c("JSON string", "POST", entries, []byte(`"hashedrekord"`), 400, "cannot unmarshal string"),
		c("JSON number", "POST", entries, []byte(`12345`), 400, "cannot unmarshal number"),
		c("JSON null", "POST", entries, []byte(`null`), 422, `invalid kind value: ""`),
		c("empty object", "POST", entries, []byte(`{}`), 422, `invalid kind value: ""`),
		c("kind is a number", "POST", entries, []byte(`{"apiVersion":"0.0.1","kind":7,"spec":{}}`), 400, "cannot unmarshal number"),
		c("apiVersion is a list", "POST", entries, []byte(`{"apiVersion":["0.0.1"],"kind":"hashedrekord","spec":{}}`), 400, "cannot unmarshal array"),
		c("spec is a string", "POST", entries, specWith(`"spec"`), 400, "error processing entry"),
		// Rekor's request validation: spec is required (422).
		c("spec is null", "POST", entries, specWith(`null`), 422, "spec in body is required"),
		c("signature is a number", "POST", entries, specWith(`{"signature":1,"data":{"hash":{"algorithm":"sha256","value":"`+digestHex+`"}}}`), 400, "signature in body is required"),
		c("trailing garbage", "POST", entries, append(append([]byte{}, good...), []byte(" garbage")...), 400, "trailing data"),
		c("two JSON values", "POST", entries, append(append([]byte{}, good...), good...), 400, "trailing data"),
		c("byte order mark", "POST", entries, append([]byte("\xef\xbb\xbf"), good...), 400, "invalid character"),
		c("NUL bytes", "POST", entries, make([]byte, 64), 400, "invalid character"),
		c("invalid UTF-8 in base64", "POST", entries, specWith(`{"signature":{"content":"`+"\xff\xfe"+`","publicKey":{"content":"AAAA"}},"data":{"hash":{"algorithm":"sha256","value":"`+digestHex+`"}}}`), 400, "base64"),
		c("deeply nested arrays", "POST", entries, deepArrays, 400, "exceeded max depth"),
		c("deeply nested spec", "POST", entries, specWith(string(deepArrays)), 400, "exceeded max depth"),
		c("deeply nested objects", "POST", entries, deepObjects, 400, "exceeded max depth"),
		c("huge number in spec", "POST", entries, specWith(`{"x":1e999999999}`), 400, "is required"),

		// Unknown kinds and versions.
		c("unknown kind", "POST", entries, []byte(`{"apiVersion":"0.0.1","kind":"nope","spec":{}}`), 422, `invalid kind value: "nope"`),
		c("kind in other case", "POST", entries, []byte(`{"apiVersion":"0.0.1","kind":"HashedRekord","spec":{}}`), 422, `invalid kind value: "HashedRekord"`),
		// Rekor answers an apiVersion its kind lacks with 400 ("error
		// processing entry"); types.Registry maps it to ErrUnknownKind, 422.
		c("unknown version", "POST", entries, []byte(`{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{}}`), 400, "hashedrekord implementation for version '0.0.2' not found"),
		c("missing version", "POST", entries, []byte(`{"kind":"hashedrekord","spec":{}}`), 422, "apiVersion in body is required"),

		// Invalid base64 and missing parts.
		c("signature not base64", "POST", entries, specWith(`{"signature":{"content":"!!!","publicKey":{"content":"`+base64.StdEncoding.EncodeToString(p256PEM)+`"}},"data":{"hash":{"algorithm":"sha256","value":"`+digestHex+`"}}}`), 400, "failed parsing base64 data for signature content"),
		c("key not base64", "POST", entries, specWith(`{"signature":{"content":"`+sigOf(goodMap)+`","publicKey":{"content":"%%%"}},"data":{"hash":{"algorithm":"sha256","value":"`+digestHex+`"}}}`), 400, "failed parsing base64 data for public key content"),
		c("base64url signature", "POST", entries, specWith(`{"signature":{"content":"`+base64.RawURLEncoding.EncodeToString(append(goodSig, 0xfb, 0xff))+`","publicKey":{"content":"`+base64.StdEncoding.EncodeToString(p256PEM)+`"}},"data":{"hash":{"algorithm":"sha256","value":"`+digestHex+`"}}}`), 400, "base64"),
		c("no signature content", "POST", entries, hashedRekord("sha256", digestHex, nil, p256PEM), 400, "error processing entry"),
		c("no public key", "POST", entries, hashedRekord("sha256", digestHex, goodSig, nil), 400, "error processing entry"),

		// Digests.
		c("unknown hash algorithm", "POST", entries, hashedRekord("md5", digestHex[:32], goodSig, p256PEM), 400, "data.hash.algorithm"),
		c("digest too short", "POST", entries, hashedRekord("sha256", digestHex[:62], goodSig, p256PEM), 400, "error processing entry"),
		c("digest not hex", "POST", entries, hashedRekord("sha256", strings.Repeat("zz", 32), goodSig, p256PEM), 400, "error processing entry"),
		c("sha384 digest length for sha256", "POST", entries, hashedRekord("sha256", strings.Repeat("ab", 48), goodSig, p256PEM), 400, "error processing entry"),

		// Keys and certificates: malformed, expired, weak, unsupported.
		c("key not PEM", "POST", entries, hashedRekord("sha256", digestHex, goodSig, []byte("hello")), 400, "failure decoding PEM"),
		c("key PEM of garbage DER", "POST", entries, hashedRekord("sha256", digestHex, goodSig, garbagePEM), 400, "error processing entry"),
		c("private key instead of public", "POST", entries, hashedRekord("sha256", digestHex, goodSig, privPEM), 400, "error processing entry"),
		c("unknown PEM block type", "POST", entries, hashedRekord("sha256", digestHex, goodSig, unknownBlock), 400, "error processing entry"),
		c("key followed by junk", "POST", entries, hashedRekord("sha256", digestHex, goodSig, append(append([]byte{}, p256PEM...), "junk"...)), 400, "error processing entry"),
		c("truncated certificate", "POST", entries, hashedRekord("sha256", digestHex, goodSig, truncatedCert), 400, "error processing entry"),
		c("chain of 11 certificates", "POST", entries, hashedRekord("sha256", digestHex, goodSig, chain11), 400, "error processing entry"),
		c("expired certificate, wrong signature", "POST", entries, hashedRekord("sha256", digestHex, otherSig, expired), 400, "verifying signature"),
		c("RSA 1024 key", "POST", entries, signedWith(t, rsa1024, keyPEM(t, rsa1024.Public()), "artifact"), 400, "entry algorithms are not allowed"),
		c("RSA 1024 certificate", "POST", entries, signedWith(t, rsa1024, rsaCert, "artifact"), 400, "entry algorithms are not allowed"),
		c("ECDSA P-224 key", "POST", entries, signedWith(t, p224, keyPEM(t, p224.Public()), "artifact"), 400, "entry algorithms are not allowed"),
		c("DSA key", "POST", entries, hashedRekord("sha256", hex.EncodeToString(helloDigest[:]), dsaSig, dsaPEM), 400, "error processing entry"),
		c("P-256 with SHA-512", "POST", entries, hashedRekord("sha512", hex.EncodeToString(d512[:]), p256sha512, p256PEM), 400, "entry algorithms are not allowed"),

		// Signatures that do not match.
		c("signature of another artifact", "POST", entries, hashedRekord("sha256", digestHex, otherSig, p256PEM), 400, "verifying signature"),
		c("truncated signature", "POST", entries, hashedRekord("sha256", digestHex, goodSig[:len(goodSig)-5], p256PEM), 400, "verifying signature"),
		c("zero signature", "POST", entries, hashedRekord("sha256", digestHex, make([]byte, 64), p256PEM), 400, "verifying signature"),
		c("signature by another key", "POST", entries, signedWith(t, p256, selfSigned(t, p224, now.Add(-time.Hour), now.Add(time.Hour)), "artifact"), 400, "error processing entry"),

		// Oversized bodies: declared, and chunked without a length.
		c("body over the limit", "POST", entries, big, 413, "Request Entity Too Large"),
		{name: "chunked body over the limit", method: "POST", path: entries, body: big, chunked: true, code: 413, msg: "Request Entity Too Large"},
		{name: "chunked search over the limit", method: "POST", path: retrieve, body: big, chunked: true, code: 413, msg: "Request Entity Too Large"},
		c("index search over the limit", "POST", index, big, 413, "Request Entity Too Large"),

		// Entry IDs: wrong length, not hex, another tree's.
		c("uuid 63 hex", "GET", uuid(63, "a"), nil, 422, "entryUUID in path should match"),
		c("uuid 65 hex", "GET", uuid(65, "a"), nil, 422, "entryUUID in path should match"),
		c("uuid 81 hex", "GET", uuid(81, "a"), nil, 422, "entryUUID in path should match"),
		c("uuid 64 non-hex", "GET", uuid(64, "z"), nil, 422, "entryUUID in path should match"),
		c("entry ID 80 non-hex", "GET", uuid(80, "-"), nil, 422, "entryUUID in path should match"),
		c("uuid with NUL", "GET", entries+"/"+hex64[:63]+"%00", nil, 422, "entryUUID in path should match"),
		c("uuid 10000 chars", "GET", uuid(10_000, "a"), nil, 422, "entryUUID in path should match"),
		c("absent uuid", "GET", entries+"/"+hex64, nil, 404, ""),
		c("entry ID of another tree", "GET", entries+"/"+"00000000000000ff"+hex64, nil, 404, ""),
		c("uuid with extra segment", "GET", entries+"/"+hex64+"/x", nil, 404, "was not found"),

		// Indexes.
		c("negative index", "GET", entries+"?logIndex=-1", nil, 422, "greater than or equal to 0"),
		c("index over int64", "GET", entries+"?logIndex=9223372036854775808", nil, 422, "must be of type int64"),
		c("index max int64", "GET", entries+"?logIndex=9223372036854775807", nil, 404, ""),
		c("index fraction", "GET", entries+"?logIndex=1.5", nil, 422, "must be of type int64"),
		c("index hex", "GET", entries+"?logIndex=0x10", nil, 422, "must be of type int64"),
		c("index empty", "GET", entries+"?logIndex=", nil, 422, "logIndex in query is required"),
		c("index missing", "GET", entries, nil, 422, "logIndex in query is required"),

		// Consistency proofs.
		c("firstSize > lastSize", "GET", "/api/v1/log/proof?firstSize=10&lastSize=3", nil, 400, "firstSize(10) must be less than lastSize(3)"),
		c("lastSize past the tree", "GET", "/api/v1/log/proof?lastSize=1", nil, 400, "greater than what is currently observable(0)"),
		c("lastSize max int64", "GET", "/api/v1/log/proof?firstSize=1&lastSize=9223372036854775807", nil, 400, "greater than what is currently observable"),
		c("lastSize over int64", "GET", "/api/v1/log/proof?lastSize=18446744073709551616", nil, 422, "lastSize in query must be of type int64"),
		c("lastSize negative", "GET", "/api/v1/log/proof?lastSize=-5", nil, 422, "lastSize in query should be greater than or equal to 1"),
		c("firstSize negative", "GET", "/api/v1/log/proof?firstSize=-1&lastSize=1", nil, 422, "firstSize in query should be greater than or equal to 1"),
		c("firstSize not a number", "GET", "/api/v1/log/proof?firstSize=one&lastSize=1", nil, 422, "firstSize in query must be of type int64"),
		c("lastSize missing", "GET", "/api/v1/log/proof", nil, 422, "lastSize in query is required"),
		c("proof treeID not decimal", "GET", "/api/v1/log/proof?lastSize=1&treeID=abc", nil, 422, "treeID in query should match"),
		c("proof unknown treeID", "GET", "/api/v1/log/proof?lastSize=1&treeID=1", nil, 400, "unknown treeID"),
		c("publicKey treeID not decimal", "GET", "/api/v1/log/publicKey?treeID=-1", nil, 422, "treeID in query should match"),
		c("publicKey treeID over int64", "GET", "/api/v1/log/publicKey?treeID=99999999999999999999", nil, 400, "unknown treeID"),

		// Search by entry: batch limits (Rekor: 10 in all → 422), bad items.
		c("retrieve 11 UUIDs", "POST", retrieve, tooMany(11), 422, "entryUUIDs in body should have at most 10 items"),
		c("retrieve 40000 UUIDs", "POST", retrieve, tooMany(40_000), 422, "entryUUIDs in body should have at most 10 items"),
		c("retrieve 1000 indexes", "POST", retrieve, indexes(1000), 422, "logIndexes in body should have at most 10 items"),
		c("retrieve 6 indexes and 5 UUIDs", "POST", retrieve, []byte(`{"logIndexes":[0,1,2,3,4,5],"entryUUIDs":["`+strings.Join(strings.Split(strings.Repeat(hex64+",", 5), ",")[:5], `","`)+`"]}`), 422, "more than max allowed 10"),
		c("retrieve empty UUID list", "POST", retrieve, []byte(`{"entryUUIDs":[]}`), 422, "entryUUIDs in body should have at least 1 items"),
		c("retrieve empty body", "POST", retrieve, nil, 422, "entry in body is required"),
		c("retrieve bad UUID", "POST", retrieve, []byte(`{"entryUUIDs":["`+hex64+`","xyz"]}`), 422, "entryUUIDs.1 in body should match"),
		c("retrieve negative index", "POST", retrieve, []byte(`{"logIndexes":[-1]}`), 422, "greater than or equal to 0"),
		c("retrieve fractional index", "POST", retrieve, []byte(`{"logIndexes":[1.5]}`), 400, "cannot unmarshal number"),
		c("retrieve index over int64", "POST", retrieve, []byte(`{"logIndexes":[1e30]}`), 400, "cannot unmarshal number"),
		c("retrieve indexes not a list", "POST", retrieve, []byte(`{"logIndexes":"0"}`), 400, "cannot unmarshal string"),
		c("retrieve invalid entry", "POST", retrieve, []byte(`{"entries":[`+string(hashedRekord("sha256", digestHex, otherSig, p256PEM))+`]}`), 400, "verifying signature"),
		c("retrieve unknown kind", "POST", retrieve, []byte(`{"entries":[{"kind":"nope","apiVersion":"0.0.1","spec":{}}]}`), 400, `invalid kind value: "nope"`),
		c("retrieve deep nesting", "POST", retrieve, []byte(`{"entries":[`+string(deepArrays)+`]}`), 400, "exceeded max depth"),
		c("retrieve truncated", "POST", retrieve, []byte(`{"entryUUIDs":["`+hex64), 400, "unexpected EOF"),
		c("retrieve trailing data", "POST", retrieve, []byte(`{"logIndexes":[0]}{}`), 400, "trailing data"),

		// Search by index.
		c("index empty query", "POST", index, []byte(`{}`), 400, "at least one of"),
		c("index empty body", "POST", index, nil, 422, "query in body is required"),
		c("index bad hash", "POST", index, []byte(`{"hash":"sha256:`+hex64[:63]+`"}`), 422, "hash in body should match"),
		c("index hash of wrong algorithm", "POST", index, []byte(`{"hash":"md5:`+hex64[:32]+`"}`), 422, "hash in body should match"),
		c("index bad email", "POST", index, []byte(`{"email":"@@"}`), 422, "email in body must be of type email"),
		c("index subject too long", "POST", index, []byte(`{"subject":"`+strings.Repeat("s", 513)+`"}`), 422, "at most 512 chars"),
		c("index bad operator", "POST", index, []byte(`{"email":"a@example.com","operator":"xor"}`), 422, "operator in body should be one of"),
		c("index key without format", "POST", index, []byte(`{"publicKey":{"content":"AAAA"}}`), 422, "publicKey.format in body is required"),
		c("index key not base64", "POST", index, []byte(`{"publicKey":{"format":"x509","content":"!!"}}`), 400, "parsing request body"),
		c("index key garbage", "POST", index, []byte(`{"publicKey":{"format":"x509","content":"`+base64.StdEncoding.EncodeToString(garbagePEM)+`"}}`), 400, "invalid public key"),
		c("index hash is a number", "POST", index, []byte(`{"hash":42}`), 400, "cannot unmarshal number"),
		c("index deep nesting", "POST", index, []byte(`{"subject":`+string(deepObjects)+`}`), 400, "exceeded max depth"),

		// Tiles.
		c("tile index not 3 digits", "GET", "/tile/0/1", nil, 400, "invalid tile path"),
		c("tile level 64", "GET", "/tile/64/000", nil, 400, "invalid tile path"),
		c("tile level with leading zero", "GET", "/tile/00/000", nil, 400, "invalid tile path"),
		c("tile width 0", "GET", "/tile/0/000.p/0", nil, 400, "invalid tile path"),
		c("tile width 256", "GET", "/tile/0/000.p/256", nil, 400, "invalid tile path"),
		c("tile zero leading group", "GET", "/tile/0/x000/001", nil, 400, "invalid tile path"),
		c("tile index over uint64", "GET", "/tile/0/x018/x446/x744/x073/x709/x551/616", nil, 400, "invalid tile path"),
		c("tile path traversal", "GET", "/tile/../checkpoint", nil, 400, "invalid tile path"),
		c("bundle not a number", "GET", "/tile/entries/abc", nil, 400, "invalid tile path"),
		c("tile beyond the tree", "GET", "/tile/0/x001/000", nil, 404, "beyond the current tree"),

		// Methods and paths.
		c("PUT entries", "PUT", entries, good, 405, "not allowed"),
		c("DELETE log", "DELETE", "/api/v1/log", nil, 405, "not allowed"),
		c("unknown API version", "GET", "/api/v2/log", nil, 404, "was not found"),
	}
}

// TestHostileRequests sends every bad request of hostileCases through real
// HTTP to a server over real storage, and checks each gets Rekor's 4xx with
// the error shape; then that the server is healthy and nothing was written.
func TestHostileRequests(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServer(t, e, 0)
			cases := hostileCases(t)
			if len(cases) < 60 {
				t.Fatalf("only %d hostile cases", len(cases))
			}
			before := s.logInfo()
			for _, tt := range cases {
				t.Run(tt.name, func(t *testing.T) {
					resp, b := s.send(tt)
					if resp.StatusCode != tt.code {
						t.Fatalf("status %d, want %d (%.300s)", resp.StatusCode, tt.code, b)
					}
					if tt.msg == "" {
						if len(b) != 0 {
							t.Fatalf("body %.300q, want empty", b)
						}
						return
					}
					if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
						t.Fatalf("Content-Type %q, want application/json", ct)
					}
					var apiErr models.Error
					if err := json.Unmarshal(b, &apiErr); err != nil {
						t.Fatalf("body %.300q is not an error object: %v", b, err)
					}
					if apiErr.Code != tt.code || !strings.Contains(apiErr.Message, tt.msg) {
						t.Fatalf("error {%d %.300q}, want code %d and a message containing %q", apiErr.Code, apiErr.Message, tt.code, tt.msg)
					}
				})
			}

			// Nothing was written, the server is healthy, good entries go in.
			after := s.logInfo()
			if after.TreeSize != before.TreeSize || after.RootHash != before.RootHash {
				t.Fatalf("bad requests moved the tree: %d %s → %d %s", before.TreeSize, before.RootHash, after.TreeSize, after.RootHash)
			}
			for _, p := range []string{"/healthz", "/readyz", "/checkpoint"} {
				if resp, b := s.do("GET", p, nil); resp.StatusCode != 200 {
					t.Fatalf("%s after the hostile requests: %d %s", p, resp.StatusCode, b)
				}
			}
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			if resp, b := s.do("POST", "/api/v1/log/entries", newEntry(t, sgn, "good after hostile")); resp.StatusCode != 201 {
				t.Fatalf("good entry after the hostile requests: %d %s", resp.StatusCode, b)
			}
			// An expired certificate with a signature that verifies is
			// accepted, as Rekor does: the log records, it does not judge
			// validity periods (clients check integratedTime against them).
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			old := selfSigned(t, key, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
			if resp, b := s.do("POST", "/api/v1/log/entries", signedWith(t, key, old, "expired but signed")); resp.StatusCode != 201 {
				t.Fatalf("expired certificate with a good signature: %d %s (Rekor accepts it)", resp.StatusCode, b)
			}
			if info := s.logInfo(); info.TreeSize != before.TreeSize+2 {
				t.Fatalf("tree size %d, want %d", info.TreeSize, before.TreeSize+2)
			}
		})
	}
}

// send makes one hostile request; a chunked body is sent without a length.
func (s *server) send(tt hostileCase) (*http.Response, []byte) {
	s.t.Helper()
	var body io.Reader
	if tt.body != nil {
		body = bytes.NewReader(tt.body)
		if tt.chunked {
			body = io.MultiReader(body) // hides the length: Transfer-Encoding: chunked
		}
	}
	return s.doReader(tt.method, tt.path, body)
}

// TestAbandonedUploads: clients that send a whole entry but hang up before
// their request ends (a Content-Length not reached, a chunked body without
// its last chunk) leave nothing behind.
func TestAbandonedUploads(t *testing.T) {
	s := newServer(t, engines[0], 0)
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	good := newEntry(t, sgn, "abandoned")
	addr := strings.TrimPrefix(s.URL, "http://")
	for i := range 50 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// The whole entry is sent, but the request never ends: a server
		// that decoded the JSON as it streamed in would log it.
		var req string
		if i%2 == 0 { // a declared length ten bytes past what is sent
			req = fmt.Sprintf("POST /api/v1/log/entries HTTP/1.1\r\nHost: tabula\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(good)+10, good)
		} else { // one chunk, and no last chunk
			req = fmt.Sprintf("POST /api/v1/log/entries HTTP/1.1\r\nHost: tabula\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(good), good)
		}
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		conn.Close()
	}
	time.Sleep(200 * time.Millisecond) // let the handlers see the hang-ups
	if info := s.logInfo(); info.TreeSize != 0 {
		t.Fatalf("abandoned uploads wrote %d entries", info.TreeSize)
	}
	if resp, b := s.do("POST", "/api/v1/log/entries", good); resp.StatusCode != 201 {
		t.Fatalf("the same entry sent whole: %d %s", resp.StatusCode, b)
	}
}
