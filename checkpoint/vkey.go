package checkpoint

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// signed-note signature type of ECDSA keys (c2sp.org/signed-note: "as
// implemented by github.com/transparency-dev/witness").
const sigTypeECDSA = 0x02

// VKey returns the verifier key (c2sp.org/signed-note "vkey") of a log's
// checkpoint key pub, named name, as witnesses and tlog-policy files take
// it: for Ed25519 in the C2SP form, "<name>+<hash>+base64(0x01 || key)"; for
// ECDSA, "<name>+<hash>+base64(0x02 || DER SubjectPublicKeyInfo)", whose
// hash is the first four bytes of SHA-256 of the DER, which is both Rekor
// v1's key hint and transparency-dev/formats' (note.NewECDSAVerifier).
// An Ed25519 key in Rekor v1's form has no vkey type: its key hint is
// derived as no signed-note type derives one.
func VKey(name string, form KeyIDForm, pub crypto.PublicKey) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("checkpoint: %q is not a valid key name", name)
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if form != KeyIDC2SP {
			return "", fmt.Errorf("checkpoint: an Ed25519 key with %s key IDs has no vkey", form)
		}
		return note.NewEd25519VerifierKey(name, k)
	case *ecdsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("checkpoint: marshalling public key: %w", err)
		}
		id, err := spkiID(k)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s+%08x+%s", name, Hint(id), base64.StdEncoding.EncodeToString(append([]byte{sigTypeECDSA}, der...))), nil
	}
	return "", fmt.Errorf("checkpoint: no vkey for a %T key", pub)
}
