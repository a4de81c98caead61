package verify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/witness/policy"
)

// CheckWitnessed is the check that a checkpoint covering the entry is
// cosigned by a quorum of the witness policy's witnesses.
const CheckWitnessed = "witness cosignatures (quorum of the policy)"

// ErrNoQuorum is wrapped by the error of a checkpoint whose verified
// cosignatures do not meet the policy's quorum.
var ErrNoQuorum = policy.ErrNoQuorum

// LoggedEntry is an entry of a log as a bundle or the v1 API gives it: what
// is needed to tie it to a witnessed checkpoint of its log.
type LoggedEntry struct {
	Key LogKey
	// Index is the entry's index in its own log's tree (the inclusion
	// proof's, not the virtual index of a log set).
	Index uint64
	Leaf  [32]byte
	// Checkpoint is the signed checkpoint the inclusion proof was verified
	// against (nil if the entry came without one) and Verified its content.
	Checkpoint []byte
	Verified   checkpoint.Checkpoint
}

// Cosigned is a checkpoint checked against a witness policy.
type Cosigned struct {
	Checkpoint checkpoint.Checkpoint
	// Cosignatures are the policy's witnesses whose cosignature verified.
	Cosignatures []policy.Cosignature
	// Witnesses is how many witnesses the policy has.
	Witnesses int
}

// LogNoteVerifier is the signed-note verifier of key for checkpoints of
// origin: key name <host> for Rekor v1's "<host> - <treeID>" origins, the
// origin itself for C2SP (Rekor v2) ones, and the key hint of key.ID (the
// Rekor v1 log ID, or the C2SP key ID of a trusted root's v2 log).
func LogNoteVerifier(origin string, key LogKey) (note.Verifier, error) {
	if len(key.ID) < 4 {
		return nil, errors.New("verify: log key has no ID")
	}
	return checkpoint.NewVerifierWithID(keyName(origin), key.ID, key.Public)
}

// CheckCosigned verifies b, a signed checkpoint, with the log's key and
// counts the cosignatures of p's witnesses on it. If p lists logs, one of
// them must have signed it too (a policy without log lines is for the log
// whose key the caller trusts). The error is a *CheckError of
// [CheckCheckpointSig] when the log's signature does not verify, and of
// [CheckWitnessed] wrapping [ErrNoQuorum], naming how many witnesses
// cosigned, when the quorum is not met; the Cosigned result is then filled
// in as far as it was checked.
func CheckCosigned(p *policy.Policy, b []byte, key LogKey) (Cosigned, error) {
	var c Cosigned
	c.Witnesses = len(p.Witnesses)
	cp, err := Checkpoint(b, "", key)
	if err != nil {
		return c, err
	}
	c.Checkpoint = cp
	v, err := LogNoteVerifier(cp.Origin, key)
	if err != nil {
		return c, fail(CheckCheckpointSig, err)
	}
	n, err := note.Open(b, note.VerifierList(v))
	if err != nil {
		return c, fail(CheckCheckpointSig, err)
	}
	if len(p.Logs) > 0 {
		vs := make([]note.Verifier, len(p.Logs))
		for i, l := range p.Logs {
			vs[i] = l.Verifier
		}
		if _, err := note.Open(b, note.VerifierList(vs...)); err != nil {
			return c, failf(CheckWitnessed, "the checkpoint of %q is signed by none of the witness policy's %d logs", cp.Origin, len(p.Logs))
		}
	}
	c.Cosignatures = WitnessCosignatures(p, n)
	cosigned := make(map[int]bool, len(c.Cosignatures))
	for _, s := range c.Cosignatures {
		cosigned[s.Witness] = true
	}
	if !p.Quorum(cosigned) {
		return c, fail(CheckWitnessed, fmt.Errorf("%w: the checkpoint of %q at size %d is cosigned by %d of the policy's %d witnesses",
			ErrNoQuorum, cp.Origin, cp.Size, len(cosigned), len(p.Witnesses)))
	}
	return c, nil
}

// WitnessCosignatures returns the cosignatures of p's witnesses on n that
// verify, each witness at most once. Signature lines of unknown keys, and
// cosignatures that do not verify, are ignored.
func WitnessCosignatures(p *policy.Policy, n *note.Note) []policy.Cosignature {
	var out []policy.Cosignature
	seen := map[int]bool{}
	sigs := append(append([]note.Signature(nil), n.Sigs...), n.UnverifiedSigs...)
	for _, s := range sigs {
		for i, w := range p.Witnesses {
			v := w.Verifier
			if seen[i] || s.Name != v.Name() || s.Hash != v.KeyHash() {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(s.Base64)
			if err != nil || len(raw) < 4 {
				continue
			}
			if t, ok := v.VerifyTime([]byte(n.Text), raw[4:]); ok {
				seen[i] = true
				out = append(out, policy.Cosignature{Witness: i, Time: t})
			}
		}
	}
	return out
}

// WitnessSource reads what [Witnessed] needs from the log when the
// entry's own checkpoint is not cosigned: the log's newest cosigned
// checkpoint, and its hash tiles.
type WitnessSource interface {
	// CosignedCheckpoint returns the log's newest cosigned checkpoint
	// (Tabula: GET /logs/{treeID}/checkpoint) of the log of origin.
	CosignedCheckpoint(ctx context.Context, origin string) ([]byte, error)
	// Tiles reads the hash tiles of the tree of size leaves of that log.
	Tiles(origin string, size uint64) merkle.TileReader
}

// Witnessed requires a checkpoint cosigned by a quorum of p's witnesses
// that covers e: e's own checkpoint if it meets the quorum (offline), else
// the log's newest cosigned checkpoint from src (nil: offline only), which
// must meet the quorum, be of e's log and contain e: proved by a
// consistency proof from e's checkpoint when it is at least as large, or
// else by an inclusion proof of e, both computed from the log's tiles and
// checked against the signed roots. The error is a *CheckError of
// [CheckWitnessed] (or of the proof that failed).
func Witnessed(ctx context.Context, p *policy.Policy, e LoggedEntry, src WitnessSource) (Cosigned, error) {
	var own error
	if e.Checkpoint != nil {
		c, err := CheckCosigned(p, e.Checkpoint, e.Key)
		if err == nil {
			return c, nil
		}
		own = err
	} else {
		own = failf(CheckWitnessed, "the entry comes without a checkpoint")
	}
	if src == nil {
		return Cosigned{}, fmt.Errorf("%w (offline: no cosigned checkpoint fetched)", own)
	}
	origin := e.Verified.Origin
	b, err := src.CosignedCheckpoint(ctx, origin)
	if err != nil {
		return Cosigned{}, failf(CheckWitnessed, "the entry's own checkpoint is not witnessed (%v), and fetching the log's cosigned checkpoint failed: %v", own, err)
	}
	c, err := CheckCosigned(p, b, e.Key)
	if err != nil {
		return c, failf(CheckWitnessed, "neither the entry's own checkpoint nor the log's cosigned one meets the witness policy: %v", err)
	}
	cp := c.Checkpoint
	if origin != "" && cp.Origin != origin {
		return c, failf(CheckWitnessed, "the log's cosigned checkpoint is of %q, the entry's of %q", cp.Origin, origin)
	}
	if e.Checkpoint != nil && cp.Size >= e.Verified.Size {
		pr, err := merkle.ConsistencyProof(ctx, src.Tiles(cp.Origin, cp.Size), e.Verified.Size, cp.Size)
		if err != nil {
			return c, failf(CheckWitnessed, "computing the consistency proof from size %d to the cosigned size %d: %v", e.Verified.Size, cp.Size, err)
		}
		if err := Consistency(e.Verified, cp, hashes(pr)); err != nil {
			return c, failf(CheckWitnessed, "the entry's checkpoint (size %d) is not consistent with the cosigned one (size %d): %v", e.Verified.Size, cp.Size, err)
		}
		return c, nil
	}
	if cp.Size <= e.Index {
		return c, failf(CheckWitnessed, "the log's newest cosigned checkpoint (size %d) is older than the entry (index %d)", cp.Size, e.Index)
	}
	pr, err := merkle.InclusionProof(ctx, src.Tiles(cp.Origin, cp.Size), e.Index, cp.Size)
	if err != nil {
		return c, failf(CheckWitnessed, "computing the inclusion proof of entry %d in the cosigned size %d: %v", e.Index, cp.Size, err)
	}
	if err := Inclusion(e.Leaf, e.Index, cp.Size, cp.Root, hashes(pr)); err != nil {
		return c, failf(CheckWitnessed, "the entry is not in the cosigned checkpoint of size %d: %v", cp.Size, err)
	}
	return c, nil
}

func hashes(p []merkle.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

// cosignedAt is the newest cosignature time of c, for messages.
func (c Cosigned) cosignedAt() time.Time {
	var t time.Time
	for _, s := range c.Cosignatures {
		if s.Time.After(t) {
			t = s.Time
		}
	}
	return t
}

// Summary describes c for a verifier's output.
func (c Cosigned) Summary(p *policy.Policy) string {
	names := ""
	for i, s := range c.Cosignatures {
		if i > 0 {
			names += ", "
		}
		names += p.Witnesses[s.Witness].Name
	}
	return fmt.Sprintf("checkpoint of %s at size %d cosigned by %d of %d witnesses (%s), newest cosignature %s",
		c.Checkpoint.Origin, c.Checkpoint.Size, len(c.Cosignatures), c.Witnesses, names, c.cosignedAt().UTC().Format(time.RFC3339))
}

// logSignatureOnly returns the signed note b with only the signature lines
// of the log's key (by key name and hint), dropping cosignatures.
func logSignatureOnly(b []byte, origin string, key LogKey) ([]byte, error) {
	v, err := LogNoteVerifier(origin, key)
	if err != nil {
		return nil, err
	}
	return checkpoint.SignaturesOf(b, v.Name(), v.KeyHash())
}
