package interop

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/go-openapi/swag/conv"
	rekortlog "github.com/sigstore/rekor/pkg/generated/client/tlog"
	"github.com/sigstore/rekor/pkg/util"
	rekorverify "github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// signedTreeHead reads GetLogInfo's signed checkpoint with rekor's parser,
// checks its signature with the log key, and that it agrees with the
// LogInfo fields around it.
func (c *logClient) signedTreeHead(t *testing.T) (*util.SignedCheckpoint, string) {
	t.Helper()
	info := c.logInfo(t)
	return checkSignedTreeHead(t, c.verifier, *info.SignedTreeHead, *info.TreeSize, *info.RootHash, *info.TreeID), *info.TreeID
}

// checkSignedTreeHead parses a log's (or a shard's) signed checkpoint with
// rekor's parser, checks its signature with v, and that it agrees with the
// size, root hash and tree ID reported beside it.
func checkSignedTreeHead(t *testing.T, v signature.Verifier, signed string, size int64, rootHash, treeID string) *util.SignedCheckpoint {
	t.Helper()
	sth := &util.SignedCheckpoint{}
	if err := sth.UnmarshalText([]byte(signed)); err != nil {
		t.Fatalf("rekor util.SignedCheckpoint cannot read the signed tree head: %v\n%s", err, signed)
	}
	if !sth.Verify(v) {
		t.Fatalf("the signed tree head does not verify with the log key:\n%s", signed)
	}
	if int64(sth.Size) != size || hex.EncodeToString(sth.Hash) != rootHash {
		t.Errorf("checkpoint %d %x disagrees with LogInfo %d %s", sth.Size, sth.Hash, size, rootHash)
	}
	if want := "tabula.local - " + treeID; sth.Origin != want {
		t.Errorf("checkpoint origin %q, want %q", sth.Origin, want)
	}
	return sth
}

// TestConsistency grows the log in steps and proves every later signed tree
// head consistent with every earlier one, with rekor pkg/verify
// (ProveConsistency, VerifyCurrentCheckpoint) and with transparency-dev's
// proof.VerifyConsistency on GetLogProof's answer.
func TestConsistency(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		var heads []*util.SignedCheckpoint
		var treeID string
		n := 0
		for _, size := range []int{1, 2, 3, 5, 8, 13} {
			for ; n < size; n++ {
				c.create(t, keySigned(t, fmt.Sprintf("consistency %d", n)).entry)
			}
			sth, id := c.signedTreeHead(t)
			if int(sth.Size) != size {
				t.Fatalf("tree size %d after %d entries", sth.Size, size)
			}
			heads, treeID = append(heads, sth), id
		}

		for i, old := range heads {
			for _, cur := range heads[i:] {
				if err := rekorverify.ProveConsistency(ctx(t), c.rekor, old, cur, treeID); err != nil {
					t.Errorf("rekor ProveConsistency %d → %d: %v", old.Size, cur.Size, err)
				}
				if old.Size == cur.Size {
					continue
				}
				p := rekortlog.NewGetLogProofParams()
				p.FirstSize = conv.Pointer(int64(old.Size))
				p.LastSize = int64(cur.Size)
				resp, err := c.rekor.Tlog.GetLogProofContext(ctx(t), p)
				if err != nil {
					t.Fatalf("GetLogProof(%d, %d): %s", old.Size, cur.Size, describe(err))
				}
				if *resp.Payload.RootHash != hex.EncodeToString(cur.Hash) {
					t.Errorf("GetLogProof(%d, %d): rootHash %s, want %x", old.Size, cur.Size, *resp.Payload.RootHash, cur.Hash)
				}
				var hashes [][]byte
				for _, h := range resp.Payload.Hashes {
					b, err := hex.DecodeString(h)
					if err != nil {
						t.Fatal(err)
					}
					hashes = append(hashes, b)
				}
				if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cur.Size, hashes, old.Hash, cur.Hash); err != nil {
					t.Errorf("proof.VerifyConsistency %d → %d: %v", old.Size, cur.Size, err)
				}
			}
		}

		// A client holding the first head catches up to the current one.
		got, err := rekorverify.VerifyCurrentCheckpoint(ctx(t), c.rekor, c.verifier, heads[0])
		if err != nil {
			t.Fatalf("rekor VerifyCurrentCheckpoint: %v", err)
		}
		if last := heads[len(heads)-1]; got.Size != last.Size || !bytes.Equal(got.Hash, last.Hash) {
			t.Errorf("VerifyCurrentCheckpoint: %d %x, want %d %x", got.Size, got.Hash, last.Size, last.Hash)
		}

		// Every entry's inclusion proof is against that current head.
		for i := range n {
			_, e := c.getByIndex(t, int64(i))
			c.verifyEntry(t, e)
			if *e.Verification.InclusionProof.RootHash != hex.EncodeToString(got.Hash) {
				t.Errorf("entry %d: proof root %s, want the current head's %x", i, *e.Verification.InclusionProof.RootHash, got.Hash)
			}
		}

		// A forked history must not prove consistent.
		forged := *heads[2]
		forged.Hash = bytes.Clone(forged.Hash)
		forged.Hash[0] ^= 1
		if err := rekorverify.ProveConsistency(ctx(t), c.rekor, &forged, heads[4], treeID); err == nil {
			t.Error("ProveConsistency accepted a head whose root hash was changed")
		}

		// Sizes the log has not reached are refused with 400.
		p := rekortlog.NewGetLogProofParams()
		p.FirstSize = conv.Pointer(int64(1))
		p.LastSize = int64(n + 1)
		var bad *rekortlog.GetLogProofBadRequest
		if _, err := c.rekor.Tlog.GetLogProofContext(ctx(t), p); !errors.As(err, &bad) {
			t.Errorf("GetLogProof(1, %d) beyond the tree: %v (%T), want *tlog.GetLogProofBadRequest", n+1, err, err)
		}
	})
}
