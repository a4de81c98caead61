package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/verify"
)

func TestEntryTreeID(t *testing.T) {
	withCheckpoint := func(cp string) models.LogEntryAnon {
		return models.LogEntryAnon{Verification: &models.Verification{InclusionProof: &models.InclusionProof{Checkpoint: cp}}}
	}
	leaf := strings.Repeat("ab", 32)
	tests := []struct {
		name, uuid string
		e          models.LogEntryAnon
		want       string
	}{
		{"80-hex UUID", "108e9186e8c5677a" + leaf, models.LogEntryAnon{}, "1193050959916656506"},
		{"80-hex UUID wins over the origin", "000000000000002a" + leaf, withCheckpoint("log.example - 7\n1\nAAAA\n"), "42"},
		{"zero tree ID: the origin", "0000000000000000" + leaf, withCheckpoint("log.example - 7\n1\nAAAA\n"), "7"},
		{"64-hex UUID: the origin", leaf, withCheckpoint("log.example - 1193050959916656506\n1\nAAAA\n"), "1193050959916656506"},
		{"origin without a tree ID", leaf, withCheckpoint("log.example/v2\n1\nAAAA\n"), ""},
		{"nothing", leaf, models.LogEntryAnon{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := entryTreeID(tt.uuid, tt.e); got != tt.want {
				t.Errorf("entryTreeID = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEntryKeyPicksByLogID: with several keys pinned, an entry is verified
// with the one whose log ID it names; none matching is a named failure.
func TestEntryKeyPicksByLogID(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	var keys []verify.LogKey
	for _, name := range []string{"old.pem", "new.pem"} {
		_, pub, _ := writeKey(t, "ecdsa-p256")
		b, err := os.ReadFile(pub)
		if err != nil {
			t.Fatal(err)
		}
		k, err := verify.ParseLogKeyPEM(b)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, writeFile(t, dir, name, b))
		keys = append(keys, k)
	}
	cf := &clientFlags{logKeys: paths}
	for i, k := range keys {
		got, pinned, err := cf.entryKey(context.Background(), nil, "", models.LogEntryAnon{LogID: k.LogID()})
		if err != nil || !pinned || got.LogID() != keys[i].LogID() {
			t.Errorf("key %d: got %s, %v, %v", i, got.LogID(), pinned, err)
		}
	}
	_, _, err := cf.entryKey(context.Background(), nil, "", models.LogEntryAnon{LogID: strings.Repeat("00", 32)})
	var ce *verify.CheckError
	if !errors.As(err, &ce) || ce.Check != verify.CheckLogKnown {
		t.Errorf("unknown log ID: %v", err)
	}
}
