package dsse_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tabularium/tabula/types/internal/envelope"
	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
)

// TestLimits: an envelope at the signature and verifier limits is logged;
// one over is refused with a *types.InvalidError (the API's 400) naming the
// limit.
func TestLimits(t *testing.T) {
	const n = envelope.MaxSignatures + 1
	keys, pems := envelopetest.ECDSAKeys(t, n)
	payload := []byte("limits")
	tests := []struct {
		name      string
		sigs      int
		verifiers [][]byte
		wantErr   string
	}{
		{"at the limits", envelope.MaxSignatures, pems[:envelope.MaxVerifiers], ""},
		{"one signature over", envelope.MaxSignatures + 1, pems[:1],
			fmt.Sprintf("DSSE envelope has %d signatures; at most %d are accepted", envelope.MaxSignatures+1, envelope.MaxSignatures)},
		{"one verifier over", 1, pems[:envelope.MaxVerifiers+1],
			fmt.Sprintf("%d verifiers given; at most %d are accepted", envelope.MaxVerifiers+1, envelope.MaxVerifiers)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := envelopetest.Envelope(t, "text/plain", payload, keys[:tc.sigs]...)
			_, err := canonicalize(t, proposed(t, envelopetest.JSON(t, env), tc.verifiers...))
			envelopetest.WantInvalid(t, err, tc.wantErr)
		})
	}
}

// TestCancelled: a request whose client went away stops before verifying.
func TestCancelled(t *testing.T) {
	k := envelopetest.ECDSA(t)
	env := envelopetest.Envelope(t, "text/plain", []byte("x"), k)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := registry().Canonicalize(ctx, proposed(t, envelopetest.JSON(t, env), k.PEM))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
