package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/pgtest"
	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/migrations"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/sqlite"
)

// upgradeEngine is a database engine as TestUpgradeLogSet drives it: the
// store, and the same database through database/sql.
type upgradeEngine struct {
	name string
	// newDB returns a fresh database: its raw handle (schema untouched),
	// and a function opening it with the store (which migrates it).
	newDB func(t *testing.T) (raw *sql.DB, open func(t *testing.T) storage.LogSet)
	// dialect and migrations are goose's.
	dialect goose.Dialect
	fsys    fs.FS
	goMigs  []*goose.Migration
	// ph is the i-th (1-based) bound parameter.
	ph func(i int) string
}

var upgradeEngines = []upgradeEngine{
	{
		name: "sqlite",
		newDB: func(t *testing.T) (*sql.DB, func(t *testing.T) storage.LogSet) {
			path := filepath.Join(t.TempDir(), "tabula.db")
			raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return raw, func(t *testing.T) storage.LogSet {
				s, err := sqlite.Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		},
		dialect: goose.DialectSQLite3,
		fsys:    mustSub(migrations.SQLite, "sqlite"),
		goMigs:  migrations.SQLiteGo(),
		ph:      func(int) string { return "?" },
	},
	{
		name: "postgres",
		newDB: func(t *testing.T) (*sql.DB, func(t *testing.T) storage.LogSet) {
			url := pgtest.NewDatabase(t)
			raw, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return raw, func(t *testing.T) storage.LogSet {
				s, err := postgres.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		},
		dialect: goose.DialectPostgres,
		fsys:    mustSub(migrations.Postgres, "postgres"),
		ph:      func(i int) string { return fmt.Sprintf("$%d", i) },
	},
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// upgradeEntries is how many entries the one-tree log holds: past one full
// level-0 tile, so proofs take level-1 hashes from the tiles table.
const upgradeEntries = 600

// TestUpgradeLogSet makes a one-tree database as the release before the log
// set stored it (schema version 2, rows written by the log), opens it with
// this code (which migrates it to the log set) as serve does, and proves
// every entry, inclusion proof, search key and the checkpoint still verify,
// that the log takes new entries, and that the public key is recorded and
// then enforced.
func TestUpgradeLogSet(t *testing.T) {
	for _, e := range upgradeEngines {
		t.Run(e.name, func(t *testing.T) { testUpgradeLogSet(t, e) })
	}
}

func testUpgradeLogSet(t *testing.T, e upgradeEngine) {
	ctx := context.Background()
	sgn := newTestSigner(t)
	profile := rekorv1.Profile("upgrade.test")
	key := func(i int) storage.Hash {
		return storage.Hash(rfc6962.DefaultHasher.HashLeaf(fmt.Appendf(nil, "key %d", i)))
	}

	// 1. A real log of upgradeEntries entries, written by the log package.
	scratchRaw, openScratch := e.newDB(t)
	scratch := openScratch(t)
	lg, err := tlog.Open(ctx, tlog.Config{Storage: storage.Active(scratch, rekorv1.Name, nil), Signer: sgn, Profile: profile})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, upgradeEntries)
	sem := make(chan struct{}, 64)
	for i := range upgradeEntries {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := lg.Add(ctx, tlog.Leaf{Body: fmt.Appendf(nil, `{"entry":%d}`, i), SearchKeys: []storage.Hash{key(i)}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	if err := lg.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// 2. The same rows in a database of schema version 2, as the one-tree
	// release stored them (tree_state's singleton row, tiles without tree).
	oldRaw, openOld := e.newDB(t)
	p, err := goose.NewProvider(e.dialect, oldRaw, e.fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(e.goMigs...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	copyRows(t, e, scratchRaw, oldRaw, `SELECT 1, tree_id, size, root, checkpoint FROM tree_state`,
		`INSERT INTO tree_state (id, tree_id, size, root, checkpoint)`, 5)
	copyRows(t, e, scratchRaw, oldRaw, `SELECT idx, leaf_hash, body, integrated_time, set_sig, attestation FROM entries`,
		`INSERT INTO entries (idx, leaf_hash, body, integrated_time, set_sig, attestation)`, 6)
	// Search keys as version 2 stored them, whole (the scratch database
	// holds their first 16 bytes since version 7).
	writeFullKeys(t, e, scratchRaw, oldRaw, key)
	copyRows(t, e, scratchRaw, oldRaw, `SELECT level, idx, hashes FROM tiles`, `INSERT INTO tiles (level, idx, hashes)`, 3)

	// 3. Open it as serve does.
	set := openOld(t)
	logs, err := set.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || logs[0].Profile != rekorv1.Name || logs[0].State != storage.LogActive ||
		logs[0].StartIndex != 0 || logs[0].PublicKey != nil {
		t.Fatalf("logs after the upgrade = %+v, want one active rekor-v1 log from 0, no key yet", logs)
	}
	logs2, err := openLogs(ctx, set, "upgrade.test", []logset.Signer{sgn}, tlog.Config{}, nil)
	if err != nil {
		t.Fatalf("opening the upgraded database: %v", err)
	}
	defer logs2.Close(ctx)
	active, err := logs2.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lg = active.Log
	if lg.TreeID() != logs[0].TreeID {
		t.Fatalf("the log opened tree %d, want the migrated %d", lg.TreeID(), logs[0].TreeID)
	}
	store, err := set.OpenLog(ctx, lg.TreeID())
	if err != nil {
		t.Fatal(err)
	}

	head, err := lg.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := checkpoint.Verify(head.Checkpoint, lg.Origin(), profile.KeyName, profile.KeyIDForm, sgn.Public())
	if err != nil {
		t.Fatalf("the checkpoint does not verify after the upgrade: %v", err)
	}
	if cp.Size != upgradeEntries || cp.Root != head.Root {
		t.Fatalf("checkpoint of size %d, want %d", cp.Size, upgradeEntries)
	}
	entries, err := store.ReadEntries(ctx, 0, upgradeEntries)
	if err != nil || len(entries) != upgradeEntries {
		t.Fatalf("ReadEntries = %d entries, %v", len(entries), err)
	}
	seen := map[string]bool{}
	for i, en := range entries {
		if en.Index != uint64(i) || storage.Hash(rfc6962.DefaultHasher.HashLeaf(en.Body)) != en.LeafHash {
			t.Fatalf("entry %d: index %d, leaf hash %x is not its body's", i, en.Index, en.LeafHash)
		}
		seen[string(en.Body)] = true
		hashes, err := lg.InclusionProof(ctx, uint64(i), cp.Size)
		if err != nil {
			t.Fatalf("InclusionProof(%d): %v", i, err)
		}
		path := make([][]byte, len(hashes))
		for j := range hashes {
			path[j] = hashes[j][:]
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), cp.Size, en.LeafHash[:], path, cp.Root[:]); err != nil {
			t.Fatalf("entry %d: the inclusion proof does not verify: %v", i, err)
		}
	}
	for i := range upgradeEntries {
		if !seen[fmt.Sprintf(`{"entry":%d}`, i)] {
			t.Fatalf("entry body %d missing after the upgrade", i)
		}
		got, err := store.Search(ctx, key(i))
		if err != nil || len(got) != 1 || !bytes.Equal(entries[got[0]].Body, fmt.Appendf(nil, `{"entry":%d}`, i)) {
			t.Fatalf("Search(key %d) = %v, %v", i, got, err)
		}
	}

	// The upgraded log grows.
	res0, err := lg.Add(ctx, tlog.Leaf{Body: []byte(`{"entry":"after"}`)})
	if err != nil || res0.Entry.Index != upgradeEntries {
		t.Fatalf("Add after the upgrade = index %d, %v; want %d", res0.Entry.Index, err, upgradeEntries)
	}

	// The upgraded log rotates: it freezes with every entry, and the next
	// log takes the next virtual index.
	if _, _, err := rekorv1.Rotate(ctx, set, sgn, ""); err != nil {
		t.Fatalf("rotating the upgraded log: %v", err)
	}
	sh, res, err := logs2.Add(ctx, tlog.Leaf{Body: []byte(`{"entry":"rotated"}`)})
	if err != nil || sh.TreeID() == lg.TreeID() || sh.Virtual(res.Entry.Index) != upgradeEntries+1 {
		t.Fatalf("Add after rotating the upgraded log: %v; want the next log at virtual index %d", err, upgradeEntries+1)
	}
	if old, local, err := logs2.ByVirtualIndex(ctx, 17); err != nil || old.TreeID() != lg.TreeID() || local != 17 ||
		old.Info.FinalSize != upgradeEntries+1 || !bytes.Equal(old.Info.FinalCheckpoint, res0.Head.Checkpoint) {
		t.Fatalf("the frozen upgraded log: %+v, %d, %v", old, local, err)
	}

	// The key is recorded, and another key is refused.
	logs, err = set.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(logs[0].PublicKey, sgn.PublicKeyDER()) || logs[0].Origin != lg.Origin() {
		t.Errorf("the log's public key and origin are not recorded: %+v", logs[0])
	}
	if other, err := openLogs(ctx, set, "upgrade.test", []logset.Signer{newTestSigner(t)}, tlog.Config{}, nil); err == nil ||
		!strings.Contains(err.Error(), "none of the configured keys") {
		if other != nil {
			other.Close(ctx)
		}
		t.Errorf("opening the logs with another key = %v, want a refusal", err)
	}
}

// copyRows copies the rows of query in from into table statement insert of
// to, n columns each.
// writeFullKeys writes to the search_keys table of to, as 32-byte keys,
// key(i) for the entry of from whose body is {"entry":i}.
func writeFullKeys(t *testing.T, e upgradeEngine, from, to *sql.DB, key func(int) storage.Hash) {
	t.Helper()
	rows, err := from.Query(`SELECT idx, body FROM entries`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			idx  int64
			body []byte
			i    int
		)
		if err := rows.Scan(&idx, &body); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscanf(string(body), `{"entry":%d}`, &i); err != nil {
			t.Fatalf("entry %d: body %q: %v", idx, body, err)
		}
		k := key(i)
		if _, err := to.Exec(`INSERT INTO search_keys (key, idx) VALUES (`+e.ph(1)+`, `+e.ph(2)+`)`, k[:], idx); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil || n == 0 {
		t.Fatalf("%d search keys written: %v", n, err)
	}
}

func copyRows(t *testing.T, e upgradeEngine, from, to *sql.DB, query, insert string, n int) {
	t.Helper()
	ctx := context.Background()
	rows, err := from.QueryContext(ctx, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	phs := make([]string, n)
	for i := range phs {
		phs[i] = e.ph(i + 1)
	}
	stmt := insert + ` VALUES (` + strings.Join(phs, ", ") + `)`
	tx, err := to.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	count := 0
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, stmt, vals...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		count++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if count == 0 {
		t.Fatalf("%s: no rows to copy", query)
	}
}

var newTestSigner = logsettest.Key
