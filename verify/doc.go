// Package verify checks what a transparency log hands out, offline.
//
// The log checks need nothing but the log's public key (a [LogKey]) and
// work for Tabula and for Rekor v1 alike:
//
//   - [Checkpoint] verifies a signed checkpoint (a C2SP signed note). Rekor v1
//     and Tabula sign "<host> - <treeID>" origins with the key name <host>
//     and a key hint made of the first four bytes of the log ID; Rekor v2
//     signs "<host>" with the C2SP key ID. Signatures by unknown signers
//     (witness cosignatures) are ignored; the log's own must verify.
//   - [Inclusion] verifies an RFC 6962 inclusion proof against a root.
//   - [Consistency] verifies that one checkpoint's tree is a prefix of
//     another's.
//   - [SET] verifies a signed entry timestamp (Rekor v1's inclusion promise).
//   - [Entry] does all of the above for an entry as the v1 API returns it.
//
// [Bundle] verifies a Sigstore bundle (v0.1, v0.2, v0.3) against a trusted
// root JSON, pinned log keys, or both: first the log checks above, each
// reported by name, then, with sigstore-go, the log entry against the
// bundle's content, the signed time, the certificate chain to the trusted
// root's CA, the identity policy (certificate identity and OIDC issuer, as
// cosign names them) or the signing key, and the artifact's signature.
// Every failure is a [*CheckError] naming the check that failed.
package verify
