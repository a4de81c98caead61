package interop

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/swag/conv"
	"github.com/sigstore/rekor/pkg/generated/client/index"
	"github.com/sigstore/rekor/pkg/generated/models"
)

// search asks /api/v1/index/retrieve with the generated client and returns
// the entry UUIDs, sorted.
func (c *logClient) search(t *testing.T, q *models.SearchIndex) []string {
	t.Helper()
	p := index.NewSearchIndexParams()
	p.SetQuery(q)
	resp, err := c.rekor.Index.SearchIndexContext(ctx(t), p)
	if err != nil {
		t.Fatalf("SearchIndex(%+v): %s", q, describe(err))
	}
	got := slices.Clone(resp.Payload)
	slices.Sort(got)
	return got
}

// TestSearchIndex finds entries by artifact hash, public key, certificate,
// email and subject through the rekor client, alone and combined. An entry
// whose email SAN is "sha256:<digest of alice1>" is not found by that
// hash (Tabula's search keys are typed; Rekor's would find it), only by
// its subject.
func TestSearchIndex(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		ca := newTestCA(t)
		alice := newKeySigner(t)
		bob := newKeySigner(t)
		const uri = "https://github.com/interop/repo/.github/workflows/release.yml@refs/tags/v1"

		entries := map[string]*signed{
			"alice1":  newHashedRekord(t, alice.key, alice.pemPub, []byte("shared artifact")),
			"alice2":  newHashedRekord(t, alice.key, alice.pemPub, []byte("alice's other artifact")),
			"bob1":    newHashedRekord(t, bob.key, bob.pemPub, []byte("shared artifact")),
			"email":   certSigned(t, ca, "carol@interop.invalid", "carol's artifact"),
			"subject": certSigned(t, ca, uri, "workflow artifact"),
		}
		entries["mimic"] = certSigned(t, ca, "sha256:"+hex.EncodeToString(entries["alice1"].digest), "mimic's artifact")
		ids := map[string]string{}
		for _, name := range []string{"alice1", "alice2", "bob1", "email", "subject", "mimic"} {
			ids[name], _ = c.create(t, entries[name].entry)
		}
		want := func(names ...string) []string {
			var out []string
			for _, n := range names {
				out = append(out, ids[n])
			}
			slices.Sort(out)
			return out
		}
		shared := hex.EncodeToString(entries["alice1"].digest)
		cases := []struct {
			name string
			q    *models.SearchIndex
			want []string
		}{
			{"hash with prefix", &models.SearchIndex{Hash: "sha256:" + shared}, want("alice1", "bob1")},
			{"hash without prefix", &models.SearchIndex{Hash: shared}, want("alice1", "bob1")},
			{"hash upper case", &models.SearchIndex{Hash: strings.ToUpper(shared)}, want("alice1", "bob1")},
			{"public key", &models.SearchIndex{PublicKey: &models.SearchIndexPublicKey{
				Format: conv.Pointer("x509"), Content: strfmt.Base64(alice.pemPub)}}, want("alice1", "alice2")},
			{"certificate", &models.SearchIndex{PublicKey: &models.SearchIndexPublicKey{
				Format: conv.Pointer("x509"), Content: strfmt.Base64(entries["email"].pemKey)}}, want("email")},
			{"email", &models.SearchIndex{Email: "carol@interop.invalid"}, want("email")},
			{"email other case", &models.SearchIndex{Email: "Carol@Interop.Invalid"}, want("email")},
			{"subject", &models.SearchIndex{Subject: uri}, want("subject")},
			{"a digest as an email SAN", &models.SearchIndex{Subject: "sha256:" + shared}, want("mimic")},
			{"hash and key", &models.SearchIndex{Operator: "and", Hash: shared, PublicKey: &models.SearchIndexPublicKey{
				Format: conv.Pointer("x509"), Content: strfmt.Base64(bob.pemPub)}}, want("bob1")},
			{"hash or email", &models.SearchIndex{Operator: "or", Hash: shared, Email: "carol@interop.invalid"}, want("alice1", "bob1", "email")},
			{"no match", &models.SearchIndex{Hash: strings.Repeat("0", 64)}, nil},
		}
		for _, tc := range cases {
			got := c.search(t, tc.q)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
			for _, id := range got {
				c.getByUUID(t, id) // every UUID found can be read
			}
		}
	})
}
