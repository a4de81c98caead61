package api_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/dsse"
)

// dsseProposal is a proposed dsse entry of the given envelope and keys.
func dsseProposal(t *testing.T, env *ssldsse.Envelope, pems ...[]byte) []byte {
	t.Helper()
	envJSON, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	vs := make([]string, len(pems))
	for i, p := range pems {
		vs[i] = base64.StdEncoding.EncodeToString(p)
	}
	b, err := json.Marshal(map[string]any{
		"kind": "dsse", "apiVersion": "0.0.1",
		"spec": map[string]any{"proposedContent": map[string]any{"envelope": string(envJSON), "verifiers": vs}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostileVerification is issue 10's third class: an upload asking for
// many signature checks (25 signatures × 25 verifiers, on old code 625
// checks) or checks with a huge RSA key is refused alone, with a 400 naming
// the limit, before any check; a good dsse entry still goes in.
func TestHostileVerification(t *testing.T) {
	const pt = "text/plain"
	payload := []byte("hostile verification")
	pae := ssldsse.PAE(pt, payload)
	sum := sha256.Sum256(pae)
	env := &ssldsse.Envelope{PayloadType: pt, Payload: base64.StdEncoding.EncodeToString(payload)}
	var pems [][]byte
	for range 25 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := k.Sign(rand.Reader, sum[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		env.Signatures = append(env.Signatures, ssldsse.Signature{Sig: base64.StdEncoding.EncodeToString(sig)})
		pems = append(pems, keyPEM(t, k.Public()))
	}
	// An RSA public key of 8192 bits (its modulus need not factor: it is
	// refused before it verifies anything).
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 8192))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, 8191, 1).SetBit(n, 0, 1)
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	bigRSA := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	one := &ssldsse.Envelope{PayloadType: pt, Payload: env.Payload, Signatures: env.Signatures[:1]}

	cases := []struct {
		name string
		body []byte
		msg  string
	}{
		{"25 signatures", dsseProposal(t, env, pems...), "DSSE envelope has 25 signatures; at most 8 are accepted"},
		{"25 verifiers", dsseProposal(t, one, pems...), "25 verifiers given; at most 8 are accepted"},
		{"8192-bit RSA key", dsseProposal(t, one, bigRSA), "RSA key of 8192 bits; at most 4096 are accepted"},
	}
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServerWith(t, e, func(c *api.Config) { c.Types = types.NewRegistry(dsse.New()) })
			before := s.logInfo()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					resp, b := s.do("POST", "/api/v1/log/entries", tc.body)
					var apiErr models.Error
					if err := json.Unmarshal(b, &apiErr); err != nil {
						t.Fatalf("status %d, body %.300q: %v", resp.StatusCode, b, err)
					}
					if resp.StatusCode != 400 || apiErr.Code != 400 || !strings.Contains(apiErr.Message, tc.msg) {
						t.Fatalf("status %d {%d %.300q}, want 400 containing %q", resp.StatusCode, apiErr.Code, apiErr.Message, tc.msg)
					}
				})
			}
			if after := s.logInfo(); after.TreeSize != before.TreeSize {
				t.Fatalf("refused uploads moved the tree: %d → %d", before.TreeSize, after.TreeSize)
			}
			if resp, b := s.do("POST", "/api/v1/log/entries", dsseProposal(t, one, pems[0])); resp.StatusCode != 201 {
				t.Fatalf("good dsse entry: %d %s", resp.StatusCode, fmt.Sprintf("%.300s", b))
			}
		})
	}
}
