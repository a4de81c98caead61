package dsse_test

import (
	"testing"

	"github.com/tabularium/tabula/types/dsse"
	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
)

// FuzzCanonicalize feeds arbitrary spec bytes to Canonicalize: it must not
// panic, must fail only with *types.InvalidError, and an accepted spec must
// give valid JSON, the same body twice.
func FuzzCanonicalize(f *testing.F) {
	for _, pe := range envelopetest.GoldenProposals(f) {
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
		envelopetest.CheckFuzzed(t, typ, dsse.APIVersion, spec)
	})
}
