package pgp

import (
	"crypto"
	"crypto/dsa" //lint:ignore SA1019 v3 DSA signatures exist in Rekor's log and must keep verifying
	"crypto/rsa"
	"encoding"
	"encoding/binary"
	"hash"
	"io"
	"math/big"
	"sort"
	"strconv"
	"time"

	// Hashes a v3 signature may name; crypto.Hash.New panics on an
	// unregistered one, so they are linked here rather than relied upon.
	_ "crypto/md5"
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha3"
	_ "crypto/sha512"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Version 2 and 3 signature packets (RFC 4880 §5.2.2). go-crypto stopped
// verifying them in v1.4; Rekor kept a verifier of its own so that entries
// already logged (old RPMs, GnuPG 1.x --force-v3-sigs) keep verifying, and so
// does this package: RSA and DSA signatures by v4 keys, binary or text
// documents, no key expiry or revocation check (as Rekor).

// v3Hashes maps OpenPGP hash ids to hashes, MD5 and SHA-1 included: v3
// signatures predate their deprecation.
var v3Hashes = map[byte]crypto.Hash{
	1:  crypto.MD5,
	2:  crypto.SHA1,
	8:  crypto.SHA256,
	9:  crypto.SHA384,
	10: crypto.SHA512,
	11: crypto.SHA224,
	12: crypto.SHA3_256,
	14: crypto.SHA3_512,
}

type v3Signature struct {
	sigType  packet.SignatureType
	created  time.Time
	issuer   uint64
	algo     packet.PublicKeyAlgorithm
	hash     crypto.Hash
	hashTag  [2]byte
	rsaSig   []byte
	dsaR     []byte
	dsaS     []byte
	hashUsed byte
}

// isV3Packet reports whether a packet of this tag and body is a version 2 or
// 3 signature.
func isV3Packet(tag uint8, body []byte) bool {
	return tag == 2 && len(body) > 0 && (body[0] == 2 || body[0] == 3)
}

// v3Reader walks a packet body; the first short read sticks.
type v3Reader struct {
	b   []byte
	err error
}

func (r *v3Reader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = io.ErrUnexpectedEOF
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *v3Reader) mpi() []byte {
	l := r.next(2)
	if l == nil {
		return nil
	}
	bits := int(binary.BigEndian.Uint16(l))
	return r.next((bits + 7) / 8)
}

// parseV3 parses the body (header stripped) of a v2/v3 signature packet.
func parseV3(body []byte) (*v3Signature, error) {
	r := &v3Reader{b: body}
	var s v3Signature
	if v := r.next(1); v != nil && (v[0] < 2 || v[0] > 3) {
		return nil, pgperrors.UnsupportedError("signature packet version " + strconv.Itoa(int(v[0])))
	}
	if l := r.next(1); l != nil && l[0] != 5 {
		return nil, pgperrors.UnsupportedError("invalid hashed material length " + strconv.Itoa(int(l[0])))
	}
	if h := r.next(5); h != nil {
		s.sigType = packet.SignatureType(h[0])
		s.created = time.Unix(int64(binary.BigEndian.Uint32(h[1:5])), 0)
	}
	if id := r.next(8); id != nil {
		s.issuer = binary.BigEndian.Uint64(id)
	}
	algs := r.next(2)
	if r.err != nil {
		return nil, r.err
	}
	s.algo = packet.PublicKeyAlgorithm(algs[0])
	switch s.algo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly, packet.PubKeyAlgoDSA:
	default:
		return nil, pgperrors.UnsupportedError("public key algorithm " + strconv.Itoa(int(s.algo)))
	}
	var ok bool
	if s.hash, ok = v3Hashes[algs[1]]; !ok {
		return nil, pgperrors.UnsupportedError("hash function " + strconv.Itoa(int(algs[1])))
	}
	s.hashUsed = algs[1]
	copy(s.hashTag[:], r.next(2))
	if s.algo == packet.PubKeyAlgoDSA {
		s.dsaR = r.mpi()
		s.dsaS = r.mpi()
	} else {
		s.rsaSig = r.mpi()
	}
	if r.err != nil {
		return nil, r.err
	}
	return &s, nil
}

// verify checks s over message with the first candidate key that verifies
// it; the error is the last key's.
func (s *v3Signature) verify(keys []openpgp.Key, message []byte) error {
	if len(keys) == 0 {
		return pgperrors.ErrUnknownIssuer
	}
	if !s.hash.Available() {
		return pgperrors.UnsupportedError("hash function")
	}
	h := s.hash.New()
	var w hash.Hash
	switch s.sigType {
	case packet.SigTypeBinary:
		w = h
	case packet.SigTypeText:
		w = openpgp.NewCanonicalTextHash(h)
	default:
		return pgperrors.UnsupportedError("unsupported signature type: " + strconv.Itoa(int(s.sigType)))
	}
	w.Write(message)
	// The trailer is hashed per candidate; save the state to restore it.
	var state []byte
	if len(keys) > 1 {
		m, ok := h.(encoding.BinaryMarshaler)
		if !ok {
			return pgperrors.UnsupportedError("hash state cannot be saved")
		}
		var err error
		if state, err = m.MarshalBinary(); err != nil {
			return err
		}
	}
	var err error
	for i, key := range keys {
		if i > 0 {
			u, ok := h.(encoding.BinaryUnmarshaler)
			if !ok || u.UnmarshalBinary(state) != nil {
				break
			}
		}
		if err = s.verifyWith(h, key.PublicKey); err == nil {
			return nil
		}
	}
	return err
}

// verifyWith finishes h with the v3 trailer and checks the signature with pk.
func (s *v3Signature) verifyWith(h hash.Hash, pk *packet.PublicKey) error {
	if pk == nil {
		return pgperrors.InvalidArgumentError("no public key provided")
	}
	if !pk.CanSign() {
		return pgperrors.InvalidArgumentError("public key cannot generate signatures")
	}
	var trailer [5]byte
	trailer[0] = byte(s.sigType)
	binary.BigEndian.PutUint32(trailer[1:], uint32(s.created.Unix()))
	h.Write(trailer[:])
	digest := h.Sum(nil)
	if digest[0] != s.hashTag[0] || digest[1] != s.hashTag[1] {
		return pgperrors.SignatureError("hash tag doesn't match")
	}
	if pk.PubKeyAlgo != s.algo {
		return pgperrors.InvalidArgumentError("public key and signature use different algorithms")
	}
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		pub, ok := pk.PublicKey.(*rsa.PublicKey)
		if !ok {
			return pgperrors.InvalidArgumentError("public key algorithm mismatch")
		}
		sig := s.rsaSig
		if k := (pub.N.BitLen() + 7) / 8; len(sig) < k {
			padded := make([]byte, k)
			copy(padded[k-len(sig):], sig)
			sig = padded
		}
		if rsa.VerifyPKCS1v15(pub, s.hash, digest, sig) != nil {
			return pgperrors.SignatureError("RSA verification failure")
		}
		return nil
	case packet.PubKeyAlgoDSA:
		pub, ok := pk.PublicKey.(*dsa.PublicKey)
		if !ok {
			return pgperrors.InvalidArgumentError("public key algorithm mismatch")
		}
		// FIPS 186-3 §4.6: use the leftmost bytes up to the subgroup size.
		if n := (pub.Q.BitLen() + 7) / 8; len(digest) > n {
			digest = digest[:n]
		}
		if !dsa.Verify(pub, digest, new(big.Int).SetBytes(s.dsaR), new(big.Int).SetBytes(s.dsaS)) {
			return pgperrors.SignatureError("DSA verification failure")
		}
		return nil
	}
	return pgperrors.UnsupportedError("public key algorithm " + strconv.Itoa(int(pk.PubKeyAlgo)))
}

// sortedIdentityNames returns e's identity names in sorted order.
func sortedIdentityNames(e *openpgp.Entity) []string {
	names := make([]string, 0, len(e.Identities))
	for n := range e.Identities {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
