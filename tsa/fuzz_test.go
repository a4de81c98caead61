package tsa_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/digitorus/timestamp"

	"github.com/tabularium/tabula/tsa"
)

// FuzzParseRequest: no body makes ParseRequest panic or fail other than
// with a 400 or 415 *RequestError, and every request it accepts gets a
// response that parses, for the same digest and algorithm, with the nonce
// echoed, this TSA's policy, and the signing certificate iff certReq.
func FuzzParseRequest(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParseRequest holds requests made by
	// openssl ts -query (SHA-1/256/384/512, with and without nonce, certReq
	// and policy) and a JSON request; plus these.
	a := newAuthority(f, nil)
	f.Add(false, []byte{})
	f.Add(false, []byte{0x30, 0x00})
	f.Add(true, []byte(`{}`))
	f.Add(true, []byte(`{"artifactHash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","hashAlgorithm":"sha256","nonce":-1}`))
	f.Fuzz(func(t *testing.T, json bool, body []byte) {
		ct := tsa.QueryContentType
		if json {
			ct = tsa.JSONContentType
		}
		req, err := a.ParseRequest(ct, body)
		if err != nil {
			var re *tsa.RequestError
			if !errors.As(err, &re) || re.Status != 400 || re.Message == "" {
				t.Fatalf("refusal %v (%T)", err, err)
			}
			return
		}
		resp, err := a.Respond(req)
		if err != nil {
			t.Fatalf("an accepted request is not signed: %v", err)
		}
		ts, err := timestamp.ParseResponse(resp)
		if err != nil {
			t.Fatalf("the response does not parse: %v", err)
		}
		if ts.HashAlgorithm != req.HashAlgorithm || !bytes.Equal(ts.HashedMessage, req.HashedMessage) || !ts.Policy.Equal(a.Policy()) {
			t.Fatalf("response for %v %x policy %v", ts.HashAlgorithm, ts.HashedMessage, ts.Policy)
		}
		if (req.Nonce == nil) != (ts.Nonce == nil) || (req.Nonce != nil && req.Nonce.Cmp(ts.Nonce) != 0) {
			t.Fatalf("nonce %v, asked %v", ts.Nonce, req.Nonce)
		}
		if req.Certificates != (len(ts.Certificates) == 1) {
			t.Fatalf("certReq %v, %d certificates", req.Certificates, len(ts.Certificates))
		}
	})
}
