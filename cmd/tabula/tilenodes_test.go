package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/pgtest"
)

// TestMigrateTileNodes: `tabula migrate --tile-nodes` gives the full tiles
// of a database written without upper nodes (as before schema 9) their
// nodes, once; without the flag it touches no tile.
func TestMigrateTileNodes(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			db := []string{"--data-dir", dir}
			driver, dsn := "sqlite", "file:"+filepath.Join(dir, "tabula.db")+"?_pragma=busy_timeout(10000)"
			if engine == "postgres" {
				url := pgtest.NewDatabase(t)
				db = append(db, "--database-url", url)
				driver, dsn = "pgx", url
			}
			cmd := func(args ...string) string {
				t.Helper()
				var stdout, stderr bytes.Buffer
				if code := run(context.Background(), append(args, db...), &stdout, &stderr); code != 0 {
					t.Fatalf("%v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
				}
				return stdout.String()
			}
			cmd("bench", "load", "--entries", "600", "--keys", "2", "--check-every", "100") // level-0 tiles 0 and 1 full
			raw, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			withNodes := func() (n int) {
				t.Helper()
				if err := raw.QueryRow(`SELECT count(*) FROM tiles WHERE nodes IS NOT NULL`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := withNodes(); n != 2 {
				t.Fatalf("%d tiles with nodes after the load, want 2", n)
			}
			if _, err := raw.Exec(`UPDATE tiles SET nodes = NULL`); err != nil {
				t.Fatal(err)
			}
			if out := cmd("migrate"); strings.Contains(out, "upper nodes") || withNodes() != 0 {
				t.Fatalf("migrate without --tile-nodes: %q, %d tiles with nodes", out, withNodes())
			}
			if out := cmd("migrate", "--tile-nodes"); !strings.Contains(out, "2 full tiles given their upper nodes") || withNodes() != 2 {
				t.Fatalf("migrate --tile-nodes: %q, %d tiles with nodes", out, withNodes())
			}
			if out := cmd("migrate", "--tile-nodes"); !strings.Contains(out, "0 full tiles given their upper nodes") {
				t.Fatalf("migrate --tile-nodes again: %q", out)
			}
		})
	}
}
