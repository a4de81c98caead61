package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"github.com/tabularium/tabula/storage"
)

// RawBodies are entry bodies as rows written before schema version 6 hold
// them (raw, no body_format), for the drivers' upgrade tests: each driver
// writes them at indexes 0, 1, … of a one-log database at version 5 with
// leaf hash RawLeafHash(body), migrates, and hands the store to
// CheckRawBodies. They are shaped like what compresses (a hashedrekord
// body), like what does not, and empty.
var RawBodies = [][]byte{
	[]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"617ec5eb00d6e54edda531ab64150883647094b4cd8ac8fb9b4bfd37aa4ff47c"}},"signature":{"content":"MEYCIQCPWLVbp9lVr2H/hfhf4pGwadgHA3Lk8WoBdBmQBPGLSQIhAJXORpln/tYepnsXt8HKvJ94R24+B26QNMsb/2Tjm8QL","publicKey":{"content":"LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFK29ybVpwTGJKWENPeE9MbjA4R05nSWVJVE03Ngo3VWhmcE5ZcnpZM05YM2d4THY0cThxN2puVkN1bjVoalNoR1hwdzQ2TFBlZmtWS3RFRkl4dzMwNEpRPT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg=="}}}}`),
	{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x01, 0x02}, // a zstd magic number, stored raw
	{},
}

// RawLeafHash is the leaf hash the upgrade tests store a raw body under.
func RawLeafHash(body []byte) storage.Hash { return sha256.Sum256(append([]byte{0}, body...)) }

// CheckRawBodies checks that s, migrated from version 5 holding
// RawBodies, reads each as it was written, by index and by leaf hash; then
// appends the same bodies again and reads all of them back.
func CheckRawBodies(t *testing.T, s storage.Storage) {
	t.Helper()
	ctx := context.Background()
	check := func(what string, start uint64, bodies [][]byte) {
		t.Helper()
		got, err := s.ReadEntries(ctx, start, start+uint64(len(bodies)))
		if err != nil {
			t.Fatalf("%s: ReadEntries: %v", what, err)
		}
		if len(got) != len(bodies) {
			t.Fatalf("%s: ReadEntries returned %d entries, want %d", what, len(got), len(bodies))
		}
		for i, b := range bodies {
			if !bytes.Equal(got[i].Body, b) {
				t.Errorf("%s: entry %d has body %q, want %q", what, start+uint64(i), got[i].Body, b)
			}
			e, err := s.ReadEntryByLeafHash(ctx, got[i].LeafHash)
			if err != nil {
				t.Fatalf("%s: ReadEntryByLeafHash(entry %d): %v", what, start+uint64(i), err)
			}
			if !bytes.Equal(e.Body, b) || e.Index != start+uint64(i) {
				t.Errorf("%s: ReadEntryByLeafHash(entry %d) = entry %d, body %q", what, start+uint64(i), e.Index, e.Body)
			}
		}
	}
	check("rows written before the migration", 0, RawBodies)

	n := uint64(len(RawBodies))
	req := storage.AppendRequest{OldSize: n, State: storage.TreeState{Size: 2 * n}}
	var again [][]byte
	for i, b := range RawBodies {
		// Another leaf hash: the same body twice is two entries.
		leaf := RawLeafHash(append(bytes.Clone(b), byte(i), 0xff))
		req.Entries = append(req.Entries, storage.Entry{Index: n + uint64(i), LeafHash: leaf, Body: b, IntegratedTime: 1})
		again = append(again, b)
	}
	if err := s.Append(ctx, req); err != nil {
		t.Fatalf("Append after the migration: %v", err)
	}
	check("rows written before the migration, after an append", 0, RawBodies)
	check("rows written after the migration", n, again)
}
