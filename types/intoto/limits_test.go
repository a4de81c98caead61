package intoto_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tabularium/tabula/types/internal/envelope"
	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
)

// TestLimits: 0.0.2 at the signature limit (one publicKey each) is logged,
// one over is refused naming the limit; 0.0.1 (one key) refuses an envelope
// over the limit the same way. Refusals are *types.InvalidError (400).
func TestLimits(t *testing.T) {
	const n = envelope.MaxSignatures + 1
	keys, pems := envelopetest.ECDSAKeys(t, n)
	payload := []byte("limits")
	over := fmt.Sprintf("DSSE envelope has %d signatures; at most %d are accepted", n, envelope.MaxSignatures)
	tests := []struct {
		name     string
		proposed func() []byte
		wantErr  string
	}{
		{"0.0.2 at the limit", func() []byte {
			env := envelopetest.Envelope(t, "text/plain", payload, keys[:n-1]...)
			return proposed002(t, env, pems[:n-1]...)
		}, ""},
		{"0.0.2 one over", func() []byte {
			env := envelopetest.Envelope(t, "text/plain", payload, keys...)
			return proposed002(t, env, pems...)
		}, over},
		{"0.0.1 at the limit", func() []byte {
			env := envelopetest.Envelope(t, "text/plain", payload, keys[:n-1]...)
			return proposed001(t, envelopetest.JSON(t, env), pems[0])
		}, ""},
		{"0.0.1 one over", func() []byte {
			env := envelopetest.Envelope(t, "text/plain", payload, keys...)
			return proposed001(t, envelopetest.JSON(t, env), pems[0])
		}, over},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := canonicalize(t, tc.proposed())
			envelopetest.WantInvalid(t, err, tc.wantErr)
		})
	}
}

// TestCancelled: a request whose client went away stops before verifying,
// in both versions.
func TestCancelled(t *testing.T) {
	k := envelopetest.ECDSA(t)
	env := envelopetest.Envelope(t, "text/plain", []byte("x"), k)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, p := range [][]byte{proposed002(t, env, k.PEM), proposed001(t, envelopetest.JSON(t, env), k.PEM)} {
		if _, err := registry().Canonicalize(ctx, p); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	}
}
