package chaos

import (
	"testing"

	"github.com/tabularium/tabula/internal/pgcluster"
)

// newPGCluster starts a PostgreSQL cluster of the test's own (package
// pgcluster), which the test may stop and start at will. The shared test
// server is never touched.
func newPGCluster(t *testing.T) *pgcluster.Cluster { return pgcluster.New(t) }

func freePort(t *testing.T) int { return pgcluster.FreePort(t) }
