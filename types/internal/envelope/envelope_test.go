package envelope_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/internal/envelope"
	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
)

// TestAddKeyKeys: a key is indexed under its fingerprint (a key, not
// Rekor's digest "sha256:<fp>"), a certificate also under its SANs by kind.
func TestAddKeyKeys(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	cert := envelopetest.Cert(t, "Signer@Example.COM")
	for _, tt := range []struct {
		name string
		pem  []byte
		want []string
	}{
		{"public key", ec.PEM, []string{"key:" + fingerprint(t, ec.PEM), "digest:sha256:" + fingerprint(t, ec.PEM)}},
		{"certificate", cert.PEM, []string{"key:" + fingerprint(t, cert.PEM), "digest:sha256:" + fingerprint(t, cert.PEM), "email:signer@example.com"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := pki.ParsePEM(tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			var x types.KeySet
			if err := envelope.AddKeyKeys(&x, k); err != nil {
				t.Fatal(err)
			}
			if got := envelopetest.Strings(x.Keys()); !slices.Equal(got, tt.want) {
				t.Fatalf("keys %q, want %q", got, tt.want)
			}
		})
	}
}

func fingerprint(t *testing.T, p []byte) string {
	t.Helper()
	k, err := pki.ParsePEM(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.CanonicalPEM()
	if err != nil {
		t.Fatal(err)
	}
	return pki.FingerprintPEM(c)
}

func TestInTotoKeys(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    []string
		wantErr bool
	}{
		{"subjects, algorithms sorted", `{"subject":[{"name":"a","digest":{"sha512":"x","sha256":"y"}},{"digest":{"gitCommit":"c"}}]}`,
			[]string{"sha256:y", "sha512:x", "gitCommit:c"}, false},
		{"slsa v0.2 materials", `{"subject":[],"predicate":{"materials":[{"uri":"u","digest":{"sha1":"m"}}]}}`,
			[]string{"sha1:m"}, false},
		{"predicate not slsa v0.2: materials ignored", `{"subject":[{"digest":{"sha256":"s"}}],"predicate":{"materials":"no","metadata":{"buildStartedOn":"yesterday"}}}`,
			[]string{"sha256:s"}, false},
		{"slsa v1 predicate: no materials", `{"subject":[{"digest":{"sha256":"s"}}],"predicate":{"buildDefinition":{"resolvedDependencies":[{"digest":{"sha1":"r"}}]}}}`,
			[]string{"sha256:s"}, false},
		{"not JSON", `nope`, nil, true},
		{"subject of the wrong type", `{"subject":{"digest":{}}}`, nil, true},
		{"digest values not strings", `{"subject":[{"digest":{"sha256":1}}]}`, nil, true},
		{"empty object", `{}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envelope.InTotoKeys([]byte(tt.payload))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("keys %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVerifyLeftoverKeys: dsse (stopWhenAllVerified) ignores keys once every
// signature is verified; intoto 0.0.2 parses and tries them all.
func TestVerifyLeftoverKeys(t *testing.T) {
	k := envelopetest.ECDSA(t)
	env := envelopetest.Envelope(t, "text/plain", []byte("x"), k)
	keys := [][]byte{k.PEM, []byte("junk")}
	v, err := envelope.Verify(context.Background(), env, keys, true)
	if err != nil {
		t.Fatalf("stopWhenAllVerified: %v", err)
	}
	if len(v.Keys) != 1 || len(v.BySig) != 1 || v.BySig[env.Signatures[0].Sig] != v.Keys[0] {
		t.Fatalf("stopWhenAllVerified: keys %v, by signature %v; want the first key only", v.Keys, v.BySig)
	}
	_, err = envelope.Verify(context.Background(), env, keys, false)
	if err == nil || err.Error() != "could not parse public key as x509: invalid public key: failure decoding PEM" {
		t.Fatalf("all keys: %v", err)
	}
	// A second key that verifies nothing fails the whole envelope.
	other := envelopetest.ECDSA(t)
	_, err = envelope.Verify(context.Background(), env, [][]byte{k.PEM, other.PEM}, false)
	if err == nil || err.Error() != "could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1" {
		t.Fatalf("useless second key: %v", err)
	}
}

// TestVerifyKeysInOrder: without stopWhenAllVerified every key is parsed and
// returned in the order given, each the one that verified its signature.
func TestVerifyKeysInOrder(t *testing.T) {
	a, b := envelopetest.ECDSA(t), envelopetest.Ed25519(t, 7)
	env := envelopetest.Envelope(t, "text/plain", []byte("x"), a, b)
	v, err := envelope.Verify(context.Background(), env, [][]byte{a.PEM, b.PEM}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Keys) != 2 {
		t.Fatalf("%d keys, want 2", len(v.Keys))
	}
	for i, want := range [][]byte{a.PEM, b.PEM} {
		got, err := v.Keys[i].CanonicalPEM()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("key %d is %s, want %s", i, got, want)
		}
		if v.BySig[env.Signatures[i].Sig] != v.Keys[i] {
			t.Errorf("signature %d not attributed to key %d", i, i)
		}
	}
}
