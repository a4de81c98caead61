package intoto_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/intoto"
)

// FuzzCanonicalize feeds arbitrary spec bytes to Canonicalize under both
// apiVersions: it must not panic, must fail only with *types.InvalidError,
// and an accepted spec must give valid JSON, the same body twice.
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
		f.Add(pe.APIVersion == intoto.V001, []byte(pe.Spec))
	}
	for _, s := range []string{
		`{}`, `[]`, `null`, `{"content":{}}`, `{"content":{"envelope":{}}}`,
		`{"content":{"envelope":{"payloadType":"","payload":"AA==","signatures":[{"sig":"","publicKey":""}]},"hash":{"algorithm":"sha256","value":""}}}`,
		`{"content":{"envelope":{"payloadType":"x","signatures":[{}]},"payloadHash":{}}}`,
	} {
		f.Add(false, []byte(s))
	}
	for _, s := range []string{
		`{}`, `{"content":{"envelope":"{}"},"publicKey":""}`,
		`{"content":{"envelope":"{\"payload\":\"\",\"payloadType\":\"\",\"signatures\":[{\"sig\":\"\"}]}"},"publicKey":"LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0K"}`,
		`{"content":{"hash":{"algorithm":"sha256","value":"00"}},"publicKey":"AAAA"}`,
	} {
		f.Add(true, []byte(s))
	}
	typ := intoto.New()
	f.Fuzz(func(t *testing.T, v001 bool, spec []byte) {
		version := intoto.V002
		if v001 {
			version = intoto.V001
		}
		c, err := typ.Canonicalize(context.Background(), version, spec)
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
		c2, err := typ.Canonicalize(context.Background(), version, spec)
		if err != nil || string(c2.Body) != string(c.Body) {
			t.Fatalf("second run: %v, body %q vs %q", err, c2.Body, c.Body)
		}
	})
}
