package rekorv2_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	upstream "github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/types/rekorv2"
)

// upstreamAlgorithms is rekor-tiles v2.3.0's default
// --client-signing-algorithms (internal/algorithmregistry, which a test
// outside the module cannot import).
var upstreamAlgorithms = []protocommon.PublicKeyDetails{
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
	protocommon.PublicKeyDetails_PKIX_ED25519,
	protocommon.PublicKeyDetails_PKIX_ED25519_PH,
}

// upstreamCanonicalize is rekor-tiles v2.3.0's CreateEntry up to the leaf:
// ToLogEntry, protojson, RFC 8785. A panic is reported as panicked.
func upstreamCanonicalize(t testing.TB, req *pb.CreateEntryRequest) (body []byte, panicked bool, err error) {
	t.Helper()
	reg, err := signature.NewAlgorithmRegistryConfig(upstreamAlgorithms)
	if err != nil {
		t.Fatal(err)
	}
	hr := req.GetHashedRekordRequestV002()
	if hr == nil {
		return nil, false, fmt.Errorf("invalid type, must be hashedrekord")
	}
	defer func() {
		if r := recover(); r != nil {
			body, panicked, err = nil, true, fmt.Errorf("panic: %v", r)
		}
	}()
	entry, err := upstream.ToLogEntry(hr, reg)
	if err != nil {
		return nil, false, err
	}
	b, err := protojson.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	body, err = jsoncanonicalizer.Transform(b)
	if err != nil {
		t.Fatal(err)
	}
	return body, false, nil
}

// TestUpstreamAgrees runs rekor-tiles v2.3.0's own hashedrekord code on
// every request of the accept and refuse tables: what Tabula accepts,
// upstream accepts with the same body; what Tabula refuses, upstream
// refuses, except the documented differences (refuseCase.upstream).
func TestUpstreamAgrees(t *testing.T) {
	for _, k := range testKeys(t) {
		for _, cert := range []bool{false, true} {
			r := signed(t, k, cert)
			for _, n := range []names{camel, snake} {
				t.Run(fmt.Sprintf("accept/%s/cert=%v/%s", k.name, cert, n.pk), func(t *testing.T) {
					body := r.json(t, n)
					req, err := rekorv2.ParseRequest(body)
					if err != nil {
						t.Fatal(err)
					}
					e, err := rekorv2.Canonicalize(req)
					if err != nil {
						t.Fatal(err)
					}
					up, _, err := upstreamCanonicalize(t, req)
					if err != nil {
						t.Fatalf("upstream refuses: %v", err)
					}
					if !bytes.Equal(up, e.Body) {
						t.Fatalf("bodies differ\nupstream %s\n  tabula %s", up, e.Body)
					}
				})
			}
		}
	}
	for name, golden := range goldenBodies(t) {
		t.Run("golden/"+name, func(t *testing.T) {
			req, err := rekorv2.ParseRequest(requestFromBody(t, golden))
			if err != nil {
				t.Fatal(err)
			}
			up, _, err := upstreamCanonicalize(t, req)
			if err != nil || !bytes.Equal(up, golden) {
				t.Fatalf("upstream: %v\n%s", err, up)
			}
		})
	}
	for _, c := range refuseCases(t) {
		for style, body := range c.bodies(t) {
			t.Run("refuse/"+c.name+"/"+style, func(t *testing.T) {
				req, err := rekorv2.ParseRequest(body)
				if err != nil || req.GetHashedRekordRequestV002() == nil {
					t.Skip("refused before hashedrekord's checks; the decoding is the gateway's own protojson call")
				}
				_, panicked, err := upstreamCanonicalize(t, req)
				switch c.upstream {
				case "":
					if err == nil || panicked {
						t.Fatalf("upstream: %v (panicked %v), want a refusal", err, panicked)
					}
				case "accepts":
					if err != nil {
						t.Fatalf("upstream refuses (%v); the difference documented is gone", err)
					}
				case "panics":
					if !panicked {
						t.Fatalf("upstream: %v, want a panic", err)
					}
				}
			})
		}
	}
}
