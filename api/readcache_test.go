package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// TestReadEntryFollowsHead: an entry served from the entry cache (filled
// when the entry was written) is answered with a proof and checkpoint of
// the current head, not of the head it was cached at: when the tree grows,
// the answer's proof, root, size and checkpoint change and verify against
// the new head, its body, time and SET stay; and the answer is byte for byte
// the one a server without the entry cache, reading the same database,
// gives.
func TestReadEntryFollowsHead(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Database(t)
			key := logsettest.Key(t)
			open := func(cfg log.Config) *server {
				logs := logsettest.OpenConfig(t, logset.Config{Store: db(t), Keys: []logset.Signer{key}, Log: cfg})
				ts := httptest.NewServer(api.New(api.Config{Logs: logs, Types: types.NewRegistry(hashedrekord.New())}))
				t.Cleanup(ts.Close)
				return &server{Server: ts, t: t}
			}
			cached := open(log.Config{})
			k := cached.logKey()
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			write := func(n int, tag string) {
				for i := range n {
					if resp, b := cached.do("POST", "/api/v1/log/entries", newEntry(t, sgn, fmt.Sprintf("%s %d", tag, i))); resp.StatusCode != 201 {
						t.Fatalf("write: %d %s", resp.StatusCode, b)
					}
				}
			}
			read := func(s *server, index int) ([]byte, models.LogEntryAnon) {
				t.Helper()
				resp, b := s.do("GET", fmt.Sprintf("/api/v1/log/entries?logIndex=%d", index), nil)
				if resp.StatusCode != 200 {
					t.Fatalf("read %d: %d %s", index, resp.StatusCode, b)
				}
				var le models.LogEntry
				if err := json.Unmarshal(b, &le); err != nil {
					t.Fatal(err)
				}
				_, anon, cp := verifyEntry(t, k, le)
				if head := cached.logInfo(); int64(cp.Size) != head.TreeSize || anon.Verification.InclusionProof.Checkpoint != head.SignedTreeHead {
					t.Fatalf("entry %d proven in tree %d, the head is %d", index, cp.Size, head.TreeSize)
				}
				return b, anon
			}

			write(3, "before")
			first, a1 := read(cached, 1)
			again, _ := read(cached, 1)
			if !bytes.Equal(first, again) {
				t.Fatal("two reads at one head differ")
			}
			write(6, "after") // the head moves: 3 → 9
			moved, a2 := read(cached, 1)
			p1, p2 := a1.Verification.InclusionProof, a2.Verification.InclusionProof
			switch {
			case bytes.Equal(first, moved):
				t.Fatal("the answer did not change when the head moved")
			case p1.TreeSize != 3 || p2.TreeSize != 9 || p1.RootHash == p2.RootHash || p1.Checkpoint == p2.Checkpoint || len(p1.Hashes) == len(p2.Hashes):
				t.Fatalf("proofs at heads 3 and 9: %+v, %+v", p1, p2)
			case !bytes.Equal(a1.Body, a2.Body) || a1.IntegratedTime != a2.IntegratedTime ||
				!bytes.Equal(a1.Verification.SignedEntryTimestamp, a2.Verification.SignedEntryTimestamp):
				t.Fatal("the entry's immutable parts changed")
			}

			// Another server on the same database, without the entry
			// cache (and with its own, fresh head): the same bytes, for
			// every entry.
			uncached := open(log.Config{EntryCacheSize: -1})
			for i := range 9 {
				want, _ := read(cached, i)
				if got, _ := read(uncached, i); !bytes.Equal(got, want) {
					t.Fatalf("entry %d:\ncached   %s\nuncached %s", i, want, got)
				}
			}
		})
	}
}
