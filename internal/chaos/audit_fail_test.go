package chaos

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/signer"
)

// TestAuditCatches shows the audit can fail: it runs a short load, then
// audits copies of the record with one broken promise each.
func TestAuditCatches(t *testing.T) {
	t.Parallel()
	key, pub := keygen(t)
	srv := newServer(t, "audit", "--key", key, "--data-dir", filepath.Join(t.TempDir(), "data"))
	url := srv.start()
	rec := newRecord()
	l := startLoad(t, rec, 2, func(int) string { return url }, func() []string { return []string{url} })
	for deadline := time.Now().Add(30 * time.Second); ackCount(rec) < 10; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d entries acknowledged in 30 s", ackCount(rec))
		}
	}
	l.stop()
	if _, fails := audit(t, []string{url}, pub, rec); len(fails) > 0 {
		t.Fatalf("the untampered record fails the audit: %v", fails)
	}
	acks, cps := rec.snapshot()
	if len(acks) < 3 {
		t.Fatalf("only %d entries acknowledged", len(acks))
	}

	var info models.LogInfo
	resp, err := http.Get(url + "/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	logKey, err := signer.LoadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	other, err := signer.New(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	// sign makes a checkpoint of this log's origin, signed by s.
	sign := func(s signer.Signer, size uint64, root [32]byte) string {
		ns, err := checkpoint.NewSigner(hostname, checkpoint.KeyIDRekorV1, s)
		if err != nil {
			t.Fatal(err)
		}
		b, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: hostname + " - " + info.TreeID, Size: size, Root: root}, ns)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	size := uint64(info.TreeSize)
	bogus := sha256.Sum256([]byte("another tree"))

	for _, tc := range []struct {
		name   string
		tamper func(acks []ack, cps map[string]string) ([]ack, map[string]string)
		want   string // one of these, separated by |
	}{
		{"lost entry", func(a []ack, c map[string]string) ([]ack, map[string]string) {
			a[0].index = size + 3
			return a, c
		}, "LOST"},
		{"entry moved", func(a []ack, c map[string]string) ([]ack, map[string]string) {
			a[0].index, a[1].index = a[1].index, a[0].index
			return a, c
		}, "another body"},
		{"index given twice", func(a []ack, c map[string]string) ([]ack, map[string]string) {
			dup := a[1]
			dup.index = a[0].index
			return append(a, dup), c
		}, "acknowledged twice"},
		{"bad inclusion proof", func(a []ack, c map[string]string) ([]ack, map[string]string) {
			for i := range a {
				if len(a[i].hashes) > 0 {
					a[i].hashes[0] = strings.Repeat("00", 32)
					return a, c
				}
			}
			t.Fatal("no acknowledged entry has a non-empty inclusion proof")
			return a, c
		}, "inclusion proof"},
		{"checkpoint by another key", func(a []ack, c map[string]string) ([]ack, map[string]string) {
			c[sign(other, 1, bogus)] = "forger"
			return a, c
		}, "does not verify"},
		{"forked checkpoint", func(a []ack, c map[string]string) ([]ack, map[string]string) {
			c[sign(logKey, size-1, bogus)] = "fork"
			return a, c
		}, "FORK|not consistent"},
		{"checkpoint past the final tree", func(a []ack, c map[string]string) ([]ack, map[string]string) {
			c[sign(logKey, size+10, bogus)] = "future"
			return a, c
		}, "LOST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := make([]ack, len(acks))
			for i, k := range acks {
				k.hashes = append([]string(nil), k.hashes...)
				a[i] = k
			}
			r := newRecord()
			r.acks, r.checkpoints = tc.tamper(a, maps.Clone(cps))
			_, fails := audit(t, []string{url}, pub, r)
			if len(fails) == 0 {
				t.Fatal("the audit found nothing wrong")
			}
			all := strings.Join(fails, "\n")
			if !slices.ContainsFunc(strings.Split(tc.want, "|"), func(w string) bool { return strings.Contains(all, w) }) {
				t.Fatalf("the audit failed, but not with %q: %v", tc.want, fails)
			}
		})
	}
}
