package loadgen

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
	"github.com/tabularium/tabula/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

// newServerV2 is a Tabula server in this process (SQLite) with a Rekor v1
// log and an active Rekor v2 log in the same database; it returns the
// server's URL and the v2 log's public key (PEM).
func newServerV2(t *testing.T) (string, []byte) {
	t.Helper()
	ctx := context.Background()
	set, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tabula.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	logs := logsettest.OpenConfig(t, logset.Config{Store: set, Profile: rekorv1.LogProfiles("loadgen.test")})
	k, err := signer.Generate(signer.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	key, err := signer.New(k)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := signer.PublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	v2 := logsettest.OpenV2(t, set, key)
	ts := httptest.NewServer(api.New(api.Config{Logs: logs, V2Logs: v2, Types: types.NewRegistry(hashedrekord.New())}))
	t.Cleanup(ts.Close)
	return ts.URL, pemKey
}

// TestRunV2 writes Rekor v2 entries through a real server with every answer
// verified (checkpoint, inclusion proof, canonical body), for each key
// kind (the last with the log's key pinned), then reads the v2 log's tiles;
// the writes went to the v2 log, not the v1 log. Answers checked against a
// key the log does not sign with all fail.
func TestRunV2(t *testing.T) {
	srv, logKey := newServerV2(t)
	ctx := context.Background()
	size := int64(0)
	for _, tc := range []struct {
		keyKind string
		n       int
		pinned  []byte
	}{{KeyECDSA, 200, nil}, {KeyCert, 40, nil}, {KeyEd25519, 40, logKey}} {
		res, err := Run(ctx, Config{Server: srv, API: APIV2, Mode: ModeWrite, KeyKind: tc.keyKind,
			Concurrency: 4, Count: tc.n, Keys: 3, VerifySample: 1, PublicKeyPEM: tc.pinned}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if res.API != APIV2 || res.Good != tc.n || res.Bad != 0 || res.Verified != tc.n ||
			res.StartSize != size || res.EndSize != size+int64(tc.n) {
			t.Fatalf("%s write: %+v", tc.keyKind, res)
		}
		size = res.EndSize
	}

	res, err := Run(ctx, Config{Server: srv, API: APIV2, Mode: ModeReadTile, Concurrency: 2, Count: 20}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Good != 20 || res.Bad != 0 {
		t.Fatalf("v2 read-tile: %+v", res)
	}
	res, err = Run(ctx, Config{Server: srv, API: APIV2, Mode: ModeMixed, Concurrency: 2, Count: 40, VerifySample: 1}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Good != 40 || res.Bad != 0 || res.ByOp[ModeWrite] == nil || res.ByOp[ModeWrite].Verified != res.ByOp[ModeWrite].Good {
		t.Fatalf("v2 mixed: %+v %+v", res, res.ByOp)
	}

	c, err := client.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := c.LogInfo(ctx); err != nil || info.TreeSize != 0 {
		t.Fatalf("the v1 log: %+v, %v; want it empty", info, err)
	}

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := signer.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	res, err = Run(ctx, Config{Server: srv, API: APIV2, Mode: ModeWrite, Concurrency: 2, Count: 10,
		VerifySample: 1, PublicKeyPEM: other}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Good != 0 || res.Errors[ErrVerify] != 10 {
		t.Fatalf("answers verified against another key: %+v", res)
	}
}

// TestRunV2NoLog: a server without an active v2 log is an error before
// the run, not a run of failures.
func TestRunV2NoLog(t *testing.T) {
	srv := newServer(t)
	_, err := Run(context.Background(), Config{Server: srv, API: APIV2, Mode: ModeWrite, Concurrency: 1, Count: 1}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no active Rekor v2 log") {
		t.Fatalf("got %v", err)
	}
}

// TestConfigV2 refuses what the v2 API cannot do.
func TestConfigV2(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		ok   bool
	}{
		{"write", Config{API: APIV2, Mode: ModeWrite}, true},
		{"mixed, default mix", Config{API: APIV2, Mode: ModeMixed}, true},
		{"read-tile", Config{API: APIV2, Mode: ModeReadTile}, true},
		{"read-entry", Config{API: APIV2, Mode: ModeReadEntry}, false},
		{"read-proof", Config{API: APIV2, Mode: ModeReadProof}, false},
		{"dsse", Config{API: APIV2, Mode: ModeWrite, EntryKind: EntryDSSE}, false},
		{"mix with entry reads", Config{API: APIV2, Mode: ModeMixed, Mix: "write=1,read-entry=1"}, false},
		{"unknown API", Config{API: "v3", Mode: ModeWrite}, false},
	} {
		c := tc.c
		c.Server, c.Concurrency, c.Count = "http://x", 1, 1
		err := c.defaults()
		if err == nil {
			_, err = parseMix(c)
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
}

// FuzzParseEntryV2: answers come from the server under test; parsing and
// verifying them must never panic, nor pass against a key nobody signed
// with.
func FuzzParseEntryV2(f *testing.F) {
	f.Add([]byte(`{"logIndex":"0","logId":{"keyId":"AAAA"},"kindVersion":{"kind":"hashedrekord","version":"0.0.2"},"inclusionProof":{"logIndex":"0","rootHash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","treeSize":"1","hashes":[],"checkpoint":{"envelope":"o\n1\nAAAA\n\n— o AAAA\n"}},"canonicalizedBody":"e30="}`))
	f.Add([]byte(`{"logIndex":"-1","inclusionProof":{"logIndex":"-1","treeSize":"-1"}}`))
	f.Add([]byte(`{}`))
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	l := v2Log{origin: "o", key: verifyKey(pub)}
	req := []byte(`{"hashedRekordRequestV002":{}}`)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEntryV2(b)
		if err != nil {
			return
		}
		if verifyV2(e, req, l) == nil {
			t.Fatal("an answer verified against a key nobody signed with")
		}
	})
}

func verifyKey(pub ed25519.PublicKey) verify.LogKey {
	id, _ := checkpoint.KeyIDC2SP.KeyID("o", pub)
	return verify.LogKey{Public: pub, ID: id[:]}
}

// BenchmarkParseEntryV2: the tool's cost of reading a v2 answer (17-hash
// proof, 520-byte body), beside BenchmarkParseEntry's for v1.
func BenchmarkParseEntryV2(b *testing.B) {
	hashes := make([][]byte, 17)
	for i := range hashes {
		hashes[i] = make([]byte, 32)
	}
	ans, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(&protorekor.TransparencyLogEntry{
		LogIndex: 123456, LogId: &protocommon.LogId{KeyId: make([]byte, 32)},
		KindVersion: &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.2"},
		InclusionProof: &protorekor.InclusionProof{LogIndex: 123456, RootHash: make([]byte, 32), TreeSize: 123457, Hashes: hashes,
			Checkpoint: &protorekor.Checkpoint{Envelope: "log2026-1.tabula.test\n123457\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— log2026-1.tabula.test AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}},
		CanonicalizedBody: make([]byte, 520),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseEntryV2(ans); err != nil {
			b.Fatal(err)
		}
	}
}
