package log_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tabularium/tabula/checkpoint"
	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
)

// Responses captured from a real Rekor v1 server (rekor.local, tree
// 1218770045811791574) and its public key: our checkpoint code, with the
// Rekor v1 profile, must verify and sign what Rekor signed, byte for byte
// (profile/rekorv1 tests the SET payload on the same responses).
const (
	rekorHost   = "rekor.local"
	rekorOrigin = "rekor.local - 1218770045811791574"
)

type rekorEntry struct {
	Body           string `json:"body"`
	IntegratedTime int64  `json:"integratedTime"`
	LogID          string `json:"logID"`
	LogIndex       uint64 `json:"logIndex"`
	Verification   struct {
		InclusionProof struct {
			Checkpoint string `json:"checkpoint"`
			RootHash   string `json:"rootHash"`
			TreeSize   uint64 `json:"treeSize"`
		} `json:"inclusionProof"`
		SignedEntryTimestamp string `json:"signedEntryTimestamp"`
	} `json:"verification"`
}

func readRekor(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/rekor/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRekorCheckpoint(t *testing.T) {
	pub, err := signer.ParsePublicKeyPEM(readRekor(t, "publicKey.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"logentry-201.json", "logentry-get.json"} {
		t.Run(name, func(t *testing.T) {
			var le map[string]rekorEntry
			if err := json.Unmarshal(readRekor(t, name), &le); err != nil {
				t.Fatal(err)
			}
			for _, e := range le {
				ip := e.Verification.InclusionProof
				cp, err := checkpoint.Verify([]byte(ip.Checkpoint), rekorOrigin, rekorHost, checkpoint.KeyIDRekorV1, pub)
				if err != nil {
					t.Fatalf("Rekor's checkpoint: %v", err)
				}
				if cp.Size != ip.TreeSize || hex.EncodeToString(cp.Root[:]) != ip.RootHash {
					t.Fatalf("checkpoint %+v vs proof %+v", cp, ip)
				}
				if _, err := checkpoint.Verify([]byte(ip.Checkpoint), "rekor.local - 1", rekorHost, checkpoint.KeyIDRekorV1, pub); err == nil {
					t.Fatal("checkpoint accepted for another origin")
				}
			}
		})
	}
}

// TestCheckpointForm checks our checkpoints have Rekor v1's exact form:
// origin "<host> - <treeID>", size, base64 root, blank line, and exactly one
// signature line "— <host> <base64(logID[:4] || sig)>".
func TestCheckpointForm(t *testing.T) {
	priv, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	sgn, err := signer.New(priv)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		RootHash       string `json:"rootHash"`
		SignedTreeHead string `json:"signedTreeHead"`
		TreeSize       uint64 `json:"treeSize"`
	}
	if err := json.Unmarshal(readRekor(t, "loginfo.json"), &info); err != nil {
		t.Fatal(err)
	}
	var root [32]byte
	r, _ := hex.DecodeString(info.RootHash)
	copy(root[:], r)
	ours, err := tlog.SignCheckpoint(rekorv1.Profile(rekorHost), sgn, rekorOrigin, info.TreeSize, root)
	if err != nil {
		t.Fatal(err)
	}
	sigLine := regexp.MustCompile(`— (\S+) (\S+)\n$`)
	textOf := func(cp string) string { return cp[:strings.LastIndex(cp, "\n\n")+2] }
	if textOf(string(ours)) != textOf(info.SignedTreeHead) {
		t.Fatalf("checkpoint text differs:\nours:  %q\nrekor: %q", textOf(string(ours)), textOf(info.SignedTreeHead))
	}
	if strings.Count(string(ours), "\n— ") != 1 {
		t.Fatalf("want exactly one signature line: %q", ours)
	}
	m := sigLine.FindStringSubmatch(string(ours))
	if m == nil || m[1] != rekorHost {
		t.Fatalf("signature line: %q", ours)
	}
	sig, err := base64.StdEncoding.DecodeString(m[2])
	if err != nil {
		t.Fatal(err)
	}
	id := sgn.LogID()
	if string(sig[:4]) != string(id[:4]) {
		t.Fatalf("key hint %x, want logID[:4] %x", sig[:4], id[:4])
	}
	if err := signer.Verify(sgn.Public(), []byte(textOf(string(ours))[:len(textOf(string(ours)))-1]), sig[4:]); err != nil {
		t.Fatalf("signature is not over the note text: %v", err)
	}
}
