package feeder_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/witness"
	"github.com/tabularium/tabula/witness/feeder"
	"github.com/tabularium/tabula/witness/loglist"
)

func entries(tag string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s-%d", tag, i))
	}
	return out
}

// counter is the value of tabula_witness_feed_total{origin, outcome}.
func counter(t *testing.T, reg *prometheus.Registry, origin, outcome string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tabula_witness_feed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["origin"] == origin && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestFeedThenFork feeds a lying log's checkpoints to a witness, by tiles
// and by the Rekor v1 API: honest growth is cosigned; after the log forks,
// the witness refuses (422) and keeps its checkpoint.
func TestFeedThenFork(t *testing.T) {
	for _, kind := range []string{witness.FeedTiles, witness.FeedRekor} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			ll, err := lyinglog.New()
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(ll.Handler())
			defer srv.Close()
			pub, err := signer.ParsePublicKeyPEM(ll.PublicKeyPEM())
			if err != nil {
				t.Fatal(err)
			}
			vkey, err := checkpoint.VKey(lyinglog.Hostname, checkpoint.KeyIDRekorV1, pub)
			if err != nil {
				t.Fatal(err)
			}
			feedURL := srv.URL
			if kind == witness.FeedRekor {
				feedURL += "?treeID=" + lyinglog.TreeID
			}
			list := fmt.Sprintf("logs/v0\nvkey %s\norigin %s\nfeed %s %s\n", vkey, ll.Origin(), kind, feedURL)
			w, wv := newWitness(t, list)
			discard := slog.New(slog.DiscardHandler)
			reg := prometheus.NewRegistry()
			f, err := feeder.New(feeder.Config{Witness: w, Metrics: reg, Logger: discard})
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Logs()) != 1 {
				t.Fatalf("%d logs to feed", len(f.Logs()))
			}
			l := f.Logs()[0]
			verifiers := note.VerifierList(append(l.Verifiers, wv)...)

			for _, step := range []struct {
				grow int
				size uint64
			}{{0, 0}, {10, 10}, {300, 310}, {0, 310}, {1, 311}} {
				if step.grow > 0 {
					if err := ll.Append(entries(fmt.Sprint(step.size), step.grow)...); err != nil {
						t.Fatal(err)
					}
				}
				if err := f.Feed(ctx, l); err != nil {
					t.Fatalf("size %d: Feed: %v", step.size, err)
				}
				if size, err := w.Size(ctx, l.Origin); err != nil || size != step.size {
					t.Fatalf("witness size %d, %v; want %d", size, err, step.size)
				}
			}
			before, err := w.Latest(ctx, l.Origin)
			if err != nil {
				t.Fatal(err)
			}
			n, err := note.Open(before, verifiers)
			if err != nil || len(n.Sigs) != 2 {
				t.Fatalf("stored note: %v, %d signatures", err, len(n.Sigs))
			}
			if got := counter(t, reg, l.Origin, feeder.OutcomeCosigned); got != 4 {
				t.Errorf("cosigned rounds %v, want 4", got)
			}

			if err := ll.Fork(200, entries("fork", 150)...); err != nil {
				t.Fatal(err)
			}
			err = f.Feed(ctx, l)
			var we *witness.Error
			if !errors.As(err, &we) || we.Status != 422 {
				t.Fatalf("Feed after the fork: %v, want a 422 refusal", err)
			}
			after, err := w.Latest(ctx, l.Origin)
			if err != nil || !bytes.Equal(after, before) {
				t.Fatalf("the witness's checkpoint changed after the fork: %v\n%s", err, after)
			}
			if got := counter(t, reg, l.Origin, feeder.OutcomeRefused); got != 1 {
				t.Errorf("refused rounds %v, want 1", got)
			}
		})
	}
}

// TestFeedShards feeds a frozen Rekor v1 shard (?treeID= picks it from
// inactiveShards) and the active one, by the Rekor API and by tiles under
// /logs/{treeID}/; the frozen shard's later fork is refused.
func TestFeedShards(t *testing.T) {
	ctx := context.Background()
	set, err := lyinglog.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	frozen := set.Active()
	if err := frozen.Append(entries("a", 10)...); err != nil {
		t.Fatal(err)
	}
	active, err := set.Rotate(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := active.Append(entries("b", 5)...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(set.Handler())
	defer srv.Close()
	pub, err := signer.ParsePublicKeyPEM(frozen.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := checkpoint.VKey(lyinglog.Hostname, checkpoint.KeyIDRekorV1, pub)
	if err != nil {
		t.Fatal(err)
	}
	list := fmt.Sprintf("logs/v0\nvkey %s\norigin %s\nfeed rekor %s?treeID=%s\n", vkey, frozen.Origin(), srv.URL, frozen.TreeID()) +
		fmt.Sprintf("vkey %s\norigin %s\nfeed tiles %s/logs/%s\n", vkey, active.Origin(), srv.URL, active.TreeID())
	w, _ := newWitness(t, list)
	discard := slog.New(slog.DiscardHandler)
	f, err := feeder.New(feeder.Config{Witness: w, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range f.Logs() {
		if err := f.Feed(ctx, l); err != nil {
			t.Fatalf("%s: %v", l.Origin, err)
		}
	}
	for origin, want := range map[string]uint64{frozen.Origin(): 10, active.Origin(): 5} {
		if size, err := w.Size(ctx, origin); err != nil || size != want {
			t.Errorf("%s: size %d, %v; want %d", origin, size, err, want)
		}
	}
	// The frozen shard rewrites its history and grows.
	if err := frozen.Fork(4, entries("lie", 20)...); err != nil {
		t.Fatal(err)
	}
	err = f.Feed(ctx, f.Logs()[0])
	var we *witness.Error
	if !errors.As(err, &we) || we.Status != 422 {
		t.Fatalf("frozen shard's fork: %v, want 422", err)
	}
	if size, _ := w.Size(ctx, frozen.Origin()); size != 10 {
		t.Fatalf("after the fork: size %d, want 10", size)
	}
}

// newWitness is a witness of the logs of a log list, with a new key and its
// state in a new SQLite database, and its cosignature verifier.
func newWitness(t *testing.T, list string) (*witness.Witness, *checkpoint.CosignatureVerifier) {
	t.Helper()
	logs, err := loglist.Parse([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	cs, err := checkpoint.NewCosignatureSigner("w.example", priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Signer: cs, Logs: logs, State: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return w, cs.Verifier()
}
