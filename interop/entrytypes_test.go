package interop

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/swag/conv"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	"github.com/sigstore/rekor/pkg/types/dsse"
	"github.com/sigstore/rekor/pkg/types/intoto"
	"github.com/sigstore/rekor/pkg/types/rekord"
	"github.com/sigstore/sigstore/pkg/signature"
	ssdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
)

// envelope is a DSSE envelope (JSON) over payload signed by key, made with
// sigstore's DSSE signer wrapper.
func envelope(t *testing.T, key *ecdsa.PrivateKey, payloadType string, payload []byte) []byte {
	t.Helper()
	s, err := signature.LoadECDSASigner(key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ssdsse.WrapSigner(s, payloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("DSSE signing: %v", err)
	}
	return env
}

// TestEntryTypes logs every other kind Rekor clients send, each built with
// rekor's own pkg/types (CreateProposedEntry), signed by a key and by a
// certificate: dsse, intoto 0.0.1 and 0.0.2 (in-toto statements in DSSE
// envelopes) and rekord. A kind is skipped only while the server does not
// register it; once it does, its entries must be accepted, verify with
// rekor pkg/verify and sigstore-go pkg/tlog, read back with rekor's type,
// deduplicate (409) and be found by key and by subject digest or artifact
// hash.
func TestEntryTypes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		ca := newTestCA(t)
		tr := c.trustedRoot(t, ca)

		kinds := []struct {
			kind, version string
			build         func(t *testing.T, key *ecdsa.PrivateKey, pemKey, artifact []byte) models.ProposedEntry
		}{
			{"hashedrekord", "0.0.1", func(t *testing.T, key *ecdsa.PrivateKey, pemKey, artifact []byte) models.ProposedEntry {
				return newHashedRekord(t, key, pemKey, artifact).entry
			}},
			{"dsse", "0.0.1", func(t *testing.T, key *ecdsa.PrivateKey, pemKey, artifact []byte) models.ProposedEntry {
				env := envelope(t, key, inTotoPayloadType, statement(t, "artifact.bin", artifact))
				pe, err := dsse.New().CreateProposedEntry(ctx(t), "0.0.1", types.ArtifactProperties{
					ArtifactBytes: env, PublicKeyBytes: [][]byte{pemKey}})
				if err != nil {
					t.Fatalf("rekor dsse.CreateProposedEntry: %v", err)
				}
				return pe
			}},
			{"intoto", "0.0.1", func(t *testing.T, key *ecdsa.PrivateKey, pemKey, artifact []byte) models.ProposedEntry {
				env := envelope(t, key, inTotoPayloadType, statement(t, "artifact.bin", artifact))
				pe, err := intoto.New().CreateProposedEntry(ctx(t), "0.0.1", types.ArtifactProperties{
					ArtifactBytes: env, PublicKeyBytes: [][]byte{pemKey}})
				if err != nil {
					t.Fatalf("rekor intoto.CreateProposedEntry(0.0.1): %v", err)
				}
				return pe
			}},
			{"intoto", "0.0.2", func(t *testing.T, key *ecdsa.PrivateKey, pemKey, artifact []byte) models.ProposedEntry {
				env := envelope(t, key, inTotoPayloadType, statement(t, "artifact.bin", artifact))
				pe, err := intoto.New().CreateProposedEntry(ctx(t), "0.0.2", types.ArtifactProperties{
					ArtifactBytes: env, PublicKeyBytes: [][]byte{pemKey}})
				if err != nil {
					t.Fatalf("rekor intoto.CreateProposedEntry(0.0.2): %v", err)
				}
				return pe
			}},
			{"rekord", "0.0.1", func(t *testing.T, key *ecdsa.PrivateKey, pemKey, artifact []byte) models.ProposedEntry {
				_, sig := signArtifact(t, key, artifact)
				pe, err := rekord.New().CreateProposedEntry(ctx(t), "0.0.1", types.ArtifactProperties{
					ArtifactBytes: artifact, SignatureBytes: sig, PublicKeyBytes: [][]byte{pemKey}, PKIFormat: "x509"})
				if err != nil {
					t.Fatalf("rekor rekord.CreateProposedEntry: %v", err)
				}
				return pe
			}},
		}
		for _, k := range kinds {
			for _, by := range []string{"key", "cert"} {
				t.Run(k.kind+"-"+k.version+"/"+by, func(t *testing.T) {
					requireKind(t, k.kind)
					artifact := []byte(k.kind + " " + k.version + " " + by)
					var key *ecdsa.PrivateKey
					var pemKey []byte
					if by == "key" {
						ks := newKeySigner(t)
						key, pemKey = ks.key, ks.pemPub
					} else {
						cs := ca.newCertSigner(t, k.kind+"."+by+"@interop.invalid")
						key, pemKey = cs.key, cs.pemCert
					}
					b := k.build(t, key, pemKey, artifact)

					uuid, e := c.create(t, b)
					c.verifyEntry(t, e)
					c.verifyTlogEntry(t, tr, e)
					checkCanonical(t, b, e)
					if impl := body(t, e); impl.APIVersion() != k.version {
						t.Errorf("logged as version %s, want %s", impl.APIVersion(), k.version)
					}

					// Duplicate.
					p := entries.NewCreateLogEntryParams()
					p.SetProposedEntry(b)
					var conflict *entries.CreateLogEntryConflict
					if _, err := c.rekor.Entries.CreateLogEntryContext(ctx(t), p); !errors.As(err, &conflict) {
						t.Errorf("second CreateLogEntry: %v, want *entries.CreateLogEntryConflict", err)
					} else if uuidOf(conflict.Location.String()) != uuid {
						t.Errorf("409 Location %s, want …/%s", conflict.Location, uuid)
					}

					// Retrieve by the proposed entry: the server canonicalizes
					// it again and finds the same leaf.
					q := &models.SearchLogQuery{}
					q.SetEntries([]models.ProposedEntry{b})
					if got := c.retrieve(t, q); len(got) != 1 {
						t.Errorf("retrieve by entry: %d results, want 1", len(got))
					} else if id, _ := only(t, got[0]); id != uuid {
						t.Errorf("retrieve by entry: %s, want %s", id, uuid)
					}

					// Search: every key rekor's own type indexes this entry under
					// finds it, and among them is the artifact's digest.
					keys := rekorIndexKeys(t, b, e)
					if want := "sha256:" + hex.EncodeToString(sha256Of(artifact)); !slices.Contains(keys, want) {
						t.Errorf("rekor's index keys %v lack the artifact digest %s", keys, want)
					}
					// Tabula also indexes the key of every kind as the key it
					// is, which Rekor does only for hashedrekord and rekord:
					// a public key search finds them all.
					queries := []*models.SearchIndex{publicKeySearch(pemKey)}
					for _, key := range keys {
						queries = append(queries, searchFor(key, pemKey))
					}
					for i, q := range queries {
						if got := c.search(t, q); !slices.Contains(got, uuid) {
							what := "the public key"
							if i > 0 {
								what = fmt.Sprintf("index key %q", keys[i-1])
							}
							t.Errorf("%s: search %s found %v, not %s", what, showQuery(q), got, uuid)
						}
					}
				})
			}
		}
	})
}

func sha256Of(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}

// rekorIndexKeys is what Rekor indexes an entry under, computed by rekor's
// own type: IndexKeys of the proposed entry (which sees the envelope, hence
// in-toto subjects) and of the logged body (which has the hashes the server
// computed).
func rekorIndexKeys(t *testing.T, pe models.ProposedEntry, e models.LogEntryAnon) []string {
	t.Helper()
	proposed, err := types.UnmarshalEntry(pe)
	if err != nil {
		t.Fatalf("rekor types.UnmarshalEntry(proposed): %v", err)
	}
	keys, err := proposed.IndexKeys()
	if err != nil {
		t.Fatalf("rekor IndexKeys(proposed): %v", err)
	}
	// Rekor never asks a stored body for its keys; what it can give is a bonus.
	if more, err := body(t, e).IndexKeys(); err == nil {
		keys = append(keys, more...)
	}
	var out []string
	for _, k := range keys {
		if k = strings.ToLower(k); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

var (
	prefixedHash = regexp.MustCompile(`^(sha256:[0-9a-f]{64}|sha1:[0-9a-f]{40}|sha512:[0-9a-f]{128})$`)
	bareHash     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// searchFor is the /api/v1/index/retrieve query that should find an entry
// indexed under key: prefixed digests by hash (among them the
// "sha256:<hex>" key fingerprint of Rekor's dsse and intoto types), a bare
// SHA-256 (Rekor's key fingerprint for hashedrekord and rekord) by the public
// key, email addresses by email, other certificate subjects by subject.
func searchFor(key string, pemKey []byte) *models.SearchIndex {
	switch {
	case prefixedHash.MatchString(key):
		return &models.SearchIndex{Hash: key}
	case bareHash.MatchString(key):
		return publicKeySearch(pemKey)
	case strings.Contains(key, "@") && !strings.Contains(key, "/"):
		return &models.SearchIndex{Email: strfmt.Email(key)}
	default:
		return &models.SearchIndex{Subject: key}
	}
}

// publicKeySearch is the search by an X.509 public key (or certificate).
func publicKeySearch(pemKey []byte) *models.SearchIndex {
	return &models.SearchIndex{PublicKey: &models.SearchIndexPublicKey{Format: conv.Pointer("x509"), Content: strfmt.Base64(pemKey)}}
}

func showQuery(q *models.SearchIndex) string {
	switch {
	case q.Hash != "":
		return "hash " + q.Hash
	case q.PublicKey != nil:
		return "by public key"
	case q.Email != "":
		return "email " + q.Email.String()
	default:
		return "subject " + q.Subject
	}
}
