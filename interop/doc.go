// Package interop tests Tabula against Sigstore's own client and
// verification libraries: rekor's pkg/client, pkg/generated/client,
// pkg/verify and pkg/tle, and sigstore-go's pkg/sign, pkg/verify, pkg/tlog
// and pkg/root.
//
// It is a module of its own (interop/go.mod) so that those libraries and
// their dependencies stay out of the main module. The tests build the
// tabula binary from the parent directory once, run `tabula serve` as a
// subprocess on a free port, once on embedded SQLite and once on a fresh
// PostgreSQL database (TABULA_TEST_DATABASE_URL, as in the main module), and
// talk to it only through the official clients.
package interop
