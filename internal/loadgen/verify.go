package loadgen

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	fmtlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/signer"
)

// entry is the part of a Rekor v1 LogEntry a good answer must carry.
type entry struct {
	Body           []byte
	IntegratedTime int64
	LogID          string
	LogIndex       int64
	Checkpoint     string
	Hashes         []string
	RootHash       string
	TreeSize       int64
	ProofIndex     int64
	SET            []byte
}

// parseEntry reads a {uuid: LogEntryAnon} answer with exactly one entry and
// checks that everything a client needs is there.
func parseEntry(b []byte) (*entry, error) {
	var m map[string]struct {
		Body           *string `json:"body"`
		IntegratedTime *int64  `json:"integratedTime"`
		LogID          string  `json:"logID"`
		LogIndex       *int64  `json:"logIndex"`
		Verification   *struct {
			InclusionProof *struct {
				Checkpoint string   `json:"checkpoint"`
				Hashes     []string `json:"hashes"`
				LogIndex   *int64   `json:"logIndex"`
				RootHash   string   `json:"rootHash"`
				TreeSize   *int64   `json:"treeSize"`
			} `json:"inclusionProof"`
			SignedEntryTimestamp string `json:"signedEntryTimestamp"`
		} `json:"verification"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("%d entries in the answer, want 1", len(m))
	}
	for _, a := range m {
		switch {
		case a.Body == nil, a.IntegratedTime == nil, a.LogIndex == nil, a.LogID == "":
			return nil, errors.New("missing body, integratedTime, logIndex or logID")
		case a.Verification == nil || a.Verification.InclusionProof == nil:
			return nil, errors.New("no inclusion proof")
		case a.Verification.SignedEntryTimestamp == "":
			return nil, errors.New("no signed entry timestamp")
		}
		p := a.Verification.InclusionProof
		if p.Checkpoint == "" || p.RootHash == "" || p.TreeSize == nil || p.LogIndex == nil || p.Hashes == nil {
			return nil, errors.New("incomplete inclusion proof")
		}
		body, err := base64.StdEncoding.DecodeString(*a.Body)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		set, err := base64.StdEncoding.DecodeString(a.Verification.SignedEntryTimestamp)
		if err != nil {
			return nil, fmt.Errorf("signedEntryTimestamp: %w", err)
		}
		return &entry{
			Body: body, IntegratedTime: *a.IntegratedTime, LogID: a.LogID, LogIndex: *a.LogIndex,
			Checkpoint: p.Checkpoint, Hashes: p.Hashes, RootHash: p.RootHash, TreeSize: *p.TreeSize,
			ProofIndex: *p.LogIndex, SET: set,
		}, nil
	}
	panic("unreachable")
}

// verify checks e as a Sigstore client would: the SET over the entry, the
// inclusion proof of its leaf against the proof's root, and the checkpoint's
// signature, size and root. pub is the log's key.
func (e *entry) verify(pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	logID := sha256.Sum256(der)
	if e.LogID != hex.EncodeToString(logID[:]) {
		return errors.New("logID is not the log key's")
	}
	if e.LogIndex < 0 || e.ProofIndex != e.LogIndex {
		return errors.New("inclusion proof is for another index")
	}
	payload := log.SETPayload(e.Body, e.IntegratedTime, logID, uint64(e.LogIndex))
	if err := signer.Verify(pub, payload, e.SET); err != nil {
		return fmt.Errorf("SET: %w", err)
	}

	root, err := hex.DecodeString(e.RootHash)
	if err != nil {
		return fmt.Errorf("rootHash: %w", err)
	}
	hashes := make([][]byte, len(e.Hashes))
	for i, h := range e.Hashes {
		if hashes[i], err = hex.DecodeString(h); err != nil {
			return fmt.Errorf("proof hash: %w", err)
		}
	}
	if e.TreeSize <= e.LogIndex {
		return errors.New("tree size does not cover the entry")
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(e.Body)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(e.LogIndex), uint64(e.TreeSize), leaf, hashes, root); err != nil {
		return fmt.Errorf("inclusion proof: %w", err)
	}

	cp, err := openCheckpoint([]byte(e.Checkpoint), pub, logID)
	if err != nil {
		return err
	}
	if cp.Size != uint64(e.TreeSize) || !bytes.Equal(cp.Hash, root) {
		return errors.New("checkpoint does not match the inclusion proof")
	}
	return nil
}

// openCheckpoint verifies a signed-note checkpoint by the log key under any
// key name (a Rekor server names it after its host), keyed as Rekor v1 keys
// it: the first four bytes of the log ID.
func openCheckpoint(b []byte, pub crypto.PublicKey, logID [32]byte) (*fmtlog.Checkpoint, error) {
	n, err := note.Open(b, anyName{hash: signer.KeyHash(logID), pub: pub})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var cp fmtlog.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &cp, nil
}

type anyName struct {
	hash uint32
	pub  crypto.PublicKey
}

func (a anyName) Verifier(name string, hash uint32) (note.Verifier, error) {
	if hash != a.hash {
		return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
	}
	return signer.NoteVerifier(name, a.pub)
}
