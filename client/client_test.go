package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

func TestClientAgainstServer(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			ts, logKey := newServer(t, e.Open(t))
			c, err := client.New(ts.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			var uuids []string
			for i, a := range []string{"one", "two", "three"} {
				body, err := sgn.HashedRekord([]byte(a))
				if err != nil {
					t.Fatal(err)
				}
				uuid, le, err := c.CreateEntry(ctx, body)
				if err != nil {
					t.Fatalf("CreateEntry: %v", err)
				}
				if le.LogIndex != int64(i) || len(uuid) != 80 {
					t.Fatalf("entry %d: index %d uuid %q", i, le.LogIndex, uuid)
				}
				if le.Verification == nil || le.Verification.InclusionProof == nil || len(le.Verification.SignedEntryTimestamp) == 0 {
					t.Fatalf("entry %d has no proof or SET", i)
				}
				uuids = append(uuids, uuid)
				// A second upload is a 409 carrying Rekor's error body.
				_, _, err = c.CreateEntry(ctx, body)
				var ce *client.Error
				if !errors.As(err, &ce) || ce.StatusCode != http.StatusConflict || ce.Code != http.StatusConflict || ce.Message == "" {
					t.Fatalf("duplicate: %v", err)
				}
			}

			uuid, le, err := c.EntryByIndex(ctx, 1)
			if err != nil || uuid != uuids[1] || le.LogIndex != 1 {
				t.Fatalf("EntryByIndex(1) = %q, %d, %v", uuid, le.LogIndex, err)
			}
			for _, id := range []string{uuids[2], uuids[2][16:]} {
				uuid, le, err = c.EntryByUUID(ctx, id)
				if err != nil || uuid != uuids[2] || le.LogIndex != 2 {
					t.Fatalf("EntryByUUID(%s) = %q, %d, %v", id, uuid, le.LogIndex, err)
				}
			}
			if _, _, err := c.EntryByIndex(ctx, 99); !client.IsNotFound(err) {
				t.Fatalf("EntryByIndex(99): %v, want 404", err)
			}
			_, _, err = c.EntryByIndex(ctx, -1)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.StatusCode != 422 || !strings.Contains(ce.Message, "logIndex") {
				t.Fatalf("EntryByIndex(-1): %v, want 422 with Rekor's message", err)
			}

			zero := int64(0)
			got, err := c.RetrieveEntries(ctx, models.SearchLogQuery{EntryUUIDs: []string{uuids[1]}, LogIndexes: []*int64{&zero}})
			if err != nil || len(got) != 2 {
				t.Fatalf("RetrieveEntries: %d entries, %v", len(got), err)
			}

			d := sha256.Sum256([]byte("two"))
			found, err := c.SearchIndex(ctx, models.SearchIndex{Hash: "sha256:" + hex.EncodeToString(d[:])})
			if err != nil || len(found) != 1 || !strings.HasSuffix(uuids[1], found[0][len(found[0])-64:]) {
				t.Fatalf("SearchIndex(hash) = %v, %v", found, err)
			}
			found, err = c.SearchIndex(ctx, models.SearchIndex{PublicKey: &models.SearchIndexPublicKey{Format: "x509", Content: sgn.PublicKeyPEM()}})
			if err != nil || len(found) != 3 {
				t.Fatalf("SearchIndex(key) = %v, %v", found, err)
			}

			li, err := c.LogInfo(ctx)
			if err != nil || li.TreeSize != 3 || li.TreeID == "" {
				t.Fatalf("LogInfo = %+v, %v", li, err)
			}
			cp, err := checkpoint.Verify([]byte(li.SignedTreeHead), "tabula.test - "+li.TreeID, "tabula.test", checkpoint.KeyIDRekorV1, logKey.Public())
			if err != nil || cp.Size != 3 || hex.EncodeToString(cp.Root[:]) != li.RootHash {
				t.Fatalf("checkpoint %+v: %v", cp, err)
			}
			raw, err := c.Checkpoint(ctx)
			if err != nil || string(raw) != li.SignedTreeHead {
				t.Fatalf("Checkpoint = %q, %v", raw, err)
			}

			p, err := c.ConsistencyProof(ctx, 1, 3, li.TreeID)
			if err != nil || p.RootHash != li.RootHash || len(p.Hashes) == 0 {
				t.Fatalf("ConsistencyProof = %+v, %v", p, err)
			}
			if _, err := c.ConsistencyProof(ctx, 3, 1, ""); err == nil {
				t.Fatal("ConsistencyProof(3, 1) succeeded")
			}

			pemKey, err := c.PublicKey(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := signer.PublicKeyPEM(logKey.Public())
			if string(pemKey) != string(want) {
				t.Fatalf("PublicKey = %q, want %q", pemKey, want)
			}

			tile, err := c.Tile(ctx, 0, 0, 3)
			if err != nil || len(tile) != 3*merkle.HashSize {
				t.Fatalf("Tile = %d bytes, %v", len(tile), err)
			}
			bundle, err := c.EntryBundle(ctx, 0, 3)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := merkle.ParseBundle(bundle)
			if err != nil || len(entries) != 3 {
				t.Fatalf("ParseBundle: %d, %v", len(entries), err)
			}
			for i, e := range entries {
				h := merkle.LeafHash(e)
				if string(h[:]) != string(tile[i*32:(i+1)*32]) || !strings.HasSuffix(uuids[i], hex.EncodeToString(h[:])) {
					t.Fatalf("entry %d: leaf hash does not match tile or UUID", i)
				}
			}
			if _, err := c.Tile(ctx, 0, 0, 0); !client.IsNotFound(err) {
				t.Fatalf("full tile of a 3-leaf tree: %v, want 404", err)
			}
		})
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:3000", "ftp://x", "http://", "://"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

func TestUnreachable(t *testing.T) {
	c, err := client.New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LogInfo(context.Background()); err == nil || client.IsNotFound(err) {
		t.Fatalf("LogInfo on a closed port: %v", err)
	}
}
