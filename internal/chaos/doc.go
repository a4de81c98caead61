// Package chaos holds Tabula's reliability harness: tests that run the real
// `tabula serve` binary as separate processes and try to make it lose an
// acknowledged entry or fork its tree.
//
//   - TestCrashRecovery kills the server with SIGKILL at random moments under
//     concurrent write load, on the embedded SQLite engine and on PostgreSQL,
//     restarting it on the same data each time.
//   - TestDatabaseOutage stops a PostgreSQL cluster of its own (pg_ctl stop
//     -m immediate) under load and checks writes answer 503, /readyz says not
//     ready, and the server recovers by itself when the database is back.
//   - TestReplicas runs several servers on one PostgreSQL database, each
//     taking writes.
//   - TestRotation rotates the log twice with `tabula log rotate` under write
//     load, on SQLite and on two PostgreSQL replicas, and checks every server
//     switches in place, frozen logs never change and only retried 503s are
//     seen.
//   - TestAbuse sends the hostile uploads of the abuse report (issue 10) from
//     one client address while good uploads go on from another, on both
//     engines, and checks the good ones all get 201, each hostile one its own
//     answer, and the tiles, bundles and `tabula audit` are still sound.
//
// Each run ends with the same audit (for each log of the set, after a
// rotation), done only through the public HTTP doors: every acknowledged
// (201) entry is at its acknowledged index with its body; indexes are contiguous; every checkpoint seen verifies with the log's
// key and is consistent with the final tree; and the C2SP tiles and entry
// bundles reproduce the final root.
//
// The package has no non-test code. Short runs are part of `make test`; the
// long runs are `make chaos` (see docs/RELIABILITY.md for the knobs).
package chaos
