package verify_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/verify"
)

func rekorV1Key(t *testing.T) verify.LogKey {
	t.Helper()
	k, err := verify.ParseLogKeyPEM(read(t, v1Key))
	if err != nil {
		t.Fatal(err)
	}
	if k.LogID() != "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d" {
		t.Fatalf("log ID %s", k.LogID())
	}
	return k
}

func TestCheckpointVectors(t *testing.T) {
	key := rekorV1Key(t)
	for _, c := range []struct {
		file   string
		origin string
		ok     bool
	}{
		{"checkpoint-rekor-v1-prod-valid.txt", "", true},
		{"checkpoint-rekor-v1-prod-valid.txt", "rekor.sigstore.dev - 2605736670972794746", true},
		{"checkpoint-rekor-v1-prod-valid.txt", "rekor.sigstore.dev - 1", false},
		{"checkpoint-rekor-v1-prod-valid-extra-unknown-signer.txt", "", true},
		{"checkpoint-reject-missing-root-hash.txt", "", false},
		{"checkpoint-reject-no-blank-line.txt", "", false},
		{"checkpoint-reject-no-final-newline.txt", "", false},
		{"checkpoint-reject-no-signatures.txt", "", false},
		{"checkpoint-reject-sig-line-missing-em-dash.txt", "", false},
		{"checkpoint-reject-sig-too-short.txt", "", false},
		{"checkpoint-reject-size-not-a-number.txt", "", false},
	} {
		t.Run(c.file+"/"+c.origin, func(t *testing.T) {
			cp, err := verify.Checkpoint(read(t, c.file), c.origin, key)
			if c.ok != (err == nil) {
				t.Fatalf("Checkpoint: %v, want ok=%v", err, c.ok)
			}
			if err != nil {
				var ce *verify.CheckError
				if !errors.As(err, &ce) || ce.Check != verify.CheckCheckpointSig {
					t.Fatalf("error %v does not name the checkpoint check", err)
				}
				return
			}
			if cp.Size != 37795272 || cp.Origin != "rekor.sigstore.dev - 2605736670972794746" {
				t.Fatalf("checkpoint %+v", cp)
			}
		})
	}
	// Another key must not verify it.
	other, err := verify.ParseLogKeyPEM(read(t, "publickey-npm-publish.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Checkpoint(read(t, "checkpoint-rekor-v1-prod-valid.txt"), "", other); err == nil {
		t.Fatal("checkpoint verified under the wrong key")
	}
}

func TestEntryRekorV1Prod(t *testing.T) {
	key := rekorV1Key(t)
	var le models.LogEntry
	if err := json.Unmarshal(read(t, "rekor-v1-logentry-prod-jar.json"), &le); err != nil {
		t.Fatal(err)
	}
	for uuid, e := range le {
		cp, err := verify.Entry(uuid, e, key)
		if err != nil {
			t.Fatalf("Entry: %v", err)
		}
		if cp.Size != 4163431 || !strings.HasPrefix(cp.Origin, "rekor.sigstore.dev - ") {
			t.Fatalf("checkpoint %+v", cp)
		}
		tamper := []struct {
			name  string
			edit  func(*models.LogEntryAnon) string
			check string
		}{
			{"other UUID", func(e *models.LogEntryAnon) string { return strings.Repeat("0", 80) }, verify.CheckEntryMatches},
			{"body", func(e *models.LogEntryAnon) string {
				e.Body = append([]byte(nil), e.Body[:len(e.Body)-1]...)
				return ""
			}, verify.CheckEntryMatches},
			{"body without UUID", func(e *models.LogEntryAnon) string {
				e.Body = append([]byte(nil), e.Body[:len(e.Body)-1]...)
				return "none"
			}, verify.CheckInclusionProof},
			{"integrated time", func(e *models.LogEntryAnon) string { e.IntegratedTime++; return "" }, verify.CheckSET},
			{"log ID", func(e *models.LogEntryAnon) string { e.LogID = strings.Repeat("ab", 32); return "" }, verify.CheckLogKnown},
			{"global index", func(e *models.LogEntryAnon) string { e.LogIndex++; return "" }, verify.CheckSET},
			{"proof size", func(e *models.LogEntryAnon) string {
				p := *e.Verification.InclusionProof
				p.TreeSize++
				v := *e.Verification
				v.InclusionProof = &p
				e.Verification = &v
				return ""
			}, verify.CheckCheckpointRoot},
			{"no proof", func(e *models.LogEntryAnon) string { e.Verification = nil; return "" }, verify.CheckInclusionProof},
		}
		for _, tc := range tamper {
			t.Run(tc.name, func(t *testing.T) {
				e2 := e
				id := tc.edit(&e2)
				switch id {
				case "":
					id = uuid
				case "none":
					id = ""
				}
				_, err := verify.Entry(id, e2, key)
				var ce *verify.CheckError
				if !errors.As(err, &ce) || ce.Check != tc.check {
					t.Fatalf("tampered %s: %v, want check %q", tc.name, err, tc.check)
				}
			})
		}
	}
}

func FuzzCheckpoint(f *testing.F) {
	for _, name := range []string{"checkpoint-rekor-v1-prod-valid.txt", "checkpoint-rekor-v1-prod-valid-extra-unknown-signer.txt", "checkpoint-reject-no-blank-line.txt", "checkpoint-reject-sig-too-short.txt"} {
		b, err := readFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	key, err := verify.ParseLogKeyPEM(mustRead(f, v1Key))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := verify.Checkpoint(b, "", key)
		if err == nil && cp.Origin == "" {
			t.Fatal("accepted a checkpoint without an origin")
		}
	})
}

func FuzzBundle(f *testing.F) {
	for _, name := range []string{"bundle-v0.3-hashedrekord-cert.json", "bundle-v0.1-hashedrekord-x509chain.json", "reject-negative-log-index.json"} {
		f.Add(mustRead(f, name))
	}
	root := mustRead(f, fullRoot)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := verify.Bundle(b, verify.BundleOptions{TrustedRoot: root, InsecureIgnoreIdentity: true})
		if err == nil && len(r.Checks) == 0 {
			t.Fatal("accepted with no checks")
		}
	})
}
