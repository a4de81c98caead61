package verify_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/tabularium/tabula/verify"
)

// Verify a Rekor v1 checkpoint with the log's pinned public key alone.
func ExampleCheckpoint() {
	pemKey, _ := os.ReadFile("testdata/public-good/rekor-v1-public-good.pem")
	key, err := verify.ParseLogKeyPEM(pemKey)
	if err != nil {
		panic(err)
	}
	note, _ := os.ReadFile("testdata/public-good/checkpoint-rekor-v1-prod-valid.txt")
	cp, err := verify.Checkpoint(note, "", key)
	if err != nil {
		panic(err)
	}
	fmt.Println(cp.Origin, cp.Size)
	// Output: rekor.sigstore.dev - 2605736670972794746 37795272
}

// Verify a Sigstore bundle and its artifact against a trusted root, with an
// identity policy.
func ExampleBundle() {
	bundle, _ := os.ReadFile("testdata/public-good/bundle-v0.3-hashedrekord-cert-rfc3161.json")
	root, _ := os.ReadFile("testdata/public-good/trusted-root-public-good-full.json")
	artifact, _ := os.ReadFile("testdata/public-good/artifact-cosign-v3-blob.txt")

	r, err := verify.Bundle(bundle, verify.BundleOptions{
		TrustedRoot: root,
		Artifact:    bytes.NewReader(artifact),
		Identity:    &verify.Identity{SAN: "w.vollprecht@gmail.com", Issuer: "https://github.com/login/oauth"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("verified", r.Version, "bundle, log index", r.LogIndex, "signed by", r.SAN)

	// The same bundle with a tampered artifact fails, and says which check.
	_, err = verify.Bundle(bundle, verify.BundleOptions{
		TrustedRoot:            root,
		Artifact:               bytes.NewReader([]byte("something else")),
		InsecureIgnoreIdentity: true,
	})
	var ce *verify.CheckError
	if errors.As(err, &ce) {
		fmt.Println("failed:", ce.Check)
	}
	// Output:
	// verified v0.3 bundle, log index 738312748 signed by w.vollprecht@gmail.com
	// failed: artifact signature
}
