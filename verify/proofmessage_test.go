package verify_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/verify"
)

// TestProofFailureShowsHexRoots: a proof that does not reach the expected
// root names both roots in hex, so a user can compare them with a
// checkpoint, and the failure names its check.
func TestProofFailureShowsHexRoots(t *testing.T) {
	leaf := func(s string) [32]byte {
		var h [32]byte
		copy(h[:], rfc6962.DefaultHasher.HashLeaf([]byte(s)))
		return h
	}
	a, b := leaf("a"), leaf("b")
	var root2 [32]byte
	copy(root2[:], rfc6962.DefaultHasher.HashChildren(a[:], b[:]))
	wrong := sha256.Sum256([]byte("not the root"))

	tests := []struct {
		name  string
		err   error
		check string
	}{
		{"inclusion", verify.Inclusion(a, 0, 2, wrong, [][]byte{b[:]}), "inclusion proof"},
		{"consistency", verify.Consistency(
			checkpoint.Checkpoint{Origin: "o", Size: 1, Root: a},
			checkpoint.Checkpoint{Origin: "o", Size: 2, Root: wrong},
			[][]byte{b[:]}), "consistency proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("a proof to the wrong root verified")
			}
			var ce *verify.CheckError
			if !errors.As(tt.err, &ce) {
				t.Fatalf("error %v is not a *verify.CheckError", tt.err)
			}
			msg := tt.err.Error()
			if !strings.Contains(msg, hex.EncodeToString(wrong[:])) || !strings.Contains(msg, hex.EncodeToString(root2[:])) {
				t.Fatalf("message does not show both roots in hex: %s", msg)
			}
			if !strings.Contains(msg, tt.check) {
				t.Fatalf("message does not name the check %q: %s", tt.check, msg)
			}
		})
	}
}
