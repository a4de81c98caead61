package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/storage/postgres"
)

// TestOpenReplicaChecksSchema: OpenReplica runs no migration and refuses a
// database whose schema is not this build's (here: none at all), saying
// so; once the database is migrated it opens it. (That a hot standby
// refuses writes is PostgreSQL's; cmd/tabula's TestReadReplica runs it on
// one.)
func TestOpenReplicaChecksSchema(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if s, err := postgres.OpenReplica(ctx, url); err == nil {
		s.Close()
		t.Fatal("OpenReplica opened a database with no schema")
	} else if !strings.Contains(err.Error(), "schema version") {
		t.Fatalf("OpenReplica on a database with no schema: %v, want it to name the schema version", err)
	}
	p, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r, err := postgres.OpenReplica(context.Background(), url)
	if err != nil {
		t.Fatalf("OpenReplica on a migrated database: %v", err)
	}
	defer r.Close()
	if _, err := r.Logs(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaVersion(t *testing.T) {
	v, err := postgres.SchemaVersion()
	if err != nil || v < 5 {
		t.Fatalf("SchemaVersion() = %d, %v; want the newest embedded migration (5 or later)", v, err)
	}
}
