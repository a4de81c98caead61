package checkpoint_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

// rekorPublicGoodKey is the public-good Rekor v1 log key (PKIX DER, base64),
// from /work/shared/testdata/public-good/trusted-root-public-good.json.
const rekorPublicGoodKey = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw=="

// checkpointVerifier is one (origin, key name, key ID form, key) a
// checkpoint is checked against.
type checkpointVerifier struct {
	origin, name string
	form         checkpoint.KeyIDForm
	pub          crypto.PublicKey
}

// fuzzEd25519 is a fixed Ed25519 key, so that the checkpoints it signs are
// the same in every fuzz worker.
func fuzzEd25519() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

func checkpointVerifiers(f *testing.F) []checkpointVerifier {
	f.Helper()
	der, _ := base64.StdEncoding.DecodeString(rekorPublicGoodKey)
	prod, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		f.Fatal(err)
	}
	pem, err := os.ReadFile("testdata/rekor/publicKey.pem")
	if err != nil {
		f.Fatal(err)
	}
	local, err := signer.ParsePublicKeyPEM(pem)
	if err != nil {
		f.Fatal(err)
	}
	return []checkpointVerifier{
		{"rekor.sigstore.dev - 2605736670972794746", "rekor.sigstore.dev", checkpoint.KeyIDRekorV1, prod},
		{"rekor.local - 1218770045811791574", "rekor.local", checkpoint.KeyIDRekorV1, local},
		{"tabula.test - 1", "tabula.test", checkpoint.KeyIDRekorV1, fuzzEd25519().Public()},
		{"tabula.test/c2sp", "tabula.test/c2sp", checkpoint.KeyIDC2SP, fuzzEd25519().Public()},
	}
}

// FuzzParseCheckpoint: no checkpoint or signed note, however malformed,
// makes Verify panic, and what it accepts is what the note says.
func FuzzParseCheckpoint(f *testing.F) {
	verifiers := checkpointVerifiers(f)

	// Real checkpoints: Rekor's (rekor.local) and two signed here with
	// Ed25519, under each key ID form; testdata/fuzz/FuzzParseCheckpoint holds public-good's (valid,
	// and the C2SP reject cases) and the C2SP signed-note example.
	var info struct {
		SignedTreeHead string `json:"signedTreeHead"`
	}
	b, err := os.ReadFile("testdata/rekor/loginfo.json")
	if err != nil {
		f.Fatal(err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(info.SignedTreeHead))
	sgn, err := signer.New(fuzzEd25519())
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range verifiers[2:] {
		ns, err := checkpoint.NewSigner(v.name, v.form, sgn)
		if err != nil {
			f.Fatal(err)
		}
		signed, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: v.origin, Size: 12345, Root: merkle.Hash(bytes.Repeat([]byte{0xab}, 32))}, ns)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signed)
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range verifiers {
			cp, err := checkpoint.Verify(b, v.origin, v.name, v.form, v.pub)
			if err != nil {
				continue
			}
			// Accepted: the note's text starts with exactly this checkpoint.
			if cp.Origin != v.origin {
				t.Fatalf("origin %q accepted for %q", cp.Origin, v.origin)
			}
			want := v.origin + "\n" + strconv.FormatUint(cp.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(cp.Root[:]) + "\n"
			if !bytes.HasPrefix(b, []byte(want)) {
				t.Fatalf("accepted checkpoint %+v is not the start of the note %q", cp, b)
			}
		}
	})
}
