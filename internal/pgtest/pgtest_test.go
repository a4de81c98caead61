package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tabularium/tabula/internal/pgtest"
)

func TestNewDatabase(t *testing.T) {
	ctx := context.Background()
	var urls [2]string
	ok := t.Run("create", func(t *testing.T) {
		for i := range urls {
			urls[i] = pgtest.NewDatabase(t)
		}
		if urls[0] == urls[1] {
			t.Fatalf("two databases share the URL %s", urls[0])
		}
		for _, u := range urls {
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Fatalf("connect to new database: %v", err)
			}
			var n int
			err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n)
			conn.Close(ctx)
			if err != nil || n != 0 {
				t.Fatalf("new database: %d tables, err %v; want an empty database", n, err)
			}
		}
	})
	if !ok {
		return
	}
	// The subtest's cleanups have run: the databases must be gone.
	for _, u := range urls {
		conn, err := pgx.Connect(ctx, u)
		if err == nil {
			conn.Close(ctx)
			t.Errorf("database %s still exists after its test ended", u)
		}
	}
}
