package loglist_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/witness"
	"github.com/tabularium/tabula/witness/loglist"
)

func vkey(t testing.TB, name string) string {
	_, v, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParse(t *testing.T) {
	a, b, a2 := vkey(t, "a.example/log"), vkey(t, "b.example"), vkey(t, "a.example/log")
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rekor, err := checkpoint.VKey("rekor.example", checkpoint.KeyIDRekorV1, &priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		origin string
		keys   int
		feed   string // kind url
	}
	tests := []struct {
		name string
		list string
		want []want // nil: an error
	}{
		{"empty list", "logs/v0\n", []want{}},
		{"comments", "# list\n\nlogs/v0\n# x\n", []want{}},
		{"one log", "logs/v0\nvkey " + a + "\n", []want{{"a.example/log", 1, ""}}},
		{"spec example lines", "logs/v0\n\n# foo\nvkey " + a + "\norigin none\nqpd 86400\nbastion https://bastion.example/\ncontact sysadmin (at) foo.org\n", []want{{"a.example/log", 1, ""}}},
		{"origin", "logs/v0\nvkey " + b + "\norigin b.example/tree 7\n", []want{{"b.example/tree 7", 1, ""}}},
		{"feeds", "logs/v0\nvkey " + a + "\nfeed tiles https://a.example/log\nvkey " + rekor + "\norigin rekor.example - 42\nfeed rekor https://rekor.example?treeID=42\n",
			[]want{{"a.example/log", 1, "tiles https://a.example/log"}, {"rekor.example - 42", 1, "rekor https://rekor.example?treeID=42"}}},
		{"key change", "logs/v0\nvkey " + a + "\nvkey " + a2 + "\nfeed tiles https://a.example/log\n", []want{{"a.example/log", 2, "tiles https://a.example/log"}}},
		{"tabs and spaces", "logs/v0\n  vkey " + a + "  \n\torigin\tnone\n", nil}, // a tab is not the separator
		{"no header", "vkey " + a + "\n", nil},
		{"header late", "vkey " + a + "\nlogs/v0\n", nil},
		{"other header", "logs/v1\n", nil},
		{"nothing", "", nil},
		{"line before vkey", "logs/v0\norigin x\n", nil},
		{"unknown line", "logs/v0\nvkey " + a + "\nfoo bar\n", nil},
		{"two origins", "logs/v0\nvkey " + a + "\norigin x\norigin y\n", nil},
		{"empty origin", "logs/v0\nvkey " + a + "\norigin\n", nil},
		{"bad vkey", "logs/v0\nvkey a+00000000+AAAA\n", nil},
		{"bad vkey hash", "logs/v0\nvkey rekor.example+00000000+" + strings.SplitN(rekor, "+", 3)[2] + "\n", nil},
		{"vkey with garbage", "logs/v0\nvkey " + a + " x\n", nil},
		{"duplicate key", "logs/v0\nvkey " + a + "\nvkey " + a + "\n", nil},
		{"two feeds one origin", "logs/v0\nvkey " + a + "\nfeed tiles https://x/\nvkey " + a2 + "\nfeed tiles https://y/\n", nil},
		{"feed kind", "logs/v0\nvkey " + a + "\nfeed sumdb https://x/\n", nil},
		{"feed no url", "logs/v0\nvkey " + a + "\nfeed tiles\n", nil},
		{"feed ftp", "logs/v0\nvkey " + a + "\nfeed tiles ftp://x/\n", nil},
		{"feed userinfo", "logs/v0\nvkey " + a + "\nfeed tiles https://u:p@x/\n", nil},
		{"tiles query", "logs/v0\nvkey " + a + "\nfeed tiles https://x/?a=b\n", nil},
		{"rekor other query", "logs/v0\nvkey " + a + "\nfeed rekor https://x/?a=b\n", nil},
		{"rekor bad tree", "logs/v0\nvkey " + a + "\nfeed rekor https://x/?treeID=-1\n", nil},
		{"qpd word", "logs/v0\nvkey " + a + "\nqpd many\n", nil},
		{"control char", "logs/v0\nvkey " + a + "\ncontact a\x00b\n", nil},
		{"CR", "logs/v0\r\n", nil},
		{"not UTF-8", "logs/v0\ncontact \xff\n", nil},
		{"long line", "logs/v0\n# " + strings.Repeat("x", loglist.MaxLineLen) + "\n", nil},
	}
	for _, tt := range tests {
		logs, err := loglist.Parse([]byte(tt.list))
		if tt.want == nil {
			if err == nil {
				t.Errorf("%s: parsed, want an error", tt.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(logs) != len(tt.want) {
			t.Errorf("%s: %d logs, want %d", tt.name, len(logs), len(tt.want))
			continue
		}
		for i, w := range tt.want {
			l := logs[i]
			feed := ""
			if l.Feed != nil {
				feed = l.Feed.Kind + " " + l.Feed.URL
			}
			if l.Origin != w.origin || len(l.Verifiers) != w.keys || feed != w.feed {
				t.Errorf("%s: log %d = %q, %d keys, feed %q; want %+v", tt.name, i, l.Origin, len(l.Verifiers), feed, w)
			}
		}
	}
}

// TestRekorV1Log: a witness configured from a list with a Rekor v1 ECDSA
// vkey cosigns a checkpoint signed as Tabula's rekor-v1 profile signs it,
// and refuses one signed by another ECDSA key under the same name.
func TestRekorV1Log(t *testing.T) {
	const host, treeID = "rekor.example", 1193050959916656506
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	vk, err := checkpoint.VKey(host, checkpoint.KeyIDRekorV1, &priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := checkpoint.KeyIDRekorV1.KeyID(host, &priv.PublicKey)
	if want := host + "+" + strings.ToLower(hex8(checkpoint.Hint(id))); !strings.HasPrefix(vk, want+"+") {
		t.Fatalf("vkey %q, want the Rekor v1 key hint %s", vk, want)
	}
	origin := rekorv1.Origin(host, treeID)
	logs, err := loglist.Parse([]byte("logs/v0\nvkey " + vk + "\norigin " + origin + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, wpriv, _ := ed25519.GenerateKey(rand.Reader)
	cs, _ := checkpoint.NewCosignatureSigner("w.example", wpriv, nil)
	w, err := witness.New(witness.Config{Signer: cs, Logs: logs, State: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *ecdsa.PrivateKey, size uint64) []byte {
		s, err := signer.New(k)
		if err != nil {
			t.Fatal(err)
		}
		root := sha256.Sum256([]byte("root"))
		b, err := log.SignCheckpoint(rekorv1.ShardProfile(host, 0), s, origin, size, merkle.Hash(root))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err = w.AddCheckpoint(context.Background(), 0, nil, sign(other, 3))
	var we *witness.Error
	if !errors.As(err, &we) || we.Status != 403 {
		t.Fatalf("checkpoint by another key: %v, want 403", err)
	}
	signed := sign(priv, 3)
	lines, err := w.AddCheckpoint(context.Background(), 0, nil, signed)
	if err != nil {
		t.Fatalf("AddCheckpoint: %v", err)
	}
	if _, err := note.Open(append(signed, lines...), note.VerifierList(cs.Verifier())); err != nil {
		t.Fatalf("cosignature: %v", err)
	}
}

func hex8(u uint32) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[u&0xf]
		u >>= 4
	}
	return string(b)
}

func FuzzParse(f *testing.F) {
	_, a, _ := note.GenerateKey(rand.Reader, "a.example/log")
	for _, s := range []string{
		"logs/v0\n",
		"# c\nlogs/v0\nvkey " + a + "\norigin none\nqpd 1\nfeed tiles https://a.example/\n",
		"logs/v0\nvkey " + a + "\norigin x - 1\nfeed rekor https://x/?treeID=1\nvkey " + a + "\n",
		"vkey x\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		logs, err := loglist.Parse(b)
		if err != nil {
			return
		}
		origins := map[string]bool{}
		for _, l := range logs {
			if l.Origin == "" || len(l.Verifiers) == 0 || origins[l.Origin] {
				t.Fatalf("log %q with %d keys (seen %v)", l.Origin, len(l.Verifiers), origins[l.Origin])
			}
			origins[l.Origin] = true
			if l.Feed != nil && l.Feed.Kind != witness.FeedTiles && l.Feed.Kind != witness.FeedRekor {
				t.Fatalf("feed kind %q", l.Feed.Kind)
			}
		}
	})
}
