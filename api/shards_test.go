package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// shard is one log of a rotated server, as the test made it.
type shard struct {
	treeID int64
	key    *signer.Local
	size   int
	cps    []checkpoint.Checkpoint // the checkpoint of each size 1..size, from the writes
	last   string                  // the signed checkpoint of size, from the last write
}

func (sh *shard) logKey() logKey {
	id := strconv.FormatInt(sh.treeID, 10)
	return logKey{pub: sh.key.Public(), origin: logsettest.Hostname + " - " + id, info: models.LogInfo{TreeID: id}}
}

// written is one entry written to a rotated server.
type written struct {
	body    []byte
	shard   *shard
	local   int // its index in its shard
	virtual int // its index across the shards
	id      string
}

// checkShardEntry verifies a LogEntry answer of w as a sharded Rekor
// client does: the entry ID carries its shard's tree ID, the top-level
// logIndex (which the SET signs) is virtual, the proof's is the shard's
// own and verifies against the shard's checkpoint, signed by the shard's
// key, whose SHA-256 is logID.
func checkShardEntry(t *testing.T, w *written, le models.LogEntry) (checkpoint.Checkpoint, string) {
	t.Helper()
	id, e, cp := verifyEntry(t, w.shard.logKey(), le)
	if w.id != "" && id != w.id {
		t.Fatalf("entry ID %s, want %s", id, w.id)
	}
	if e.LogIndex != int64(w.virtual) || e.Verification.InclusionProof.LogIndex != int64(w.local) {
		t.Fatalf("logIndex %d, proof logIndex %d: want virtual %d, local %d",
			e.LogIndex, e.Verification.InclusionProof.LogIndex, w.virtual, w.local)
	}
	if sum := sha256.Sum256(w.shard.key.PublicKeyDER()); e.LogID != hex.EncodeToString(sum[:]) {
		t.Fatalf("logID %s is not the shard key's", e.LogID)
	}
	return cp, e.Verification.InclusionProof.Checkpoint
}

func oneEntry(t *testing.T, b []byte) models.LogEntry {
	t.Helper()
	var le models.LogEntry
	if err := json.Unmarshal(b, &le); err != nil {
		t.Fatalf("%v: %.300s", err, b)
	}
	return le
}

// TestShards: a log rotated twice (the second time to a new key) serves
// every shard as Rekor v1 does.
func TestShards(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			set := e.Open(t)
			key1, key2 := logsettest.Key(t), logsettest.Key(t)
			logs := logsettest.OpenConfig(t, logset.Config{Store: set, Keys: []logset.Signer{key1, key2}})
			ts := httptest.NewServer(api.New(api.Config{Logs: logs, Types: types.NewRegistry(hashedrekord.New())}))
			t.Cleanup(ts.Close)
			s := &server{Server: ts, t: t}
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}

			// Three shards: 3 entries, rotate, 3, rotate to key2, 2.
			shards := []*shard{{treeID: mustInt(t, s.logInfo().TreeID), key: key1}}
			var all []*written
			write := func(sh *shard, n int) {
				for range n {
					w := &written{body: newEntry(t, sgn, fmt.Sprintf("shard entry %d", len(all))),
						shard: sh, local: sh.size, virtual: len(all)}
					resp, b := s.do("POST", "/api/v1/log/entries", w.body)
					if resp.StatusCode != http.StatusCreated {
						t.Fatalf("write %d: %d %s", w.virtual, resp.StatusCode, b)
					}
					cp, raw := checkShardEntry(t, w, oneEntry(t, b))
					if w.id = resp.Header.Get("ETag"); resp.Header.Get("Location") != "/api/v1/log/entries/"+w.id {
						t.Fatalf("Location %q, ETag %q", resp.Header.Get("Location"), w.id)
					}
					sh.size++
					sh.cps, sh.last = append(sh.cps, cp), raw
					all = append(all, w)
				}
			}
			write(shards[0], 3)
			for _, next := range []struct {
				key *signer.Local
				n   int
			}{{key1, 3}, {key2, 2}} {
				info := logsettest.Rotate(t, set, next.key)
				shards = append(shards, &shard{treeID: info.TreeID, key: next.key})
				write(shards[len(shards)-1], next.n) // the first write finds the active log frozen
			}
			a, b, c := shards[0], shards[1], shards[2]
			hexID := func(sh *shard) string { return fmt.Sprintf("%016x", sh.treeID) }

			t.Run("entries", func(t *testing.T) {
				for _, w := range all {
					uuid := w.id[16:]
					for _, path := range []string{
						"/api/v1/log/entries?logIndex=" + strconv.Itoa(w.virtual),
						"/api/v1/log/entries/" + w.id,
						"/api/v1/log/entries/" + uuid,
						"/api/v1/log/entries/" + strings.Repeat("0", 16) + uuid, // tree ID 0: a plain UUID
					} {
						resp, b := s.do("GET", path, nil)
						if resp.StatusCode != 200 {
							t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
						}
						checkShardEntry(t, w, oneEntry(t, b))
					}
				}
			})

			t.Run("not found", func(t *testing.T) {
				for _, path := range []string{
					"/api/v1/log/entries?logIndex=8",                   // past the active head
					"/api/v1/log/entries/" + hexID(a) + all[7].id[16:], // c's entry under a's tree
					"/api/v1/log/entries/" + hexID(c) + all[0].id[16:], // a's entry under c's tree
					"/api/v1/log/entries/" + "7fffffffffffffff" + all[0].id[16:],
					"/api/v1/log/entries/" + "ffffffffffffffff" + all[0].id[16:],
					"/api/v1/log/entries/" + strings.Repeat("ab", 32),
				} {
					if resp, b := s.do("GET", path, nil); resp.StatusCode != http.StatusNotFound {
						t.Fatalf("GET %s: %d %s, want 404", path, resp.StatusCode, b)
					}
				}
			})

			t.Run("retrieve", func(t *testing.T) {
				tests := []struct {
					name  string
					query string
					want  []*written
				}{
					{"entry IDs", fmt.Sprintf(`{"entryUUIDs":[%q,%q,%q]}`, all[0].id, all[4].id, all[7].id), []*written{all[0], all[4], all[7]}},
					{"UUIDs", fmt.Sprintf(`{"entryUUIDs":[%q,%q]}`, all[6].id[16:], all[1].id[16:]), []*written{all[6], all[1]}},
					{"entry IDs first, then UUIDs", fmt.Sprintf(`{"entryUUIDs":[%q,%q]}`, all[2].id[16:], all[5].id), []*written{all[5], all[2]}},
					{"virtual indexes", `{"logIndexes":[7,0,3,2,8]}`, []*written{all[7], all[0], all[3], all[2]}},
					{"misses", fmt.Sprintf(`{"entryUUIDs":[%q]}`, hexID(b)+all[0].id[16:]), nil},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						resp, body := s.do("POST", "/api/v1/log/entries/retrieve", []byte(tt.query))
						if resp.StatusCode != 200 {
							t.Fatalf("%d %s", resp.StatusCode, body)
						}
						var got []models.LogEntry
						if err := json.Unmarshal(body, &got); err != nil {
							t.Fatal(err)
						}
						if len(got) != len(tt.want) {
							t.Fatalf("%d results, want %d: %.500s", len(got), len(tt.want), body)
						}
						for i, w := range tt.want {
							checkShardEntry(t, w, got[i])
						}
					})
				}
				// By the entry itself: found in its frozen shard.
				q := `{"entries":[` + string(all[1].body) + `]}`
				resp, body := s.do("POST", "/api/v1/log/entries/retrieve", []byte(q))
				var got []models.LogEntry
				if err := json.Unmarshal(body, &got); resp.StatusCode != 200 || err != nil || len(got) != 1 {
					t.Fatalf("retrieve by entry: %d %v %.300s", resp.StatusCode, err, body)
				}
				checkShardEntry(t, all[1], got[0])
			})

			t.Run("index search", func(t *testing.T) {
				q := `{"publicKey":{"format":"x509","content":"` + b64(sgn.PublicKeyPEM()) + `"}}`
				resp, body := s.do("POST", "/api/v1/index/retrieve", []byte(q))
				var ids []string
				if err := json.Unmarshal(body, &ids); resp.StatusCode != 200 || err != nil {
					t.Fatalf("%d %v %s", resp.StatusCode, err, body)
				}
				want := make([]string, len(all))
				for i, w := range all {
					want[i] = w.id
				}
				if strings.Join(ids, " ") != strings.Join(want, " ") {
					t.Fatalf("index search:\ngot  %v\nwant %v", ids, want)
				}
			})

			t.Run("conflict", func(t *testing.T) {
				for _, w := range []*written{all[0], all[4], all[7]} {
					resp, b := s.do("POST", "/api/v1/log/entries", w.body)
					msg := apiError(t, resp, b, http.StatusConflict)
					if resp.Header.Get("Location") != "/api/v1/log/entries/"+w.id || !strings.HasSuffix(msg, "UUID "+w.id) {
						t.Fatalf("409 of entry %d: Location %q, message %q, want %s", w.virtual, resp.Header.Get("Location"), msg, w.id)
					}
				}
			})

			t.Run("log info", func(t *testing.T) {
				info := s.logInfo()
				if info.TreeID != strconv.FormatInt(c.treeID, 10) || info.TreeSize != int64(c.size) ||
					info.SignedTreeHead != string(mustCheckpointText(t, s, "")) {
					t.Fatalf("active: %+v", info)
				}
				if len(info.InactiveShards) != 2 {
					t.Fatalf("inactiveShards: %+v", info.InactiveShards)
				}
				for i, sh := range []*shard{a, b} {
					in := info.InactiveShards[i]
					cp, err := checkpoint.Verify([]byte(in.SignedTreeHead), sh.logKey().origin, logsettest.Hostname, checkpoint.KeyIDRekorV1, sh.key.Public())
					if err != nil {
						t.Fatalf("inactive shard %d: %v", i, err)
					}
					last := sh.cps[sh.size-1]
					if in.TreeID != strconv.FormatInt(sh.treeID, 10) || in.TreeSize != int64(sh.size) ||
						cp.Size != last.Size || cp.Root != last.Root || in.RootHash != hex.EncodeToString(last.Root[:]) {
						t.Fatalf("inactive shard %d: %+v, want tree %d size %d root %x", i, in, sh.treeID, sh.size, last.Root)
					}
				}
			})

			t.Run("public key", func(t *testing.T) {
				tests := []struct {
					query string
					key   *signer.Local
				}{
					{"", key2},
					{"?treeID=" + strconv.FormatInt(a.treeID, 10), key1},
					{"?treeID=" + strconv.FormatInt(b.treeID, 10), key1},
					{"?treeID=" + strconv.FormatInt(c.treeID, 10), key2},
				}
				for _, tt := range tests {
					resp, body := s.do("GET", "/api/v1/log/publicKey"+tt.query, nil)
					want, err := signer.PublicKeyPEM(tt.key.Public())
					if err != nil {
						t.Fatal(err)
					}
					if resp.StatusCode != 200 || string(body) != string(want) {
						t.Fatalf("publicKey%s: %d %s", tt.query, resp.StatusCode, body)
					}
				}
				resp, body := s.do("GET", "/api/v1/log/publicKey?treeID=12345", nil)
				apiError(t, resp, body, http.StatusBadRequest)
			})

			t.Run("consistency proofs", func(t *testing.T) {
				tests := []struct {
					sh          *shard
					tree        string
					first, last int
				}{
					{a, "&treeID=" + strconv.FormatInt(a.treeID, 10), 1, 3},
					{b, "&treeID=" + strconv.FormatInt(b.treeID, 10), 2, 3},
					{c, "&treeID=" + strconv.FormatInt(c.treeID, 10), 1, 2},
					{c, "", 1, 2},
				}
				for _, tt := range tests {
					path := fmt.Sprintf("/api/v1/log/proof?firstSize=%d&lastSize=%d%s", tt.first, tt.last, tt.tree)
					resp, body := s.do("GET", path, nil)
					var p models.ConsistencyProof
					if err := json.Unmarshal(body, &p); resp.StatusCode != 200 || err != nil {
						t.Fatalf("%s: %d %v %s", path, resp.StatusCode, err, body)
					}
					hashes := make([][]byte, len(p.Hashes))
					for i, h := range p.Hashes {
						hashes[i], _ = hex.DecodeString(h)
					}
					c1, c2 := tt.sh.cps[tt.first-1], tt.sh.cps[tt.last-1]
					if err := proof.VerifyConsistency(rfc6962.DefaultHasher, c1.Size, c2.Size, hashes, c1.Root[:], c2.Root[:]); err != nil {
						t.Fatalf("%s: %v", path, err)
					}
				}
				// A frozen shard never grows past its final size.
				path := fmt.Sprintf("/api/v1/log/proof?firstSize=1&lastSize=4&treeID=%d", a.treeID)
				resp, body := s.do("GET", path, nil)
				apiError(t, resp, body, http.StatusBadRequest)
				resp, body = s.do("GET", "/api/v1/log/proof?firstSize=1&lastSize=1&treeID=12345", nil)
				apiError(t, resp, body, http.StatusBadRequest)
			})

			t.Run("tiles", func(t *testing.T) {
				for _, sh := range shards {
					prefix := "/logs/" + strconv.FormatInt(sh.treeID, 10)
					if got, want := mustCheckpointText(t, s, prefix), sh.last; string(got) != want {
						t.Fatalf("%s/checkpoint:\n%s\nwant\n%s", prefix, got, want)
					}
					checkTilesAt(t, s, prefix, sh.cps[sh.size-1])
				}
				// The unprefixed paths are the active log's.
				checkTiles(t, s, c.cps[c.size-1])
				for _, path := range []string{"/logs/12345/checkpoint", "/logs/12345/tile/0/000.p/1", "/logs/x/checkpoint",
					fmt.Sprintf("/logs/%d/tile/0/000.p/4", a.treeID)} {
					if resp, b := s.do("GET", path, nil); resp.StatusCode != http.StatusNotFound {
						t.Fatalf("GET %s: %d %s, want 404", path, resp.StatusCode, b)
					}
				}
			})

			// Last, as it rotates again: to a key this server does not hold.
			// It cannot write (503, retry: another replica may hold the
			// key), and still serves every log.
			t.Run("no key", func(t *testing.T) {
				d := logsettest.Rotate(t, set, logsettest.Key(t))
				resp, body := s.do("POST", "/api/v1/log/entries", newEntry(t, sgn, "no key"))
				apiError(t, resp, body, http.StatusServiceUnavailable)
				if resp.Header.Get("Retry-After") == "" {
					t.Fatal("503 without Retry-After")
				}
				info := s.logInfo()
				if info.TreeID != strconv.FormatInt(d.TreeID, 10) || info.TreeSize != 0 || len(info.InactiveShards) != 3 {
					t.Fatalf("log info after rotating to an unknown key: %+v", info)
				}
				resp, body = s.do("GET", "/api/v1/log/entries?logIndex=7", nil)
				if resp.StatusCode != 200 {
					t.Fatalf("reading after rotating to an unknown key: %d %s", resp.StatusCode, body)
				}
				checkShardEntry(t, all[7], oneEntry(t, body))
			})
		})
	}
}

// mustCheckpointText is the checkpoint served under prefix.
func mustCheckpointText(t *testing.T, s *server, prefix string) []byte {
	t.Helper()
	resp, b := s.do("GET", prefix+"/checkpoint", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%s/checkpoint: %d %s", prefix, resp.StatusCode, b)
	}
	return b
}
