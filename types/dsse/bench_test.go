package dsse_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/dsse"
	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
)

// worstCase is a proposed dsse entry whose n keys each sign the payload, the
// signatures in reverse key order and the verifiers in key order: key i
// tries n−i signatures before its own, so verification makes n(n+1)/2
// checks and then accepts the entry (no entry under the limits costs more
// with keys that each verify only their own signature).
func worstCase(b *testing.B, n int, key func(i int) envelopetest.Key, payload []byte) []byte {
	b.Helper()
	keys := make([]envelopetest.Key, n)
	pems := make([][]byte, n)
	for i := range keys {
		keys[i] = key(i)
		pems[i] = keys[i].PEM
	}
	env := &ssldsse.Envelope{PayloadType: "text/plain", Payload: base64.StdEncoding.EncodeToString(payload)}
	for _, k := range slices.Backward(keys) {
		env.Signatures = append(env.Signatures, ssldsse.Signature{Sig: envelopetest.Sign(b, k, env.PayloadType, payload)})
	}
	return proposed(b, envelopetest.JSON(b, env), pems...)
}

// BenchmarkWorstCase is the time one dsse upload can hold a core for:
// n signatures × n verifiers arranged for the most checks (worstCase). At
// n = 8 (the limits) with RSA keys of at most 4096 bits the entry is
// accepted; at n = 25, or with larger RSA keys, it is refused before any
// check (so the same benchmark on code without the limits, e.g. commit
// 77f94ea, measures what the limits save). The rsa cases use multi-prime
// keys (quick to make, as costly to verify as any key of their size);
// e=2147483647 is the largest exponent Go accepts. Refusals are expected
// (err is not checked): the time is the point.
//
//	go test -run '^$' -bench WorstCase -benchtime 5x ./types/dsse/
func BenchmarkWorstCase(b *testing.B) {
	small := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	big := make([]byte, 1<<20)
	cases := []struct {
		name    string
		n       int
		key     func(i int) envelopetest.Key
		payload []byte
	}{
		{"ecdsa-p256", 8, func(int) envelopetest.Key { return envelopetest.ECDSA(b) }, small},
		{"ecdsa-p256-1MiB-payload", 8, func(int) envelopetest.Key { return envelopetest.ECDSA(b) }, big},
		{"ed25519-1MiB-payload", 8, func(i int) envelopetest.Key { return envelopetest.Ed25519(b, byte(i)) }, big},
		{"rsa-4096", 8, func(int) envelopetest.Key { return envelopetest.RSAMultiPrime(b, 4096, 65537) }, small},
		{"rsa-4096-e2147483647", 8, func(int) envelopetest.Key { return envelopetest.RSAMultiPrime(b, 4096, 1<<31-1) }, small},
		{"rsa-8192-e2147483647", 8, func(int) envelopetest.Key { return envelopetest.RSAMultiPrime(b, 8192, 1<<31-1) }, small},
		{"ecdsa-p256", 16, func(int) envelopetest.Key { return envelopetest.ECDSA(b) }, small},
		{"ecdsa-p256", 25, func(int) envelopetest.Key { return envelopetest.ECDSA(b) }, small},
		{"rsa-4096-e2147483647", 25, func(int) envelopetest.Key { return envelopetest.RSAMultiPrime(b, 4096, 1<<31-1) }, small},
		{"rsa-16384-e2147483647", 25, func(int) envelopetest.Key { return envelopetest.RSAMultiPrime(b, 16384, 1<<31-1) }, small},
	}
	typ := dsse.New()
	for _, tc := range cases {
		b.Run(fmt.Sprintf("%s/%dx%d", tc.name, tc.n, tc.n), func(b *testing.B) {
			p := worstCase(b, tc.n, tc.key, tc.payload)
			var pe types.ProposedEntry
			if err := json.Unmarshal(p, &pe); err != nil {
				b.Fatal(err)
			}
			spec := pe.Spec
			ctx := context.Background()
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			for b.Loop() {
				_, _ = typ.Canonicalize(ctx, dsse.APIVersion, spec)
			}
		})
	}
}
