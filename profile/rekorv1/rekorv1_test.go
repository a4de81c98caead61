package rekorv1_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	jsoncanonicalizer "github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"

	"github.com/tabularium/tabula/checkpoint"
	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/sqlite"
)

// Entries captured from a real Rekor v1 server (rekor.local, tree
// 1218770045811791574) and its public key: SETPayload must give the bytes
// Rekor signed.
func TestSETPayloadRekor(t *testing.T) {
	pem, err := os.ReadFile("testdata/publicKey.pem")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signer.ParsePublicKeyPEM(pem)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"logentry-201.json", "logentry-get.json"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			var le map[string]struct {
				Body           string `json:"body"`
				IntegratedTime int64  `json:"integratedTime"`
				LogID          string `json:"logID"`
				LogIndex       uint64 `json:"logIndex"`
				Verification   struct {
					SignedEntryTimestamp string `json:"signedEntryTimestamp"`
				} `json:"verification"`
			}
			if err := json.Unmarshal(b, &le); err != nil {
				t.Fatal(err)
			}
			if len(le) == 0 {
				t.Fatal("no entry in the capture")
			}
			for _, e := range le {
				body, _ := base64.StdEncoding.DecodeString(e.Body)
				set, _ := base64.StdEncoding.DecodeString(e.Verification.SignedEntryTimestamp)
				var logID [32]byte
				id, _ := hex.DecodeString(e.LogID)
				copy(logID[:], id)
				if err := signer.Verify(pub, rekorv1.SETPayload(body, e.IntegratedTime, logID, e.LogIndex), set); err != nil {
					t.Fatalf("Rekor's SET does not verify over our payload: %v", err)
				}
				// And a payload differing in anything does not.
				if signer.Verify(pub, rekorv1.SETPayload(body, e.IntegratedTime+1, logID, e.LogIndex), set) == nil {
					t.Fatal("SET verified over a wrong payload")
				}
			}
		})
	}
}

// TestSETPayloadCanonical checks SETPayload against RFC 8785 canonical JSON
// made by a canonicalizer from the same fields.
func TestSETPayloadCanonical(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		time  int64
		index uint64
		want  string // "" for: only compare with the canonicalizer
	}{
		{"empty body", nil, 0, 0, `{"body":"","integratedTime":0,"logID":"0102030000000000000000000000000000000000000000000000000000000000","logIndex":0}`},
		{"small", []byte("{}"), 1700000000, 7, `{"body":"e30=","integratedTime":1700000000,"logID":"0102030000000000000000000000000000000000000000000000000000000000","logIndex":7}`},
		{"binary body", []byte{0, 0xff, '"', '\\', '\n'}, 1, 1, ""},
		{"negative time", []byte("x"), -5, 2, ""},
		{"largest index", []byte("x"), 1 << 40, 1<<63 - 1, ""},
	}
	logID := [32]byte{1, 2, 3}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rekorv1.SETPayload(tt.body, tt.time, logID, tt.index)
			if tt.want != "" && string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			// The canonicalizer reads numbers as float64, exact up to 2^53;
			// a larger index is compared on the text.
			index := json.Number(strconv.FormatUint(tt.index, 10))
			raw, err := json.Marshal(map[string]any{
				"logIndex":       index,
				"body":           base64.StdEncoding.EncodeToString(tt.body),
				"integratedTime": tt.time,
				"logID":          hex.EncodeToString(logID[:]),
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.index < 1<<53 {
				canon, err := jsoncanonicalizer.Transform(raw)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, canon) {
					t.Fatalf("got       %s\ncanonical %s", got, canon)
				}
			} else if !bytes.Equal(got, raw) {
				// json.Marshal sorts map keys, which for these keys is
				// the canonical order, and these values need no escaping.
				t.Fatalf("got  %s\nwant %s", got, raw)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	for _, tt := range []struct {
		host string
		tree int64
		want string
	}{
		{"rekor.local", 1218770045811791574, "rekor.local - 1218770045811791574"},
		{"tabula.local", 1, "tabula.local - 1"},
	} {
		if got := rekorv1.Origin(tt.host, tt.tree); got != tt.want {
			t.Errorf("Origin(%q, %d) = %q, want %q", tt.host, tt.tree, got, tt.want)
		}
		if got := rekorv1.Profile(tt.host).Origin(tt.tree); got != tt.want {
			t.Errorf("Profile(%q).Origin(%d) = %q, want %q", tt.host, tt.tree, got, tt.want)
		}
	}
}

// TestLog opens a log with the profile on SQLite: its checkpoints have
// Rekor v1's origin, key name and key hint, and its entries carry a SET
// over SETPayload.
func TestLog(t *testing.T) {
	ctx := context.Background()
	set, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tabula.db"))
	if err != nil {
		t.Fatal(err)
	}
	store := storage.Active(set, "rekor-v1", nil)
	defer store.Close()
	priv, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	sgn, err := signer.New(priv)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(ctx, tlog.Config{Storage: store, Signer: sgn, Profile: rekorv1.Profile("rekor.example")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	if want := "rekor.example - " + strconv.FormatInt(l.TreeID(), 10); l.Origin() != want {
		t.Fatalf("origin %q, want %q", l.Origin(), want)
	}
	if l.KeyName() != "rekor.example" {
		t.Fatalf("key name %q", l.KeyName())
	}
	res, err := l.Add(ctx, tlog.Leaf{Body: []byte(`{"entry":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	e := res.Entry
	if err := signer.Verify(sgn.Public(), rekorv1.SETPayload(e.Body, e.IntegratedTime, sgn.LogID(), e.Index), e.SET); err != nil {
		t.Fatalf("SET: %v", err)
	}
	cp, err := checkpoint.Verify(res.Head.Checkpoint, l.Origin(), "rekor.example", checkpoint.KeyIDRekorV1, sgn.Public())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 1 || cp.Root != res.Head.Root {
		t.Fatalf("checkpoint %+v, head %+v", cp, res.Head)
	}
	m := regexp.MustCompile(`\n\n— rekor\.example (\S+)\n$`).FindSubmatch(res.Head.Checkpoint)
	if m == nil {
		t.Fatalf("signature line: %q", res.Head.Checkpoint)
	}
	sig, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	id := sgn.LogID()
	if !bytes.Equal(sig[:4], id[:4]) {
		t.Fatalf("key hint %x, want logID[:4] %x", sig[:4], id[:4])
	}
}
