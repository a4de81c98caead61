package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// TestSearchByPGPKey: `tabula serve` wires the search API's publicKey query
// to every key format the rekord kind accepts, so an entry logged with a PGP
// key is found by that key (armored or binary) and by its user-id email, as
// on Rekor; an x509 key search still works beside it.
func TestSearchByPGPKey(t *testing.T) {
	url, _ := startServe(t, defaultConfig(t))

	ent, err := openpgp.NewEntity("Alice", "", "alice@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var armored, binary bytes.Buffer
	w, err := armor.Encode(&armored, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := ent.Serialize(&binary); err != nil {
		t.Fatal(err)
	}
	artifact := []byte("signed with pgp\n")
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, ent, bytes.NewReader(artifact), nil); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	entry := fmt.Sprintf(`{"apiVersion":"0.0.1","kind":"rekord","spec":{"data":{"content":%q},"signature":{"format":"pgp","content":%q,"publicKey":{"content":%q}}}}`,
		b64(artifact), b64(sig.Bytes()), b64(armored.Bytes()))
	resp, body := httpDo(t, "POST", url+"/api/v1/log/entries", []byte(entry))
	if resp.StatusCode != 201 {
		t.Fatalf("upload rekord/pgp: %d %s", resp.StatusCode, body)
	}
	uuid := resp.Header.Get("ETag")

	// A second, unrelated entry that no PGP query may find.
	other := opensslEntry(t, t.TempDir(), "not pgp\n")
	if resp, body := httpDo(t, "POST", url+"/api/v1/log/entries", other); resp.StatusCode != 201 {
		t.Fatalf("upload hashedrekord: %d %s", resp.StatusCode, body)
	}

	tests := []struct {
		name   string
		query  string
		status int
		want   []string
	}{
		{"armored pgp key", fmt.Sprintf(`{"publicKey":{"format":"pgp","content":%q}}`, b64(armored.Bytes())), 200, []string{uuid}},
		{"binary pgp key", fmt.Sprintf(`{"publicKey":{"format":"pgp","content":%q}}`, b64(binary.Bytes())), 200, []string{uuid}},
		{"email from the key", `{"email":"alice@example.com"}`, 200, []string{uuid}},
		{"artifact hash", fmt.Sprintf(`{"hash":"sha256:%s"}`, sha256Hex(artifact)), 200, []string{uuid}},
		{"pgp key given as x509", fmt.Sprintf(`{"publicKey":{"format":"x509","content":%q}}`, b64(armored.Bytes())), 400, nil},
		{"unknown format", fmt.Sprintf(`{"publicKey":{"format":"gpg","content":%q}}`, b64(armored.Bytes())), 422, nil},
		{"tuf format, not served", fmt.Sprintf(`{"publicKey":{"format":"tuf","content":%q}}`, b64(armored.Bytes())), 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := httpDo(t, "POST", url+"/api/v1/index/retrieve", []byte(tt.query))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				if !strings.Contains(string(body), `"code":`) {
					t.Fatalf("error body is not Rekor's shape: %s", body)
				}
				return
			}
			var got []string
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("found %v, want %v", got, tt.want)
			}
		})
	}
}
