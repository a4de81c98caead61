// Package interop tests Tabula against Sigstore's own client and
// verification libraries: rekor's pkg/client, pkg/generated/client,
// pkg/types, pkg/verify and pkg/tle, and sigstore-go's pkg/sign,
// pkg/verify, pkg/tlog, pkg/bundle and pkg/root.
//
// It is a module of its own (interop/go.mod) so that those libraries and
// their dependencies stay out of the main module. The tests build the
// tabula binary from the parent directory once, run `tabula serve` as a
// subprocess on a free port, once on embedded SQLite and once on a fresh
// PostgreSQL database (TABULA_TEST_DATABASE_URL, as in the main module;
// TABULA_TEST_SKIP_POSTGRES=1 skips those runs), and talk to it only
// through the official clients. Trusted roots come from the binary's own
// `tabula trusted-root`.
//
// TestRotation rotates a server's log twice with `tabula log rotate` (to a
// log with the same key, then to one with the server's second key) and
// reads and verifies the entries of every shard with rekor's Go client,
// sigstore-go and Sigstore's command-line clients, rekor-cli (of the rekor
// release in go.mod) and cosign v3.1.3. A test that needs one of those
// builds it the first time with `go install <pkg>@<version>` (its own
// go.mod, from the Go module proxy or the module cache) beside the tabula
// binary.
//
// Rekor v2 (rekorv2_test.go): a server gets a v2 log by `tabula log
// create --api v2`; sigstore-go's pkg/sign then selects it, and Tabula's
// TSA, from `tabula signing-config` and signs key-based (with and without an
// RFC 3161 timestamp) and with a certificate of a test CA in the trusted
// root (the stand-in for Fulcio) plus a timestamp, as keyless signing does.
// The bundles must hold hashedrekord 0.0.2 entries checkpointed under the v2
// log's origin and key ID and verify with pkg/verify (WithSignedTimestamps
// where there is a timestamp: a v2 entry has no integrated time); changed
// artifacts, inclusion proofs, checkpoints (another key, another origin)
// and timestamps (of another signature, none) must not.
//
// Witnessing (witness_test.go), both ways, with implementations of
// c2sp.org/tlog-witness from other projects: a Tessera log (v1.0.4, POSIX
// storage, run in the test process) whose witness policy names a `tabula
// witness` process submits its checkpoints with Tessera's own witness
// client, and a Tabula Rekor v2 log served with `serve --witness-policy`
// gets its checkpoints cosigned by litewitness of filippo.io/torchwood
// (v0.6.1; its key in an ssh-agent, its logs added with witnessctl, both
// built like rekor-cli and cosign). Each goes through a witness restart
// that needs the 409 answer of the protocol and a consistency proof, and
// the cosigned checkpoints are checked with Tabula's witness/policy and
// with transparency-dev/formats' cosignature verifier.
//
// The explorer (explorer_test.go), as a new user meets it: cosign v3.1.3
// signs an artifact with its own key and a certificate of the test CA
// naming an email, through `tabula signing-config`, and headless Chromium
// (internal/browser; skipped without a browser, failed under CI=true) finds
// the entry at `/` by the email, by the digest and by the file hashed in
// the page, and the proof panel verifies it.
//
// Entry kinds other than hashedrekord are tested when
// cmd/tabula/entrytypes.go registers them (allEntryTypes, read from the
// source); a registered kind must then pass, it is never skipped on the
// server's answer.
package interop
