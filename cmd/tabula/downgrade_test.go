package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/pressly/goose/v3"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/storage"
)

// TestLogSetMigrationDown undoes migration 3 (and the later ones) on a
// database of one log and checks the release before it could go on: tiles
// kept, the singleton tree_state row back; migrating up again, the log
// grows.
func TestLogSetMigrationDown(t *testing.T) {
	for _, e := range upgradeEngines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			sgn := newTestSigner(t)
			raw, open := e.newDB(t)
			set := open(t)
			grow := func(set storage.LogSet, tag string) {
				lg, err := tlog.Open(ctx, tlog.Config{Storage: storage.Active(set, rekorv1.Name, nil), Signer: sgn, Profile: rekorv1.Profile("x")})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					if _, err := lg.Add(ctx, tlog.Leaf{Body: fmt.Appendf(nil, "%s%d", tag, i)}); err != nil {
						t.Fatal(err)
					}
				}
				lg.Close(ctx)
			}
			grow(set, "a")
			set.Close()
			p, err := goose.NewProvider(e.dialect, raw, e.fsys, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(e.goMigs...))
			if err != nil {
				t.Fatal(err)
			}
			// Down to version 2: migration 3 and those after it undone.
			if _, err := p.DownTo(ctx, 2); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := raw.QueryRow(`SELECT count(*) FROM tiles`).Scan(&n); err != nil || n == 0 {
				t.Fatal(n, err)
			}
			if err := raw.QueryRow(`SELECT id FROM tree_state`).Scan(&n); err != nil || n != 1 {
				t.Fatal(n, err)
			}
			set = open(t)
			grow(set, "b")
		})
	}
}
