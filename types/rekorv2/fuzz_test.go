package rekorv2_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/types/rekorv2"
)

// FuzzCanonicalizeJSON: no input panics; every refusal is an *Error with
// code 3; whatever is accepted fits an entry bundle, is what rekor-tiles
// v2.3.0 makes of the same request, and is made again from the request
// rebuilt from it.
func FuzzCanonicalizeJSON(f *testing.F) {
	for _, body := range goldenBodies(f) {
		f.Add(requestFromBody(f, body))
	}
	for _, k := range testKeys(f) {
		f.Add(signed(f, k, true).json(f, snake))
	}
	for _, c := range refuseCases(f) {
		for _, body := range c.bodies(f) {
			f.Add(body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := rekorv2.CanonicalizeJSON(body)
		if err != nil {
			var re *rekorv2.Error
			if !errors.As(err, &re) || re.Code != rekorv2.CodeInvalidArgument || re.Message == "" {
				t.Fatalf("error %v (%T) is not an *Error with code 3", err, err)
			}
			return
		}
		if len(e.Body) > merkle.MaxBundleEntry {
			t.Fatalf("accepted a %d-byte entry", len(e.Body))
		}
		req, err := rekorv2.ParseRequest(body)
		if err != nil {
			t.Fatal(err)
		}
		up, _, err := upstreamCanonicalize(t, req)
		if err != nil || !bytes.Equal(up, e.Body) {
			t.Fatalf("upstream: %v\nupstream %s\n  tabula %s", err, up, e.Body)
		}
		again, err := rekorv2.CanonicalizeJSON(requestFromBody(t, e.Body))
		if err != nil {
			t.Fatalf("rebuilt request refused: %v", err)
		}
		if !bytes.Equal(again.Body, e.Body) {
			t.Fatalf("rebuilt request makes\n%s\nnot\n%s", again.Body, e.Body)
		}
	})
}
