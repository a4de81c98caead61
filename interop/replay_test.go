package interop

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	"github.com/sigstore/rekor/pkg/types/dsse"
	"github.com/sigstore/rekor/pkg/types/intoto"
	"github.com/sigstore/rekor/pkg/types/rekord"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The main module's test vectors, read in place.
const (
	rekordVectors      = "../types/rekord/testdata"
	hashedrekordBodies = "../types/hashedrekord/testdata/public-good"
	dsseBundles        = "../types/dsse/testdata/public-good"
	intotoBundles      = "../types/intoto/testdata/public-good"
)

// TestRekordFormats logs rekord entries in every signature format rekor's
// rekord type takes from its command line (x509 with ECDSA, RSA and
// Ed25519; PGP armored and binary; SSH), built with rekor's
// CreateProposedEntry from keys and signatures made with openssl, GnuPG and
// ssh-keygen (types/rekord/testdata). Each body must be rekor's canonical
// form and verify.
func TestRekordFormats(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		requireKind(t, "rekord")
		c := newLogClient(t, s)
		artifact := readFile(t, filepath.Join(rekordVectors, "artifact.txt"))
		cases := []struct{ name, format, key, sig string }{
			{"x509-p256", "x509", "x509-p256.pub.pem", "artifact.txt.x509-p256.sig"},
			{"x509-rsa", "x509", "x509-rsa.pub.pem", "artifact.txt.x509-rsa.sig"},
			{"x509-ed25519", "x509", "x509-ed25519.pub.pem", "artifact.txt.x509-ed25519.sig"},
			{"pgp-ed25519-armored", "pgp", "pgp-ed25519.pub.asc", "artifact.txt.pgp.asc"},
			{"pgp-rsa-binary", "pgp", "pgp-rsa.pub.asc", "artifact.txt.pgp-rsa.sig"},
			{"ssh-ed25519", "ssh", "ssh-ed25519.pub", "artifact.txt.ssh-ed25519.sig"},
			// Not artifact.txt.ssh-ed25519-sha256.sig: rekor's ssh
			// verifier takes SHA-512 signatures only, so its own
			// CreateProposedEntry refuses that one.
			{"ssh-rsa", "ssh", "ssh-rsa.pub", "artifact.txt.ssh-rsa.sig"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				pe, err := rekord.New().CreateProposedEntry(ctx(t), "0.0.1", types.ArtifactProperties{
					ArtifactBytes:  artifact,
					SignatureBytes: readFile(t, filepath.Join(rekordVectors, tc.sig)),
					PublicKeyBytes: [][]byte{readFile(t, filepath.Join(rekordVectors, tc.key))},
					PKIFormat:      tc.format,
				})
				if err != nil {
					t.Fatalf("rekor rekord.CreateProposedEntry(%s): %v", tc.format, err)
				}
				_, e := c.create(t, pe)
				c.verifyEntry(t, e)
				checkCanonical(t, pe, e)
			})
		}
	})
}

// TestPublicGoodReplay logs entries from Sigstore's public-good instance
// again. hashedrekord bodies are valid proposed entries as they are: Tabula
// must log the very body rekor.sigstore.dev logged (same bytes, same leaf
// hash and UUID). dsse and intoto entries are rebuilt from their bundles'
// envelopes with rekor's CreateProposedEntry; a bundle does not keep the
// envelope's JSON bytes the original client sent, and the one field
// hashed from them (dsse envelopeHash, intoto content.hash) cannot be
// reproduced, so that field is left out of the comparison (checkCanonical
// checks it against rekor's own code instead) and every other byte must
// match.
func TestPublicGoodReplay(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		type vector struct {
			name    string
			kind    string
			entry   func(t *testing.T) (models.ProposedEntry, []byte) // proposed entry, public-good body
			ignore  []string                                          // body fields left out of the comparison
			wantErr string                                            // the server must refuse it with this
		}
		var vectors []vector
		bodies, _ := filepath.Glob(filepath.Join(hashedrekordBodies, "bundle-*.body.json"))
		for _, f := range bodies {
			v := vector{name: filepath.Base(f), kind: "hashedrekord", entry: func(t *testing.T) (models.ProposedEntry, []byte) {
				body := readFile(t, f)
				pe, err := models.UnmarshalProposedEntry(bytes.NewReader(body), runtime.JSONConsumer())
				if err != nil {
					t.Fatal(err)
				}
				return pe, body
			}}
			if strings.Contains(f, "cpython") {
				// ECDSA P-384 with a SHA-256 digest: logged in 2024, refused
				// since by Rekor's default --client-signing-algorithms.
				v.wantErr = "entry algorithms are not allowed"
			}
			vectors = append(vectors, v)
		}
		envelopes := []struct{ dir, file, kind, version, clientHash string }{
			{dsseBundles, "bundle-v0.3-dsse-intoto-cert.json", "dsse", "0.0.1", "spec.envelopeHash"},
			{dsseBundles, "bundle-v0.3-dsse-npm-publish-sigstore-1.0.0.json", "dsse", "0.0.1", "spec.envelopeHash"},
			{intotoBundles, "bundle-v0.1-intoto-npm-provenance-sigstore-2.0.0.json", "intoto", "0.0.2", "spec.content.hash"},
			{intotoBundles, "bundle-v0.2-intoto-npm-publish-sigstore-1.0.0.json", "intoto", "0.0.2", "spec.content.hash"},
			{intotoBundles, "bundle-npm-publish-intoto-set-only.json", "intoto", "0.0.2", "spec.content.hash"},
		}
		for _, v := range envelopes {
			vectors = append(vectors, vector{name: v.file, kind: v.kind, ignore: []string{v.clientHash},
				entry: func(t *testing.T) (models.ProposedEntry, []byte) {
					return fromBundle(t, filepath.Join(v.dir, v.file), v.kind, v.version)
				}})
		}
		if len(vectors) < 10 {
			t.Fatalf("%d public-good vectors found, want at least 10 (moved?)", len(vectors))
		}
		for _, v := range vectors {
			t.Run(v.name, func(t *testing.T) {
				requireKind(t, v.kind)
				pe, want := v.entry(t)
				if v.wantErr != "" {
					p := entries.NewCreateLogEntryParams()
					p.SetProposedEntry(pe)
					var bad *entries.CreateLogEntryBadRequest
					_, err := c.rekor.Entries.CreateLogEntryContext(ctx(t), p)
					if !errors.As(err, &bad) || !strings.Contains(describe(err), v.wantErr) {
						t.Errorf("CreateLogEntry: %v, want 400 %q", describe(err), v.wantErr)
					}
					return
				}
				uuid, e := c.create(t, pe)
				c.verifyEntry(t, e)
				checkCanonical(t, pe, e)
				got := bodyBytes(t, e)
				if len(v.ignore) > 0 {
					got, want = without(t, got, v.ignore), without(t, want, v.ignore)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("Tabula logged\n%s\nrekor.sigstore.dev logged\n%s", got, want)
				}
				if len(v.ignore) == 0 {
					if leaf := hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(want)); uuid[16:] != leaf {
						t.Errorf("UUID %s, want the public-good leaf hash %s", uuid, leaf)
					}
				}
			})
		}
	})
}

// fromBundle rebuilds the proposed dsse or intoto entry of a public-good
// bundle from its envelope and signer, and returns it with the bundle's
// logged body.
func fromBundle(t *testing.T, path, kind, version string) (models.ProposedEntry, []byte) {
	t.Helper()
	b, err := bundle.LoadJSONFromPath(path)
	if err != nil {
		t.Fatalf("sigstore-go bundle.LoadJSONFromPath: %v", err)
	}
	tles := b.GetVerificationMaterial().GetTlogEntries()
	if len(tles) != 1 {
		t.Fatalf("%d tlog entries, want 1", len(tles))
	}
	logged := tles[0].CanonicalizedBody

	var key []byte
	vm := b.GetVerificationMaterial()
	switch {
	case vm.GetCertificate() != nil:
		key = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vm.GetCertificate().RawBytes})
	case vm.GetX509CertificateChain() != nil:
		key = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vm.GetX509CertificateChain().Certificates[0].RawBytes})
	default: // the npm registry key
		key = readFile(t, filepath.Join(intotoBundles, "publickey-npm-publish.pem"))
	}
	var sentPEM []byte
	if kind == "intoto" {
		// intoto keeps the PEM the client sent byte for byte (line
		// lengths, final newline); rekor's Go client sends its canonical
		// PEM instead, and a bundle keeps only the DER. Take what the
		// original client sent from the logged body.
		var body struct {
			Spec struct {
				Content struct {
					Envelope struct {
						Signatures []struct {
							PublicKey []byte `json:"publicKey"`
						} `json:"signatures"`
					} `json:"envelope"`
				} `json:"content"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(logged, &body); err != nil || len(body.Spec.Content.Envelope.Signatures) != 1 {
			t.Fatalf("public-good intoto body: %v", err)
		}
		sentPEM = body.Spec.Content.Envelope.Signatures[0].PublicKey
	}

	env := b.GetDsseEnvelope()
	type sig struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	}
	wire := struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []sig  `json:"signatures"`
	}{PayloadType: env.PayloadType, Payload: base64.StdEncoding.EncodeToString(env.Payload)}
	for _, s := range env.Signatures {
		wire.Signatures = append(wire.Signatures, sig{KeyID: s.Keyid, Sig: base64.StdEncoding.EncodeToString(s.Sig)})
	}
	envJSON, err := json.Marshal(wire)
	if err != nil {
		t.Fatal(err)
	}
	props := types.ArtifactProperties{ArtifactBytes: envJSON, PublicKeyBytes: [][]byte{key}}
	var pe models.ProposedEntry
	switch kind {
	case "dsse":
		pe, err = dsse.New().CreateProposedEntry(ctx(t), version, props)
	case "intoto":
		pe, err = intoto.New().CreateProposedEntry(ctx(t), version, props)
	}
	if err != nil {
		t.Fatalf("rekor %s.CreateProposedEntry: %v", kind, err)
	}
	if sentPEM != nil {
		spec, ok := pe.(*models.Intoto).Spec.(models.IntotoV002Schema)
		if !ok || len(spec.Content.Envelope.Signatures) != 1 {
			t.Fatalf("rekor's intoto 0.0.2 proposed entry changed shape: %T", pe.(*models.Intoto).Spec)
		}
		b64 := strfmt.Base64(sentPEM)
		spec.Content.Envelope.Signatures[0].PublicKey = &b64
	}
	return pe, logged
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// without re-marshals a JSON body without the dotted paths in drop.
func without(t *testing.T, body []byte, drop []string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range drop {
		parts := strings.Split(d, ".")
		obj := m
		for _, p := range parts[:len(parts)-1] {
			next, ok := obj[p].(map[string]any)
			if !ok {
				t.Fatalf("%s: no %s in %s", d, p, body)
			}
			obj = next
		}
		if _, ok := obj[parts[len(parts)-1]]; !ok {
			t.Fatalf("%s: not in %s", d, body)
		}
		delete(obj, parts[len(parts)-1])
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
