package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/dsse"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// newServer is a Tabula server in this process (SQLite), accepting
// hashedrekord and dsse entries.
func newServer(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	set, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tabula.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	logs := logsettest.OpenConfig(t, logset.Config{
		Store:   set,
		Profile: rekorv1.LogProfiles("loadgen.test"),
	})
	ts := httptest.NewServer(api.New(api.Config{Logs: logs, Types: types.NewRegistry(hashedrekord.New(), dsse.New())}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestRunEntryKinds writes entries of each kind through a real server, every
// answer verified, then reads them back; the log holds entries of the kind
// asked for.
func TestRunEntryKinds(t *testing.T) {
	for _, tc := range []struct {
		entryKind, keyKind string
		wantKind           string
	}{
		{"", KeyECDSA, `"kind":"hashedrekord"`},
		{EntryDSSE, KeyECDSA, `"kind":"dsse"`},
		{EntryDSSE, KeyCert, `"kind":"dsse"`},
	} {
		t.Run(tc.entryKind+"/"+tc.keyKind, func(t *testing.T) {
			srv := newServer(t)
			ctx := context.Background()
			res, err := Run(ctx, Config{Server: srv, Mode: ModeWrite, EntryKind: tc.entryKind, KeyKind: tc.keyKind,
				Concurrency: 4, Count: 40, Keys: 3, VerifySample: 1}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Good != 40 || res.Bad != 0 || res.Verified != 40 || res.EndSize != 40 {
				t.Fatalf("write: %+v", res)
			}
			res, err = Run(ctx, Config{Server: srv, Mode: ModeReadEntry, Concurrency: 2, Count: 20, VerifySample: 1}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Good != 20 || res.Verified != 20 {
				t.Fatalf("read-entry: %+v", res)
			}
			resp, err := http.Get(srv + "/api/v1/log/entries?logIndex=7")
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			e, err := parseEntry(b)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(e.Body), tc.wantKind) {
				t.Fatalf("entry 7 is not of the kind asked for: %s", e.Body)
			}
		})
	}
}

// TestGenerateDSSE: the entries are distinct and each is a valid dsse
// proposal; other key kinds and unknown entry kinds are refused.
func TestGenerateDSSE(t *testing.T) {
	reg := types.NewRegistry(dsse.New())
	for _, kind := range []string{KeyECDSA, KeyCert} {
		es, err := GenerateEntries(EntryDSSE, kind, 2, 20)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range es {
			c, err := reg.Canonicalize(context.Background(), e)
			if err != nil {
				t.Fatalf("%s: %v\n%s", kind, err, e)
			}
			if seen[string(c.Body)] {
				t.Fatalf("%s: duplicate entry", kind)
			}
			seen[string(c.Body)] = true
		}
	}
	for _, tc := range []struct{ entry, key string }{{EntryDSSE, KeyEd25519}, {"rekord", KeyECDSA}} {
		if _, err := GenerateEntries(tc.entry, tc.key, 1, 1); err == nil {
			t.Errorf("%s with %s keys accepted", tc.entry, tc.key)
		}
		c := Config{Server: "http://x", Mode: ModeWrite, Concurrency: 1, Count: 1, EntryKind: tc.entry, KeyKind: tc.key}
		if err := c.defaults(); err == nil {
			t.Errorf("config: %s with %s keys accepted", tc.entry, tc.key)
		}
	}
}

// TestSearchEmail searches by the addresses of the entries written, through
// a real server: every answer is good; an address nothing was signed with
// is a good (empty) answer too, and a mode without an address is refused.
func TestSearchEmail(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	res, err := Run(ctx, Config{Server: srv, Mode: ModeWrite, KeyKind: KeyCert, Concurrency: 2, Count: 12, Keys: 3}, io.Discard)
	if err != nil || res.Good != 12 {
		t.Fatalf("write: %+v, %v", res, err)
	}
	for _, tc := range []struct {
		email string
		keys  int
	}{
		{"bench%d@tabula.invalid", 3},
		{"bench1@tabula.invalid", 0},
		{"nobody@tabula.invalid", 0},
	} {
		res, err := Run(ctx, Config{Server: srv, Mode: ModeSearchEmail, SearchEmail: tc.email, Keys: tc.keys, Concurrency: 2, Count: 10}, io.Discard)
		if err != nil || res.Good != 10 || res.Bad != 0 {
			t.Fatalf("search %s: %+v, %v", tc.email, res, err)
		}
	}
	if _, err := Run(ctx, Config{Server: srv, Mode: ModeSearchEmail, Concurrency: 1, Count: 1}, io.Discard); err == nil {
		t.Fatal("search-email without an address: no error")
	}
	// The answers hold the entries' UUIDs: three entries per address.
	resp, err := http.Post(srv+"/api/v1/index/retrieve", "application/json", strings.NewReader(`{"email":"bench2@tabula.invalid"}`))
	if err != nil {
		t.Fatal(err)
	}
	var uuids []string
	err = json.NewDecoder(resp.Body).Decode(&uuids)
	resp.Body.Close()
	if err != nil || len(uuids) != 4 {
		t.Fatalf("search bench2: %d UUIDs, %v; want 4", len(uuids), err)
	}
}
