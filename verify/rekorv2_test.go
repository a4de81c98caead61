package verify_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tabularium/tabula/verify"
)

// TestRekorV2Tampered changes the bundle side of the transcribed Rekor v2
// vectors: Tabula's own body-vs-bundle match must catch each change.
func TestRekorV2Tampered(t *testing.T) {
	const (
		dsse = "bundle-v0.3-rekor2-prod-dsse002-cert.transcribed.json"
		hr   = "bundle-v0.3-rekor2-prod-hashedrekord002-cert.transcribed.json"
	)
	for _, c := range []struct {
		name, bundle, from, to, want string
	}{
		// "hello, world!" -> "hello, world?" in the envelope payload.
		{"dsse payload", dsse, `"payload": "aGVsbG8sIHdvcmxkIQ=="`, `"payload": "aGVsbG8sIHdvcmxkPw=="`, verify.CheckEntryMatches},
		// The payload type is not logged in dsse 0.0.2, but it is signed.
		{"dsse payload type", dsse, `"payloadType": "text/plain"`, `"payloadType": "text/html"`, verify.CheckArtifactSig},
		// The bundle's digest is changed; the logged one is not.
		{"hashedrekord digest", hr, `"digest": "aOZWslHmfoNYvvhIOrDVHGYZ8+ehqfDnWDjUH/No9yg="`, `"digest": "aOZWslHmfoNYvvhIOrDVHGYZ8+ehqfDnWDjUH/No9yk="`, verify.CheckEntryMatches},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := read(t, c.bundle)
			if !bytes.Contains(b, []byte(c.from)) {
				t.Fatalf("%s does not contain %s", c.bundle, c.from)
			}
			b = bytes.Replace(b, []byte(c.from), []byte(c.to), 1)
			_, err := verify.Bundle(b, verify.BundleOptions{TrustedRoot: read(t, fullRoot), InsecureIgnoreIdentity: true})
			var ce *verify.CheckError
			if !errors.As(err, &ce) || ce.Check != c.want {
				t.Fatalf("got %v, want a %q failure", err, c.want)
			}
		})
	}
}
