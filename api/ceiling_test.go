package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// BenchmarkCeilingWrite is the server CPU of one write on the ceiling
// (api.NewCeiling) without the network: the middleware, canonicalization
// and signature check of a hashedrekord (ECDSA P-256), the SET and the
// answer. The real server's CPU per write beyond it is what storage and the
// tree cost (issue 15).
func BenchmarkCeilingWrite(b *testing.B) {
	priv, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		b.Fatal(err)
	}
	key, err := signer.New(priv)
	if err != nil {
		b.Fatal(err)
	}
	h, err := api.NewCeiling(api.CeilingConfig{
		Types:   types.NewRegistry(hashedrekord.New()),
		Signer:  key,
		Profile: rekorv1.Profile("tabula.local"),
		TreeID:  1,
	})
	if err != nil {
		b.Fatal(err)
	}
	es, err := testentry.NewSigner()
	if err != nil {
		b.Fatal(err)
	}
	entry, err := es.HashedRekord([]byte("artifact"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/v1/log/entries", bytes.NewReader(entry))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
