package verify_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/internal/witnesstest"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/verify"
)

// logSource serves a lyinglog's tiles and a fixed cosigned checkpoint.
type logSource struct {
	l        *lyinglog.Log
	cosigned []byte
}

func (s logSource) CosignedCheckpoint(context.Context, string) ([]byte, error) {
	if s.cosigned == nil {
		return nil, errors.New("404 no cosigned checkpoint")
	}
	return s.cosigned, nil
}

func (s logSource) Tiles(_ string, size uint64) merkle.TileReader {
	return merkle.SizedTileReader(size, s.l.Tile)
}

func entries(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s %d", prefix, i)
	}
	return out
}

// TestWitnessed: an entry is accepted only with a checkpoint covering it
// that a quorum of a 2-of-2 policy cosigned, its own or the log's.
func TestWitnessed(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return time.Unix(1800000000, 0) }
	w0, w1, w2 := witnesstest.New(t, 0, now), witnesstest.New(t, 1, now), witnesstest.New(t, 2, now)
	pol := witnesstest.Policy(t, 2, []*witnesstest.Witness{w0, w1})

	l, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(entries("a", 300)...); err != nil {
		t.Fatal(err)
	}
	key, err := verify.ParseLogKeyPEM(l.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	old, _ := l.Checkpoint(ctx) // size 300: the entry's checkpoint
	oldCP, err := verify.Checkpoint(old, "", key)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(entries("b", 20)...); err != nil {
		t.Fatal(err)
	}
	newer, _ := l.Checkpoint(ctx) // size 320
	if err := l.Append(entries("c", 1)...); err != nil {
		t.Fatal(err)
	}
	entry := func(i uint64) verify.LoggedEntry {
		return verify.LoggedEntry{Key: key, Index: i, Leaf: verify.LeafHash(fmt.Appendf(nil, "a %d", i)), Checkpoint: old, Verified: oldCP}
	}
	other, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Append(entries("a", 320)...); err != nil {
		t.Fatal(err)
	}
	otherCP, _ := other.Checkpoint(ctx)

	badSig := tamperLast(t, witnesstest.Cosign(t, old, w0, w1))

	tests := []struct {
		name    string
		e       verify.LoggedEntry
		src     verify.WitnessSource
		wantErr string
	}{
		{"own checkpoint cosigned 2 of 2, offline", withCP(entry(7), witnesstest.Cosign(t, old, w0, w1)), nil, ""},
		{"extra unknown cosigner ignored", withCP(entry(7), witnesstest.Cosign(t, old, w2, w0, w1)), nil, ""},
		{"one witness of 2-of-2 missing, offline", withCP(entry(7), witnesstest.Cosign(t, old, w0)), nil, "cosigned by 1 of the policy's 2 witnesses"},
		{"unknown witness does not count", withCP(entry(7), witnesstest.Cosign(t, old, w0, w2)), nil, "cosigned by 1 of the policy's 2 witnesses"},
		{"bad cosignature", withCP(entry(7), badSig), nil, "cosigned by 1 of the policy's 2 witnesses"},
		{"log's newer cosigned checkpoint, consistency", entry(7), logSource{l, witnesstest.Cosign(t, newer, w0, w1)}, ""},
		{"log's cosigned checkpoint lacks a witness", entry(7), logSource{l, witnesstest.Cosign(t, newer, w1)}, "cosigned by 1 of the policy's 2 witnesses"},
		{"no cosigned checkpoint at the log", entry(7), logSource{l, nil}, "fetching the log's cosigned checkpoint failed"},
		{"wrong log's cosigned checkpoint", entry(7), logSource{l, witnesstest.Cosign(t, otherCP, w0, w1)}, "no valid signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := verify.Witnessed(ctx, pol, tt.e, tt.src)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Witnessed: %v", err)
				}
				if len(c.Cosignatures) != 2 {
					t.Errorf("%d cosignatures, want 2", len(c.Cosignatures))
				}
				return
			}
			var ce *verify.CheckError
			if err == nil || !errors.As(err, &ce) || ce.Check != verify.CheckWitnessed || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Witnessed: %v, want a %q error with %q", err, verify.CheckWitnessed, tt.wantErr)
			}
		})
	}
}

func withCP(e verify.LoggedEntry, b []byte) verify.LoggedEntry {
	e.Checkpoint = b
	return e
}

// tamperLast flips a bit of the Ed25519 signature of the note's last
// signature line.
func tamperLast(t *testing.T, b []byte) []byte {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	last := strings.Fields(lines[len(lines)-1])
	raw, err := base64.StdEncoding.DecodeString(last[2])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	lines[len(lines)-1] = last[0] + " " + last[1] + " " + base64.StdEncoding.EncodeToString(raw)
	return []byte(strings.Join(lines, "\n") + "\n")
}

// TestWitnessedOlderCosigned: a cosigned checkpoint smaller than the
// entry's own proves the entry by inclusion if it holds it, and is refused
// if it is older than the entry.
func TestWitnessedOlderCosigned(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return time.Unix(1800000000, 0) }
	ws := []*witnesstest.Witness{witnesstest.New(t, 0, now), witnesstest.New(t, 1, now)}
	pol := witnesstest.Policy(t, 2, ws)
	l, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(entries("a", 260)...); err != nil {
		t.Fatal(err)
	}
	cosigned := witnesstest.Cosign(t, must(l.Checkpoint(ctx)), ws...) // size 260
	if err := l.Append(entries("b", 40)...); err != nil {
		t.Fatal(err)
	}
	key, err := verify.ParseLogKeyPEM(l.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	own := must(l.Checkpoint(ctx)) // size 300
	ownCP, err := verify.Checkpoint(own, "", key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		index   uint64
		body    string
		wantErr string
	}{
		{"entry in the older cosigned tree", 259, "a 259", ""},
		{"entry after the cosigned tree", 270, "b 10", "older than the entry"},
		{"wrong leaf", 5, "a 6", "not in the cosigned checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := verify.LoggedEntry{Key: key, Index: tt.index, Leaf: verify.LeafHash([]byte(tt.body)), Checkpoint: own, Verified: ownCP}
			_, err := verify.Witnessed(ctx, pol, e, logSource{l, cosigned})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Witnessed: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
