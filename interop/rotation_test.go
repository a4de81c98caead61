package interop

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/swag/conv"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/util"
	rekorverify "github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// shard is one log of a rotated server, as the rotation test made it.
type shard struct {
	treeID  string // decimal, as the API writes it
	keyFile string // its private key (keygen wrote <name>.pub.pem beside it)
	start   int64  // virtual index of its first entry
	size    int64  // entries written into it

	pubPEM   []byte // GetPublicKey?treeID=
	verifier signature.Verifier
}

// rotated is an entry the rotation test wrote.
type rotated struct {
	name  string
	sg    *signed
	uuid  string // 80 hex, as CreateLogEntry answered
	index int64  // virtual
	entry models.LogEntryAnon
	shard *shard
}

// local is the entry's index in its own shard.
func (r *rotated) local() int64 { return r.index - r.shard.start }

// TestRotation writes entries into a log, rotates it with `tabula log
// rotate` while the server runs (once to a log with the same key, once to
// one with the server's second --key), writes more after each rotation, and
// then reads and verifies every entry, of the two frozen shards and of the
// active one, with each real client:
//   - rekor's Go client: GetLogEntryByIndex with the virtual index,
//     GetLogEntryByUUID with 80- and 64-hex IDs, SearchLogQuery by UUID,
//     index and entry, SearchIndex, GetLogInfo's inactiveShards,
//     GetPublicKey and GetLogProof by tree ID, a 409 for a re-upload of a
//     frozen shard's entry, and rekor pkg/verify (inclusion proof,
//     checkpoint, SET) with each shard's key;
//   - rekor-cli: get (--log-index, --uuid), verify (--uuid, --log-index,
//     --artifact), search (--public-key, --sha) and loginfo, which
//     verifies the inactive shards and proves them consistent with the
//     tree heads it saw before they froze;
//   - sigstore-go: the SET, the inclusion proof and a whole bundle
//     verification under the trusted root `tabula trusted-root` prints;
//   - cosign: verify-blob of each entry's bundle with that trusted root.
//
// A trusted root printed before the rotation to the new key must not
// verify the entries of the new key's log.
func TestRotation(t *testing.T) {
	forEachEngineKeys(t, 2, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		home := t.TempDir() // rekor-cli's tree heads, cosign's caches
		dir := t.TempDir()
		signer := newKeySigner(t)
		signerPub := writeFile(t, dir, "signer.pub.pem", signer.pemPub)

		shards := []*shard{{treeID: *c.logInfo(t).TreeID, keyFile: s.Keys[0]}}
		var written []*rotated
		write := func(name string) {
			t.Helper()
			sh := shards[len(shards)-1]
			sg := newHashedRekord(t, signer.key, signer.pemPub, []byte("rotation artifact "+name))
			uuid, e := c.create(t, sg.entry)
			if tree := treeIDHex(t, sh.treeID); !strings.HasPrefix(uuid, tree) {
				t.Fatalf("entry %s: UUID %s, want it in the active log %s (%s…)", name, uuid, sh.treeID, tree)
			}
			if want := sh.start + sh.size; *e.LogIndex != want {
				t.Fatalf("entry %s: logIndex %d, want the virtual index %d", name, *e.LogIndex, want)
			}
			written = append(written, &rotated{name: name, sg: sg, uuid: uuid, index: *e.LogIndex, shard: sh})
			sh.size++
		}
		rotate := func(keyFile string) {
			t.Helper()
			last := shards[len(shards)-1]
			treeID := s.rotate(t, keyFile)
			shards = append(shards, &shard{treeID: strconv.FormatInt(treeID, 10), keyFile: keyFile, start: last.start + last.size})
		}
		loginfo := func(wantActive, wantTotal int64) {
			t.Helper()
			var got struct {
				ActiveTreeSize, TotalTreeSize int64
				TreeID                        string
			}
			out := rekorCLI.mustRun(t, home, "loginfo", "--rekor_server", s.URL, "--format", "json")
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("rekor-cli loginfo: %v\n%s", err, out)
			}
			if active := shards[len(shards)-1]; got.ActiveTreeSize != wantActive || got.TotalTreeSize != wantTotal || got.TreeID != active.treeID {
				t.Errorf("rekor-cli loginfo: active tree %s of %d, %d in all; want %s of %d, %d in all",
					got.TreeID, got.ActiveTreeSize, got.TotalTreeSize, active.treeID, wantActive, wantTotal)
			}
			// It verified and kept every shard's tree head, and proves the
			// next one it sees of that shard consistent with it.
			var kept map[string]*util.SignedCheckpoint
			raw, err := os.ReadFile(filepath.Join(home, ".rekor", "state.json"))
			if err == nil {
				err = json.Unmarshal(raw, &kept)
			}
			if err != nil {
				t.Fatalf("rekor-cli's tree heads: %v", err)
			}
			for _, sh := range shards {
				if sth := kept[sh.treeID]; sth == nil || int64(sth.Size) != sh.size {
					t.Errorf("rekor-cli loginfo kept %+v for log %s, want its tree head at size %d", sth, sh.treeID, sh.size)
				}
			}
		}

		// The first log, with the first key; rekor-cli and the Go client
		// keep its tree head at size 1.
		write("0a")
		early, _ := c.signedTreeHead(t)
		loginfo(1, 1)
		write("0b")
		// The second log, with the same key.
		rotate(s.Keys[0])
		write("1a")
		loginfo(1, 3) // proves log 0 grew consistently from 1 to 2, then froze
		write("1b")
		beforeJSON, before := c.trustedRootJSON(t, nil)
		// The third log, with the server's second key.
		rotate(s.Keys[1])
		write("2a")
		write("2b")
		loginfo(2, 6) // proves log 1 from 1 to 2

		// Each shard's key, by tree ID: the first two logs share a key.
		for i, sh := range shards {
			sh.pubPEM, sh.verifier = c.publicKey(t, sh.treeID)
			want, err := os.ReadFile(strings.TrimSuffix(sh.keyFile, ".pem") + ".pub.pem")
			if err != nil {
				t.Fatal(err)
			}
			if !samePublicKey(t, sh.pubPEM, want) {
				t.Errorf("GetPublicKey(treeID %s): log %d's key is not %s:\n%s", sh.treeID, i, sh.keyFile, sh.pubPEM)
			}
		}
		if samePublicKey(t, shards[1].pubPEM, shards[2].pubPEM) {
			t.Fatal("the logs before and after the rotation to the second key have the same key")
		}

		t.Run("log info", func(t *testing.T) {
			info := c.logInfo(t)
			active := shards[2]
			if *info.TreeID != active.treeID || *info.TreeSize != active.size {
				t.Errorf("GetLogInfo: tree %s of size %d, want the active log %s of size %d", *info.TreeID, *info.TreeSize, active.treeID, active.size)
			}
			checkSignedTreeHead(t, active.verifier, *info.SignedTreeHead, *info.TreeSize, *info.RootHash, *info.TreeID)
			if len(info.InactiveShards) != 2 {
				t.Fatalf("GetLogInfo: %d inactive shards, want 2", len(info.InactiveShards))
			}
			for i, in := range info.InactiveShards {
				sh := shards[i]
				if *in.TreeID != sh.treeID || *in.TreeSize != sh.size {
					t.Errorf("inactive shard %d: tree %s of size %d, want %s of size %d (oldest first)", i, *in.TreeID, *in.TreeSize, sh.treeID, sh.size)
				}
				final := checkSignedTreeHead(t, sh.verifier, *in.SignedTreeHead, *in.TreeSize, *in.RootHash, *in.TreeID)
				if i == 0 {
					// GetLogProof with the frozen log's tree ID.
					if err := rekorverify.ProveConsistency(ctx(t), c.rekor, early, final, sh.treeID); err != nil {
						t.Errorf("rekor ProveConsistency of frozen log %s, %d → %d: %v", sh.treeID, early.Size, final.Size, err)
					}
				}
			}
		})

		t.Run("rekor client", func(t *testing.T) {
			for _, w := range written {
				check := func(how, uuid string, e models.LogEntryAnon) {
					t.Helper()
					if uuid != w.uuid || *e.LogIndex != w.index {
						t.Errorf("%s %s: entry %s at %d, want %s at %d", how, w.name, uuid, *e.LogIndex, w.uuid, w.index)
					}
					if p := e.Verification.InclusionProof; *p.LogIndex != w.local() || *p.TreeSize != w.shard.size {
						t.Errorf("%s %s: inclusion proof for index %d of %d, want %d of %d (its shard's)",
							how, w.name, *p.LogIndex, *p.TreeSize, w.local(), w.shard.size)
					}
					verifyEntryWith(t, e, w.shard.verifier)
				}
				uuid, e := c.getByIndex(t, w.index)
				check("GetLogEntryByIndex", uuid, e)
				w.entry = e
				uuid, e = c.getByUUID(t, w.uuid)
				check("GetLogEntryByUUID(80 hex)", uuid, e)
				uuid, e = c.getByUUID(t, w.uuid[16:])
				check("GetLogEntryByUUID(64 hex)", uuid, e)
			}
			// A re-upload of an entry of a frozen shard is a 409 naming it.
			for _, w := range []*rotated{written[0], written[2]} {
				p := entries.NewCreateLogEntryParams()
				p.SetProposedEntry(w.sg.entry)
				_, err := c.rekor.Entries.CreateLogEntryContext(ctx(t), p)
				var conflict *entries.CreateLogEntryConflict
				if !errors.As(err, &conflict) || uuidOf(conflict.Location.String()) != w.uuid {
					t.Errorf("CreateLogEntry again of %s (log %s): %v (%T), want a 409 with Location …/%s", w.name, w.shard.treeID, err, err, w.uuid)
				}
			}
			// The entries of the second key's log do not verify with the first key.
			last := written[len(written)-1]
			if err := rekorverify.VerifyLogEntry(ctx(t), &last.entry, shards[0].verifier); err == nil {
				t.Errorf("rekor VerifyLogEntry accepted entry %s of log %s with the key of log %s", last.name, last.shard.treeID, shards[0].treeID)
			}

			var all []string
			byUUID, byIndex, byEntry := &models.SearchLogQuery{}, &models.SearchLogQuery{}, &models.SearchLogQuery{}
			var pes []models.ProposedEntry
			for _, w := range written {
				all = append(all, w.uuid)
				byUUID.EntryUUIDs = append(byUUID.EntryUUIDs, w.uuid[16:])
				byIndex.LogIndexes = append(byIndex.LogIndexes, conv.Pointer(w.index))
				pes = append(pes, w.sg.entry)
			}
			byEntry.SetEntries(pes)
			for _, q := range []struct {
				how string
				q   *models.SearchLogQuery
			}{{"retrieve by 64-hex UUID", byUUID}, {"retrieve by virtual index", byIndex}, {"retrieve by entry", byEntry}} {
				var got []string
				for _, le := range c.retrieve(t, q.q) {
					uuid, e := only(t, le)
					got = append(got, uuid)
					for _, w := range written {
						if w.uuid == uuid {
							verifyEntryWith(t, e, w.shard.verifier)
						}
					}
				}
				if !slices.Equal(got, all) {
					t.Errorf("%s: got %v, want %v", q.how, got, all)
				}
			}

			sorted := slices.Sorted(slices.Values(all))
			if got := c.search(t, &models.SearchIndex{PublicKey: &models.SearchIndexPublicKey{
				Format: conv.Pointer("x509"), Content: strfmt.Base64(signer.pemPub)}}); !slices.Equal(got, sorted) {
				t.Errorf("SearchIndex by public key: got %v, want %v", got, sorted)
			}
			for _, w := range []*rotated{written[0], last} {
				if got := c.search(t, &models.SearchIndex{Hash: hex.EncodeToString(w.sg.digest)}); !slices.Equal(got, []string{w.uuid}) {
					t.Errorf("SearchIndex by the hash of %s: got %v, want [%s]", w.name, got, w.uuid)
				}
			}
		})
		if t.Failed() {
			return // the entries are not all there to check
		}

		t.Run("rekor-cli", func(t *testing.T) {
			rekor := func(args ...string) []byte {
				t.Helper()
				return rekorCLI.mustRun(t, home, append(args, "--rekor_server", s.URL, "--format", "json")...)
			}
			for _, w := range written {
				logID, err := hashHex(mustDER(t, w.shard.pubPEM))
				if err != nil {
					t.Fatal(err)
				}
				for _, args := range [][]string{
					{"get", "--log-index", strconv.FormatInt(w.index, 10)},
					{"get", "--uuid", w.uuid},
					{"get", "--uuid", w.uuid[16:]},
				} {
					var got struct {
						LogIndex int64
						UUID     string
						LogID    string
					}
					out := rekor(args...)
					if err := json.Unmarshal(out, &got); err != nil {
						t.Fatalf("rekor-cli %s: %v\n%s", strings.Join(args, " "), err, out)
					}
					if got.UUID != w.uuid || got.LogIndex != w.index || got.LogID != logID {
						t.Errorf("rekor-cli %s: %s at %d in log %s, want %s at %d in log %s",
							strings.Join(args, " "), got.UUID, got.LogIndex, got.LogID, w.uuid, w.index, logID)
					}
				}
				verifyArgs := [][]string{
					{"verify", "--uuid", w.uuid},
					{"verify", "--log-index", strconv.FormatInt(w.index, 10)},
				}
				if w == written[0] || w == written[len(written)-1] {
					art := writeFile(t, dir, w.name+".txt", w.sg.artifact)
					sig := writeFile(t, dir, w.name+".sig", w.sg.sig)
					verifyArgs = append(verifyArgs, []string{"verify", "--type", "hashedrekord", "--artifact", art,
						"--signature", sig, "--public-key", signerPub, "--pki-format", "x509"})
				}
				for _, args := range verifyArgs {
					var got struct {
						EntryUUID   string
						Index, Size int64
					}
					out := rekor(args...)
					if err := json.Unmarshal(out, &got); err != nil {
						t.Fatalf("rekor-cli %s: %v\n%s", strings.Join(args, " "), err, out)
					}
					if got.EntryUUID != w.uuid || got.Index != w.local() || got.Size != w.shard.size {
						t.Errorf("rekor-cli %s: %s, index %d of %d; want %s, index %d of %d (its shard's)",
							strings.Join(args, " "), got.EntryUUID, got.Index, got.Size, w.uuid, w.local(), w.shard.size)
					}
				}
			}

			search := func(args ...string) []string {
				t.Helper()
				var got struct{ UUIDs []string }
				out := rekor(append([]string{"search"}, args...)...)
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("rekor-cli search %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				slices.Sort(got.UUIDs)
				return got.UUIDs
			}
			var all []string
			for _, w := range written {
				all = append(all, w.uuid)
			}
			slices.Sort(all)
			if got := search("--public-key", signerPub, "--pki-format", "x509"); !slices.Equal(got, all) {
				t.Errorf("rekor-cli search --public-key: got %v, want %v", got, all)
			}
			for _, w := range []*rotated{written[0], written[len(written)-1]} {
				if got := search("--sha", "sha256:"+hex.EncodeToString(w.sg.digest)); !slices.Equal(got, []string{w.uuid}) {
					t.Errorf("rekor-cli search --sha (%s): got %v, want [%s]", w.name, got, w.uuid)
				}
			}
		})

		trJSON, tr := c.trustedRootJSON(t, nil)
		trPath := writeFile(t, dir, "trusted_root.json", trJSON)
		t.Run("trusted root", func(t *testing.T) {
			logs := tr.RekorLogs()
			if len(logs) != 2 {
				t.Fatalf("%d transparency logs in the trusted root, want one per key (2):\n%s", len(logs), trJSON)
			}
			for i, sh := range []*shard{shards[1], shards[2]} {
				id, err := hashHex(mustDER(t, sh.pubPEM))
				if err != nil {
					t.Fatal(err)
				}
				l, ok := logs[id]
				if !ok {
					t.Fatalf("no log with key ID %s (log %s's) in the trusted root:\n%s", id, sh.treeID, trJSON)
				}
				if frozen := i == 0; l.ValidityPeriodEnd.IsZero() == frozen {
					t.Errorf("key of log %s valid until %v; want an end only for the frozen logs' key", sh.treeID, l.ValidityPeriodEnd)
				}
			}
		})

		t.Run("sigstore-go", func(t *testing.T) {
			for _, w := range written {
				verifyTlogEntryWith(t, tr, w.entry, w.shard.verifier)
				b := messageBundle(t, w.entry, w.sg.digest, w.sg.sig, nil)
				for _, tc := range []struct {
					name string
					tr   *root.TrustedRoot
					want bool
				}{
					{"the trusted root after the rotations", tr, true},
					{"the trusted root before the rotation to the second key", before, w.shard != shards[2]},
				} {
					v, err := verify.NewVerifier(w.sg.material(t, tc.tr), verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))
					if err != nil {
						t.Fatal(err)
					}
					_, err = v.Verify(b, w.sg.policy(t, w.sg.artifact, ""))
					if (err == nil) != tc.want {
						t.Errorf("sigstore-go verify of %s (log %s) with %s: %v, want success %v", w.name, w.shard.treeID, tc.name, err, tc.want)
					}
				}
			}
		})

		t.Run("cosign", func(t *testing.T) {
			beforePath := writeFile(t, dir, "trusted_root_before.json", beforeJSON)
			for _, w := range written {
				raw, err := messageBundle(t, w.entry, w.sg.digest, w.sg.sig, nil).MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				bundlePath := writeFile(t, dir, w.name+".sigstore.json", raw)
				art := writeFile(t, dir, w.name+".txt", w.sg.artifact)
				args := func(trustedRoot string) []string {
					return []string{"verify-blob", "--key", signerPub, "--bundle", bundlePath, "--trusted-root", trustedRoot, art}
				}
				if out, stderr, err := cosignCLI.run(t, home, args(trPath)...); err != nil || !strings.Contains(string(out)+stderr, "Verified OK") {
					t.Errorf("cosign %s (entry %s of log %s): %v\n%s%s", strings.Join(args(trPath), " "), w.name, w.shard.treeID, err, out, stderr)
				}
				if w.shard == shards[2] {
					if _, _, err := cosignCLI.run(t, home, args(beforePath)...); err == nil {
						t.Errorf("cosign verified entry %s of log %s with the trusted root printed before its key's log existed", w.name, w.shard.treeID)
					}
				}
			}
		})
	})
}

// treeIDHex is a tree ID as the first 16 hex digits of its entries' UUIDs.
func treeIDHex(t *testing.T, treeID string) string {
	t.Helper()
	id, err := strconv.ParseInt(treeID, 10, 64)
	if err != nil {
		t.Fatalf("tree ID %q: %v", treeID, err)
	}
	return fmt.Sprintf("%016x", id)
}

// mustDER is a PEM public key's DER SubjectPublicKeyInfo.
func mustDER(t *testing.T, pemKey []byte) []byte {
	t.Helper()
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemKey)
	if err != nil {
		t.Fatalf("public key: %v\n%s", err, pemKey)
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func samePublicKey(t *testing.T, a, b []byte) bool {
	t.Helper()
	return bytes.Equal(mustDER(t, a), mustDER(t, b))
}
