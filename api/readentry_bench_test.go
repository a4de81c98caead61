package api_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// BenchmarkReadEntry is the server CPU of one read-entry (issue 15's read
// target: GET /api/v1/log/entries?logIndex=N, a random index, with its
// inclusion proof and SET) without the network: routing, the middleware,
// the entry, the proof and the answer, on a PostgreSQL log of 4,096
// hashedrekord entries written through the API. "warm" reads after a pass
// over every entry; "written" reads what the writes left in the caches.
func BenchmarkReadEntry(b *testing.B) {
	const n = 4096
	e := engines[1]
	if e.Name != "postgres" {
		b.Fatalf("engine %s, want postgres", e.Name)
	}
	logs := logsettest.Open(b, e.Open(b))
	h := api.New(api.Config{Logs: logs, Types: types.NewRegistry(hashedrekord.New())})
	es, err := testentry.NewSigner()
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				entry, err := es.HashedRekord(fmt.Appendf(nil, "read bench %d", i))
				if err != nil {
					errs <- err
					return
				}
				req := httptest.NewRequest("POST", "/api/v1/log/entries", bytes.NewReader(entry))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					errs <- fmt.Errorf("write %d: %d %s", i, rec.Code, rec.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	read := func(b *testing.B, i uint64) {
		req := httptest.NewRequest("GET", "/api/v1/log/entries?logIndex="+strconv.FormatUint(i, 10), nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("read %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	run := func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			read(b, rng.Uint64N(n))
		}
	}
	b.Run("written", run)
	for i := range uint64(n) {
		read(b, i)
	}
	b.Run("warm", run)
}
