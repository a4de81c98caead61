package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/types"
)

// attestKind is a test entry kind whose spec {"id":…,"data":…} becomes a
// body and an attestation, so the API's attestation handling can be tested
// without depending on a real attestation type.
type attestKind struct{}

func (attestKind) Kind() string       { return "attest" }
func (attestKind) Versions() []string { return []string{"0.0.1"} }
func (attestKind) Canonicalize(_ context.Context, _ string, spec json.RawMessage) (types.Canonical, error) {
	var s struct {
		ID   string `json:"id"`
		Data string `json:"data"`
	}
	if err := json.Unmarshal(spec, &s); err != nil {
		return types.Canonical{}, types.Invalidf("%v", err)
	}
	body := fmt.Sprintf(`{"apiVersion":"0.0.1","kind":"attest","spec":{"id":%q}}`, s.ID)
	return types.Canonical{Body: []byte(body), Attestation: []byte(s.Data)}, nil
}

func TestAttestationStorage(t *testing.T) {
	const limit = 64
	tests := []struct {
		name   string
		data   string
		stored bool
	}{
		{"small is stored", "an attestation", true},
		{"at the limit is stored", strings.Repeat("a", limit), true},
		{"over the limit is not stored, the entry is", strings.Repeat("b", limit+1), false},
		{"none", "", false},
	}
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServerWith(t, e, func(c *api.Config) {
				c.Types = types.NewRegistry(attestKind{})
				c.MaxAttestationSize = limit
			})
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					req := fmt.Sprintf(`{"kind":"attest","apiVersion":"0.0.1","spec":{"id":"%d","data":%q}}`, i, tt.data)
					resp, b := s.do("POST", "/api/v1/log/entries", []byte(req))
					if resp.StatusCode != 201 {
						t.Fatalf("POST: %d %s", resp.StatusCode, b)
					}
					for _, path := range []string{resp.Header.Get("Location"), fmt.Sprintf("/api/v1/log/entries?logIndex=%d", i)} {
						resp, b = s.do("GET", path, nil)
						if resp.StatusCode != 200 {
							t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
						}
						var got models.LogEntry
						if err := json.Unmarshal(b, &got); err != nil {
							t.Fatal(err)
						}
						for _, entry := range got {
							switch {
							case tt.stored && entry.Attestation == nil:
								t.Fatalf("GET %s: no attestation, want %q", path, tt.data)
							case tt.stored && string(entry.Attestation.Data) != tt.data:
								t.Fatalf("GET %s: attestation %q, want %q", path, entry.Attestation.Data, tt.data)
							case !tt.stored && entry.Attestation != nil:
								t.Fatalf("GET %s: attestation %q stored, want none", path, entry.Attestation.Data)
							}
						}
						if tt.stored && !strings.Contains(string(b), `"data":"`+base64.StdEncoding.EncodeToString([]byte(tt.data))+`"`) {
							t.Fatalf("GET %s: attestation.data is not base64 of the attestation: %s", path, b)
						}
					}
				})
			}
		})
	}
}
