package envelopetest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"math/big"
	"testing"
)

// multiPrime is an RSA PKCS #1 v1.5 SHA-256 signer whose modulus is the
// product of many 512-bit primes: a verifier sees an ordinary RSA public key
// of any size, but the key is made in milliseconds rather than the minutes a
// two-prime 16384-bit key takes. For cost benchmarks only.
type multiPrime struct {
	pub rsa.PublicKey
	d   *big.Int
}

// RSAMultiPrime returns an RSA key of exactly bits bits (a multiple of 512,
// at least 1024) and public exponent e (odd, at least 3).
func RSAMultiPrime(t testing.TB, bits, e int) Key {
	t.Helper()
	k, err := newMultiPrime(bits, e)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Signer: k, PEM: publicPEM(t, &k.pub)}
}

func newMultiPrime(bits, e int) (*multiPrime, error) {
	if bits < 1024 || bits%512 != 0 || e < 3 || e%2 == 0 {
		return nil, errors.New("envelopetest: bad multi-prime RSA parameters")
	}
	E := big.NewInt(int64(e))
	one := big.NewInt(1)
	n, lambda := big.NewInt(1), big.NewInt(1)
	// addPrime multiplies n by a prime of the given size coprime to e.
	addPrime := func(n, lambda *big.Int, size int) (*big.Int, *big.Int, error) {
		for {
			p, err := rand.Prime(rand.Reader, size)
			if err != nil {
				return nil, nil, err
			}
			pm1 := new(big.Int).Sub(p, one)
			if new(big.Int).GCD(nil, nil, pm1, E).Cmp(one) != 0 {
				continue
			}
			g := new(big.Int).GCD(nil, nil, lambda, pm1)
			return new(big.Int).Mul(n, p), new(big.Int).Mul(lambda, new(big.Int).Div(pm1, g)), nil
		}
	}
	// 512-bit primes while they leave room for a last one of 64 bits or more.
	for n.BitLen()+512+64 <= bits {
		var err error
		if n, lambda, err = addPrime(n, lambda, 512); err != nil {
			return nil, err
		}
	}
	// The last prime brings n to exactly bits bits.
	for {
		n2, lambda2, err := addPrime(n, lambda, bits-n.BitLen())
		if err != nil {
			return nil, err
		}
		if n2.BitLen() != bits {
			continue
		}
		d := new(big.Int).ModInverse(E, lambda2)
		if d == nil {
			continue
		}
		return &multiPrime{pub: rsa.PublicKey{N: n2, E: e}, d: d}, nil
	}
}

func (k *multiPrime) Public() crypto.PublicKey { return &k.pub }

// sha256DigestInfo is the DER DigestInfo prefix of a SHA-256 digest.
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// Sign is RSASSA-PKCS1-v1_5 over a SHA-256 digest, textbook (not constant
// time): EM = 00 01 FF… 00 DigestInfo digest, sig = EM^d mod n.
func (k *multiPrime) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, errors.New("envelopetest: multi-prime RSA signs SHA-256 digests only")
	}
	size := (k.pub.N.BitLen() + 7) / 8
	em := make([]byte, size)
	em[1] = 1
	tail := append(append([]byte{}, sha256DigestInfo...), digest...)
	for i := 2; i < size-len(tail)-1; i++ {
		em[i] = 0xff
	}
	copy(em[size-len(tail):], tail)
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), k.d, k.pub.N)
	return s.FillBytes(make([]byte, size)), nil
}
