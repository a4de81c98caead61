package dsse_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/dsse"
)

// FuzzCanonicalize feeds arbitrary spec bytes to Canonicalize: it must not
// panic, must fail only with *types.InvalidError, and an accepted spec must
// give valid JSON, the same body twice.
func FuzzCanonicalize(f *testing.F) {
	reqs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.request.json"))
	for _, r := range reqs {
		b, err := os.ReadFile(r)
		if err != nil {
			f.Fatal(err)
		}
		var pe types.ProposedEntry
		if err := json.Unmarshal(b, &pe); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(pe.Spec))
	}
	for _, s := range []string{
		`{}`, `[]`, `null`, `"x"`, `{"proposedContent":{}}`,
		`{"proposedContent":{"envelope":"{}","verifiers":["AAAA"]}}`,
		`{"proposedContent":{"envelope":"{\"payload\":\"\",\"payloadType\":\"\",\"signatures\":[{\"sig\":\"\"}]}","verifiers":["LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0K"]}}`,
		`{"envelopeHash":{"algorithm":"sha256","value":"00"},"payloadHash":{"algorithm":"sha256","value":"00"},"signatures":[{"signature":"AAAA","verifier":"AAAA"}]}`,
		`{"signatures":[{}],"envelopeHash":{},"payloadHash":7}`,
	} {
		f.Add([]byte(s))
	}
	typ := dsse.New()
	f.Fuzz(func(t *testing.T, spec []byte) {
		c, err := typ.Canonicalize(context.Background(), dsse.APIVersion, spec)
		if err != nil {
			var ie *types.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not a *types.InvalidError", err, err)
			}
			return
		}
		if !json.Valid(c.Body) {
			t.Fatalf("invalid JSON body %q", c.Body)
		}
		c2, err := typ.Canonicalize(context.Background(), dsse.APIVersion, spec)
		if err != nil || string(c2.Body) != string(c.Body) {
			t.Fatalf("second run: %v, body %q vs %q", err, c2.Body, c.Body)
		}
	})
}
