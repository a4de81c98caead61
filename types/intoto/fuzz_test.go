package intoto_test

import (
	"testing"

	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
	"github.com/tabularium/tabula/types/intoto"
)

// FuzzCanonicalize feeds arbitrary spec bytes to Canonicalize under both
// apiVersions: it must not panic, must fail only with *types.InvalidError,
// and an accepted spec must give valid JSON, the same body twice.
func FuzzCanonicalize(f *testing.F) {
	for _, pe := range envelopetest.GoldenProposals(f) {
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
		envelopetest.CheckFuzzed(t, typ, version, spec)
	})
}
