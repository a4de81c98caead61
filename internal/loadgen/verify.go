package loadgen

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/verify"
)

// entry is a Rekor v1 LogEntry answer that carries everything a client
// needs, and its UUID.
type entry struct {
	UUID string
	models.LogEntryAnon
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
	for uuid, a := range m {
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
		return &entry{UUID: uuid, LogEntryAnon: models.LogEntryAnon{
			Body: body, IntegratedTime: *a.IntegratedTime, LogID: a.LogID, LogIndex: *a.LogIndex,
			Verification: &models.Verification{
				InclusionProof: &models.InclusionProof{
					Checkpoint: p.Checkpoint, Hashes: p.Hashes, LogIndex: *p.LogIndex,
					RootHash: p.RootHash, TreeSize: *p.TreeSize,
				},
				SignedEntryTimestamp: set,
			},
		}}, nil
	}
	panic("unreachable")
}

// verify checks e as a Sigstore client would (SET, inclusion proof,
// checkpoint signature, size and root: [verify.Entry]), and that the proof
// is for the entry's own index, as Tabula has a single shard.
func (e *entry) verify(key verify.LogKey) error {
	if e.Verification.InclusionProof.LogIndex != e.LogIndex {
		return errors.New("inclusion proof is for another index")
	}
	_, err := verify.Entry(e.UUID, e.LogEntryAnon, key)
	return err
}
