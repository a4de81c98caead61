package verify

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
)

// Names of the checks, as [CheckError] and [Result] report them.
const (
	CheckBundleFormat     = "bundle format"
	CheckLogKnown         = "log is trusted"
	CheckLogIndex         = "log index"
	CheckInclusionProof   = "inclusion proof"
	CheckCheckpointSig    = "checkpoint signature"
	CheckCheckpointRoot   = "checkpoint matches the proof"
	CheckSET              = "signed entry timestamp"
	CheckSignedTime       = "signed time (SET or RFC 3161 timestamp)"
	CheckCertValidity     = "integrated time within the certificate's validity"
	CheckEntryMatches     = "log entry matches the bundle"
	CheckCertChain        = "certificate chain to the trusted CA"
	CheckIdentity         = "certificate identity policy"
	CheckKey              = "signing key"
	CheckArtifactSig      = "artifact signature"
	CheckConsistencyProof = "consistency proof"
	CheckOnline           = "entry is in the live log"
)

// CheckError is a failed check: its name and why it failed.
type CheckError struct {
	Check string
	Err   error
}

func (e *CheckError) Error() string { return e.Check + ": " + e.Err.Error() }
func (e *CheckError) Unwrap() error { return e.Err }

func fail(check string, err error) error { return &CheckError{Check: check, Err: err} }

func failf(check, format string, args ...any) error {
	return &CheckError{Check: check, Err: fmt.Errorf(format, args...)}
}

// LogKey is a log's public key and its log ID.
type LogKey struct {
	Public crypto.PublicKey
	// ID is the log ID: SHA-256 of the DER public key for Rekor v1 and
	// Tabula, the C2SP signed-note key ID for Rekor v2. Its first four bytes
	// are the checkpoint signature's key hint.
	ID []byte
}

// NewLogKey returns the key of a Rekor v1 style log (Tabula's form): its ID
// is SHA-256 of the DER SubjectPublicKeyInfo.
func NewLogKey(pub crypto.PublicKey) (LogKey, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return LogKey{}, fmt.Errorf("verify: marshalling log key: %w", err)
	}
	id := sha256.Sum256(der)
	return LogKey{Public: pub, ID: id[:]}, nil
}

// ParseLogKeyPEM reads a PEM PUBLIC KEY (as `tabula keygen` writes it and
// /api/v1/log/publicKey serves it) into a LogKey.
func ParseLogKeyPEM(b []byte) (LogKey, error) {
	pub, err := signer.ParsePublicKeyPEM(b)
	if err != nil {
		return LogKey{}, fmt.Errorf("verify: reading log key: %w", err)
	}
	return NewLogKey(pub)
}

// LogID returns the key's log ID in hex, as the v1 API's logID.
func (k LogKey) LogID() string { return hex.EncodeToString(k.ID) }

// keyName is the signature name a log uses for origin: "<host>" for Rekor
// v1's "<host> - <treeID>", the origin itself otherwise.
func keyName(origin string) string {
	if host, _, ok := strings.Cut(origin, " - "); ok {
		return host
	}
	return origin
}

// Checkpoint verifies a signed checkpoint with key and returns its content.
// If origin is not empty the checkpoint's origin must equal it.
func Checkpoint(b []byte, origin string, key LogKey) (checkpoint.Checkpoint, error) {
	if len(key.ID) < 4 {
		return checkpoint.Checkpoint{}, failf(CheckCheckpointSig, "log key has no ID")
	}
	first, _, ok := bytes.Cut(b, []byte("\n"))
	if !ok || len(first) == 0 {
		return checkpoint.Checkpoint{}, failf(CheckCheckpointSig, "checkpoint has no origin line")
	}
	got := string(first)
	if origin != "" && got != origin {
		return checkpoint.Checkpoint{}, failf(CheckCheckpointSig, "checkpoint origin %q, want %q", got, origin)
	}
	name := keyName(got)
	v, err := checkpoint.NewVerifierWithID(name, key.ID, key.Public)
	if err != nil {
		return checkpoint.Checkpoint{}, failf(CheckCheckpointSig, "checkpoint origin %q gives no valid key name", got)
	}
	cp, err := checkpoint.Parse(b, got, v)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return checkpoint.Checkpoint{}, failf(CheckCheckpointSig, "no valid signature by %s (key hint %08x)", name, v.KeyHash())
		}
		return checkpoint.Checkpoint{}, fail(CheckCheckpointSig, err)
	}
	return cp, nil
}

// Inclusion verifies that leafHash is leaf index of the tree of size leaves
// with the given root, by an RFC 6962 audit path (leaf to root).
func Inclusion(leafHash [32]byte, index, size uint64, root [32]byte, path [][]byte) error {
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash[:], path, root[:]); err != nil {
		return fail(CheckInclusionProof, readableProofError(err))
	}
	return nil
}

// Consistency verifies that the tree of older is a prefix of the tree of
// newer, by an RFC 6962 consistency proof.
func Consistency(older, newer checkpoint.Checkpoint, path [][]byte) error {
	if older.Origin != newer.Origin {
		return failf(CheckConsistencyProof, "origins differ: %q and %q", older.Origin, newer.Origin)
	}
	if older.Size > newer.Size {
		return failf(CheckConsistencyProof, "tree shrank from %d to %d", older.Size, newer.Size)
	}
	if older.Size == 0 {
		// The empty tree is a prefix of every tree; its proof is empty.
		if len(path) != 0 {
			return failf(CheckConsistencyProof, "non-empty proof from the empty tree")
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, path, older.Root[:], newer.Root[:]); err != nil {
		return fail(CheckConsistencyProof, readableProofError(err))
	}
	return nil
}

// SET verifies a signed entry timestamp: the log's signature over the
// canonical JSON of the body, integrated time, log ID and (global) log index.
func SET(set, body []byte, integratedTime int64, logIndex int64, key LogKey) error {
	if logIndex < 0 {
		return failf(CheckSET, "negative log index %d", logIndex)
	}
	if len(key.ID) != 32 {
		return failf(CheckSET, "log ID is %d bytes, want 32", len(key.ID))
	}
	var id [32]byte
	copy(id[:], key.ID)
	if err := signer.Verify(key.Public, rekorv1.SETPayload(body, integratedTime, id, uint64(logIndex)), set); err != nil {
		return fail(CheckSET, err)
	}
	return nil
}

// LeafHash is the RFC 6962 leaf hash of an entry body.
func LeafHash(body []byte) [32]byte {
	var h [32]byte
	copy(h[:], rfc6962.DefaultHasher.HashLeaf(body))
	return h
}

// Entry verifies an entry as the v1 API returns it (GET
// /api/v1/log/entries/…): its log ID, inclusion proof, checkpoint and SET,
// offline, with the pinned log key. uuid may be empty; if set, its leaf hash
// part must be the body's. It returns the verified checkpoint.
func Entry(uuid string, e models.LogEntryAnon, key LogKey) (checkpoint.Checkpoint, error) {
	if e.LogID != key.LogID() {
		return checkpoint.Checkpoint{}, failf(CheckLogKnown, "entry's log ID %s is not the pinned key's %s", e.LogID, key.LogID())
	}
	if e.LogIndex < 0 {
		return checkpoint.Checkpoint{}, failf(CheckLogIndex, "negative log index %d", e.LogIndex)
	}
	leaf := LeafHash(e.Body)
	if uuid != "" && !strings.EqualFold(uuid[max(0, len(uuid)-64):], hex.EncodeToString(leaf[:])) {
		return checkpoint.Checkpoint{}, failf(CheckEntryMatches, "UUID %s is not the body's leaf hash %x", uuid, leaf)
	}
	v := e.Verification
	if v == nil || v.InclusionProof == nil {
		return checkpoint.Checkpoint{}, failf(CheckInclusionProof, "entry has no inclusion proof")
	}
	p := v.InclusionProof
	root, path, err := decodeProof(p.RootHash, p.Hashes)
	if err != nil {
		return checkpoint.Checkpoint{}, fail(CheckInclusionProof, err)
	}
	if p.LogIndex < 0 || p.TreeSize < 0 {
		return checkpoint.Checkpoint{}, failf(CheckInclusionProof, "negative index or size")
	}
	if err := Inclusion(leaf, uint64(p.LogIndex), uint64(p.TreeSize), root, path); err != nil {
		return checkpoint.Checkpoint{}, err
	}
	cp, err := Checkpoint([]byte(p.Checkpoint), "", key)
	if err != nil {
		return checkpoint.Checkpoint{}, err
	}
	if cp.Size != uint64(p.TreeSize) || cp.Root != root {
		return checkpoint.Checkpoint{}, failf(CheckCheckpointRoot, "checkpoint is for size %d root %x, proof for size %d root %x", cp.Size, cp.Root, p.TreeSize, root)
	}
	if len(v.SignedEntryTimestamp) == 0 {
		return checkpoint.Checkpoint{}, failf(CheckSET, "entry has no signed entry timestamp")
	}
	if err := SET(v.SignedEntryTimestamp, e.Body, e.IntegratedTime, e.LogIndex, key); err != nil {
		return checkpoint.Checkpoint{}, err
	}
	return cp, nil
}

// decodeProof decodes a hex root and audit path.
func decodeProof(rootHex string, hashes []string) ([32]byte, [][]byte, error) {
	var root [32]byte
	r, err := hex.DecodeString(rootHex)
	if err != nil || len(r) != 32 {
		return root, nil, fmt.Errorf("root hash %q is not 32 bytes of hex", rootHex)
	}
	copy(root[:], r)
	path := make([][]byte, len(hashes))
	for i, h := range hashes {
		if path[i], err = hex.DecodeString(h); err != nil || len(path[i]) != 32 {
			return root, nil, fmt.Errorf("proof hash %d %q is not 32 bytes of hex", i, h)
		}
	}
	return root, path, nil
}

// readableProofError shows a root mismatch in hex (the library prints byte
// slices as decimal lists).
func readableProofError(err error) error {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Errorf("the proof gives root %x, want %x", rm.CalculatedRoot, rm.ExpectedRoot)
	}
	return err
}
