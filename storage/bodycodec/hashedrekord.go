package bodycodec

// Format HashedRekordV1: a hashedrekord v0.0.1 body in the canonical form
// the log writes, stored as its fields' bytes instead of their text. Such
// a body is JSON around three values: the artifact's digest in hex, the
// signature in base64, and the verifier (a PEM public key or certificate)
// in base64. Its text is fixed but for them, so the fields alone give it
// back byte for byte. Stored as bytes, a body with an ECDSA P-256 key
// (557 bytes) takes about 200 bytes, against 262 for zstd with the
// dictionary, and encoding and decoding are a few hex and base64
// conversions instead of a compression (BenchmarkEncode, BenchmarkDecode).
//
// Stored form:
//
//	byte 0: the digest algorithm (low 4 bits: 0 sha256, 1 sha384,
//	        2 sha512) and the verifier's kind (high 4 bits: 0 its bytes
//	        as they are, 1 a PEM "PUBLIC KEY" block, 2 a PEM
//	        "CERTIFICATE" block, either kept as its DER bytes)
//	the digest (32, 48 or 64 bytes)
//	the signature's length (uvarint), the signature
//	the verifier: the rest
//
// Encode uses the form only when decoding it gives the body back exactly
// (any other spacing, order, case or encoding of the same values is left
// to zstd), so a body stored this way always reads back as written.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
)

// HashedRekordV1 is a hashedrekord v0.0.1 body stored as its fields'
// bytes (see hashedrekord.go).
const HashedRekordV1 Format = 2

// The canonical body's fixed text, around its values.
const (
	hrHead      = `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"`
	hrValue     = `","value":"`
	hrSignature = `"}},"signature":{"content":"`
	hrKey       = `","publicKey":{"content":"`
	hrTail      = `"}}}}`
)

var hrAlgorithms = [...]struct {
	name string
	size int
}{{"sha256", 32}, {"sha384", 48}, {"sha512", 64}}

var hrPEMTypes = [...]string{1: "PUBLIC KEY", 2: "CERTIFICATE"}

// encodeHashedRekord returns body in Format HashedRekordV1, or false when
// body is not a canonical hashedrekord v0.0.1 body that the form gives back
// exactly.
func encodeHashedRekord(body []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(body, []byte(hrHead))
	if !ok {
		return nil, false
	}
	algorithm, rest, ok := cutString(rest, hrValue)
	if !ok {
		return nil, false
	}
	alg := -1
	for i, a := range hrAlgorithms {
		if string(algorithm) == a.name {
			alg = i
		}
	}
	digestHex, rest, ok := cutString(rest, hrSignature)
	if alg < 0 || !ok || len(digestHex) != 2*hrAlgorithms[alg].size {
		return nil, false
	}
	sig64, rest, ok := cutString(rest, hrKey)
	if !ok {
		return nil, false
	}
	key64, rest, ok := cutString(rest, hrTail)
	if !ok || len(rest) != 0 {
		return nil, false
	}
	out := make([]byte, 1, 1+len(digestHex)/2+binary.MaxVarintLen64+len(sig64)*3/4+len(key64)*3/4)
	out, err := hex.AppendDecode(out, digestHex)
	if err != nil {
		return nil, false
	}
	sig, err := base64.StdEncoding.AppendDecode(nil, sig64)
	if err != nil {
		return nil, false
	}
	out = binary.AppendUvarint(out, uint64(len(sig)))
	out = append(out, sig...)
	key, err := base64.StdEncoding.AppendDecode(nil, key64)
	if err != nil {
		return nil, false
	}
	kind := 0
	if b, after := pem.Decode(key); b != nil && len(after) == 0 && len(b.Headers) == 0 {
		for k, t := range hrPEMTypes {
			if t != "" && b.Type == t && bytes.Equal(pem.EncodeToMemory(b), key) {
				kind, key = k, b.Bytes
			}
		}
	}
	out[0] = byte(alg) | byte(kind)<<4
	out = append(out, key...)
	if back, err := decodeHashedRekord(out); err != nil || !bytes.Equal(back, body) {
		return nil, false
	}
	return out, true
}

// cutString returns what s holds before its first '"' and what follows
// that '"' once it is followed by sep ('"' included); false when s holds
// no '"' or sep does not follow it.
func cutString(s []byte, sep string) (value, rest []byte, ok bool) {
	i := bytes.IndexByte(s, '"')
	if i < 0 || !bytes.HasPrefix(s[i:], []byte(sep)) {
		return nil, nil, false
	}
	return s[:i], s[i+len(sep):], true
}

// decodeHashedRekord returns the body stored in Format HashedRekordV1.
func decodeHashedRekord(stored []byte) ([]byte, error) {
	if len(stored) < 1 || len(stored) > MaxBodySize {
		return nil, fmt.Errorf("%w: hashedrekord of %d bytes", ErrCorrupt, len(stored))
	}
	alg, kind := int(stored[0]&0x0f), int(stored[0]>>4)
	if alg >= len(hrAlgorithms) || kind >= len(hrPEMTypes) || len(stored) < 1+hrAlgorithms[alg].size {
		return nil, fmt.Errorf("%w: hashedrekord header %#x, %d bytes", ErrCorrupt, stored[0], len(stored))
	}
	digest, rest := stored[1:1+hrAlgorithms[alg].size], stored[1+hrAlgorithms[alg].size:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)-w) {
		return nil, fmt.Errorf("%w: hashedrekord signature length", ErrCorrupt)
	}
	sig, key := rest[w:w+int(n)], rest[w+int(n):]
	if kind != 0 {
		key = pem.EncodeToMemory(&pem.Block{Type: hrPEMTypes[kind], Bytes: key})
	}
	size := len(hrHead) + len(hrAlgorithms[alg].name) + len(hrValue) + 2*len(digest) + len(hrSignature) +
		base64.StdEncoding.EncodedLen(len(sig)) + len(hrKey) + base64.StdEncoding.EncodedLen(len(key)) + len(hrTail)
	if size > MaxBodySize {
		return nil, fmt.Errorf("%w: hashedrekord of %d bytes decoded", ErrCorrupt, size)
	}
	body := make([]byte, 0, size)
	body = append(body, hrHead...)
	body = append(body, hrAlgorithms[alg].name...)
	body = append(body, hrValue...)
	body = hex.AppendEncode(body, digest)
	body = append(body, hrSignature...)
	body = base64.StdEncoding.AppendEncode(body, sig)
	body = append(body, hrKey...)
	body = base64.StdEncoding.AppendEncode(body, key)
	return append(body, hrTail...), nil
}
