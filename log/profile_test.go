package log_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/sqlite"
)

func openSQLite(t *testing.T, path string) storage.Storage {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestProfileWithoutSET: a profile without SignEntry integrates entries with
// no SET, and its checkpoints carry its own origin and key name.
func TestProfileWithoutSET(t *testing.T) {
	ctx := context.Background()
	p := rekorv1.Profile("nose.example")
	p.Name = "no-set"
	p.SignEntry = nil
	p.Origin = func(int64) string { return "nose.example/log" }
	store := openSQLite(t, filepath.Join(t.TempDir(), "tabula.db"))
	sgn := newSigner(t)
	l := openLog(t, store, sgn, func(c *tlog.Config) { c.Profile = p })
	res, err := l.Add(ctx, leaf(1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Entry.SET != nil {
		t.Fatalf("entry has a SET: %x", res.Entry.SET)
	}
	if l.Origin() != "nose.example/log" {
		t.Fatalf("origin %q", l.Origin())
	}
	if _, err := tlog.ParseCheckpoint(res.Head.Checkpoint, "nose.example/log", "nose.example", sgn.Public()); err != nil {
		t.Fatal(err)
	}
	e, err := l.Entry(ctx, res.Entry.Index)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.SET) != 0 {
		t.Fatalf("stored entry has a SET: %x", e.SET)
	}
}

// TestProfileRequired: Open refuses a profile without what it needs.
func TestProfileRequired(t *testing.T) {
	full := rekorv1.Profile("x.example")
	tests := []struct {
		name string
		mod  func(*tlog.Profile)
	}{
		{"zero", func(p *tlog.Profile) { *p = tlog.Profile{} }},
		{"no origin", func(p *tlog.Profile) { p.Origin = nil }},
		{"no key name", func(p *tlog.Profile) { p.KeyName = "" }},
		{"no note signer", func(p *tlog.Profile) { p.NoteSigner = nil }},
		{"no note verifier", func(p *tlog.Profile) { p.NoteVerifier = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := full
			tt.mod(&p)
			_, err := tlog.Open(context.Background(), tlog.Config{
				Storage: openSQLite(t, filepath.Join(t.TempDir(), "tabula.db")),
				Signer:  newSigner(t),
				Profile: p,
			})
			if err == nil || !strings.Contains(err.Error(), "profile") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
