// Package monitor follows and audits a transparency log through its C2SP
// tlog-tiles door (https://c2sp.org/tlog-tiles): the signed checkpoint, the
// Merkle hash tiles and the entry bundles. It trusts nothing the log serves
// until it is proved against a checkpoint signed by the pinned log key.
//
// A [Monitor] follows a log from its last verified checkpoint (kept in a
// [State]): it proves every new checkpoint consistent with the last one,
// reads the new entries from the entry bundles, recomputes the tree from
// them, and raises an [Alert] when the log forked, rolled back or served
// entries that do not make the signed tree, and when a new entry matches a
// [Watch] list (certificate identity, OIDC issuer, key fingerprint, digest).
//
// An [Auditor] re-reads every entry from index 0, recomputes the whole tree
// and every hash tile, and checks them against the checkpoint; it saves its
// position so an interrupted audit resumes where it stopped.
//
// Both read through the small [Log] interface; *client.Client implements it,
// and so does any in-memory or test log.
package monitor

import (
	"context"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

// Log is what the monitor and the auditor read from a log: the latest signed
// checkpoint, Merkle tiles and entry bundles (C2SP tlog-tiles). Width is the
// number of hashes or entries asked for: 256 for a full tile, 1..255 for the
// right-edge partial one.
type Log interface {
	Checkpoint(ctx context.Context) ([]byte, error)
	Tile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error)
	EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error)
}

// Verifier checks checkpoints against a pinned log key, of a Rekor v1 or a
// Rekor v2 log.
type Verifier struct {
	pub   crypto.PublicKey
	keyID string // hex SHA-256 of the PKIX DER key: the log ID
}

// NewVerifier returns a verifier for checkpoints signed by the key in pubPEM
// (a PEM PUBLIC KEY, as `tabula serve` writes and GET /api/v1/log/publicKey
// answers; for a Rekor v2 log, its Ed25519 or ECDSA key, as
// log-key-v2.pub.pem).
func NewVerifier(pubPEM []byte) (*Verifier, error) {
	pub, err := signer.ParsePublicKeyPEM(pubPEM)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	id, err := checkpoint.KeyIDRekorV1.KeyID("", pub)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	return &Verifier{pub: pub, keyID: hex.EncodeToString(id[:])}, nil
}

// KeyID is the hex SHA-256 of the log key's PKIX DER: Rekor's log ID.
func (v *Verifier) KeyID() string { return v.keyID }

// ErrBadCheckpoint is wrapped by every error of [Verifier.Verify].
var ErrBadCheckpoint = errors.New("checkpoint does not verify")

// Verify checks a signed checkpoint (a C2SP signed note) and returns its
// content. The signature line may carry any key name (Rekor v1 names it
// after the log's hostname, Rekor v2 after the log's origin); it must carry
// the pinned key's hash, in Rekor v1's form or C2SP's (Rekor v2's, which
// covers the key name), and a valid signature. Signatures by other keys
// (witnesses) are ignored.
func (v *Verifier) Verify(b []byte) (checkpoint.Checkpoint, error) {
	cp, err := checkpoint.Open(b, eitherForm{v.pub})
	if err != nil {
		return checkpoint.Checkpoint{}, fmt.Errorf("%w with the pinned log key %.16s…: %v", ErrBadCheckpoint, v.keyID, err)
	}
	return cp, nil
}

// eitherForm knows the pinned key's signatures under any key name, with the
// key hint of Rekor v1's form or of C2SP's.
type eitherForm struct{ pub crypto.PublicKey }

func (e eitherForm) Verifier(name string, hash uint32) (note.Verifier, error) {
	for _, f := range []checkpoint.KeyIDForm{checkpoint.KeyIDRekorV1, checkpoint.KeyIDC2SP} {
		if nv, err := checkpoint.AnyName(f, e.pub).Verifier(name, hash); err == nil {
			return nv, nil
		}
	}
	return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
}

// tiles reads the hash tiles of the tree of the given size through l, asking
// for each tile the width that size implies.
func tiles(l Log, size uint64) merkle.TileReader {
	return merkle.SizedTileReader(size, l.Tile)
}
