package loadgen

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/verify"
)

// entry is a Rekor v1 LogEntry answer that carries everything a client
// needs, and its UUID.
type entry struct {
	UUID string
	models.LogEntryAnon
}

// entryParts are what every LogEntry answer with a proof and a SET holds.
var entryParts = [][]byte{
	[]byte(`"body":"`), []byte(`"integratedTime":`), []byte(`"logID":"`), []byte(`"logIndex":`),
	[]byte(`"inclusionProof":{`), []byte(`"checkpoint":"`), []byte(`"hashes":[`), []byte(`"rootHash":"`),
	[]byte(`"treeSize":`), []byte(`"signedEntryTimestamp":"`),
}

// looksLikeEntry is the check of an answer that is not sampled for
// parseEntry and verification: one JSON object holding the keys of a
// LogEntry with an inclusion proof and a SET. It costs a fraction of a
// parse, so the load tool spends its CPU on requests, not on reading them.
func looksLikeEntry(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	for _, p := range entryParts {
		if !bytes.Contains(b, p) {
			return false
		}
	}
	return true
}

// parseEntry reads a {uuid: LogEntryAnon} answer with exactly one entry and
// checks that everything a client needs is there (see scan.go for how it
// reads JSON).
func parseEntry(b []byte) (*entry, error) {
	r := &jsonReader{b: b}
	var a answerParts
	var outer objectIter
	n := 0
	var uuid string
	for {
		key, ok, err := r.key(&outer)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if n++; n > 1 {
			if string(key) == uuid {
				return nil, fmt.Errorf("repeated key %q", key)
			}
			return nil, fmt.Errorf("%d entries in the answer, want 1", n)
		}
		uuid = string(key)
		if err := a.readAnon(r); err != nil {
			return nil, err
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, fmt.Errorf("%d entries in the answer, want 1", n)
	}
	switch {
	case !a.hasBody, !a.hasTime, !a.hasIdx, a.logID == "":
		return nil, errors.New("missing body, integratedTime, logIndex or logID")
	case !a.hasVer || !a.hasProof:
		return nil, errors.New("no inclusion proof")
	case a.set == "":
		return nil, errors.New("no signed entry timestamp")
	}
	p := &a.proof
	if p.Checkpoint == "" || p.RootHash == "" || !a.hasSize || !a.hasPIdx || p.Hashes == nil {
		return nil, errors.New("incomplete inclusion proof")
	}
	body, err := base64.StdEncoding.DecodeString(a.body)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	set, err := base64.StdEncoding.DecodeString(a.set)
	if err != nil {
		return nil, fmt.Errorf("signedEntryTimestamp: %w", err)
	}
	return &entry{UUID: uuid, LogEntryAnon: models.LogEntryAnon{
		Body: body, IntegratedTime: a.integratedTime, LogID: a.logID, LogIndex: a.logIndex,
		Verification: &models.Verification{InclusionProof: p, SignedEntryTimestamp: set},
	}}, nil
}

// answerParts are the fields of a LogEntryAnon the checks need; a null
// counts as absent.
type answerParts struct {
	body, logID, set         string
	integratedTime, logIndex int64
	proof                    models.InclusionProof

	hasBody, hasTime, hasIdx, hasVer, hasProof, hasPIdx, hasSize bool
}

func (a *answerParts) readAnon(r *jsonReader) error {
	if isNull, err := r.null(); isNull || err != nil {
		return err
	}
	var it objectIter
	for {
		key, ok, err := r.key(&it)
		if err != nil || !ok {
			return err
		}
		if ok, err := it.want(key, "body"); ok || err != nil {
			if err == nil {
				a.body, a.hasBody, err = r.optString()
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "integratedTime"); ok || err != nil {
			if err == nil {
				a.integratedTime, a.hasTime, err = r.optInt()
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "logID"); ok || err != nil {
			if err == nil {
				a.logID, _, err = r.optString()
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "logIndex"); ok || err != nil {
			if err == nil {
				a.logIndex, a.hasIdx, err = r.optInt()
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "verification"); ok || err != nil {
			if err == nil {
				err = a.readVerification(r)
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := r.skip(); err != nil {
			return err
		}
	}
}

func (a *answerParts) readVerification(r *jsonReader) error {
	isNull, err := r.null()
	if err != nil {
		return err
	}
	a.hasVer = !isNull
	if isNull {
		return nil
	}
	var it objectIter
	for {
		key, ok, err := r.key(&it)
		if err != nil || !ok {
			return err
		}
		if ok, err := it.want(key, "inclusionProof"); ok || err != nil {
			if err == nil {
				err = a.readProof(r)
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "signedEntryTimestamp"); ok || err != nil {
			if err == nil {
				a.set, _, err = r.optString()
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := r.skip(); err != nil {
			return err
		}
	}
}

func (a *answerParts) readProof(r *jsonReader) error {
	isNull, err := r.null()
	if err != nil {
		return err
	}
	a.hasProof = !isNull
	if isNull {
		return nil
	}
	p := &a.proof
	var it objectIter
	for {
		key, ok, err := r.key(&it)
		if err != nil || !ok {
			return err
		}
		if ok, err := it.want(key, "checkpoint"); ok || err != nil {
			if err == nil {
				p.Checkpoint, _, err = r.optString()
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "hashes"); ok || err != nil {
			if err == nil {
				p.Hashes, err = r.optStrings()
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "logIndex"); ok || err != nil {
			if err == nil {
				p.LogIndex, a.hasPIdx, err = r.optInt()
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "rootHash"); ok || err != nil {
			if err == nil {
				p.RootHash, _, err = r.optString()
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "treeSize"); ok || err != nil {
			if err == nil {
				p.TreeSize, a.hasSize, err = r.optInt()
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := r.skip(); err != nil {
			return err
		}
	}
}

// parseProof reads a ConsistencyProof answer and checks it has a 64-byte
// root hash and a list of hashes.
func parseProof(b []byte) error {
	r := &jsonReader{b: b}
	var root string
	var hashes []string
	var it objectIter
	for {
		key, ok, err := r.key(&it)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if ok, err := it.want(key, "hashes"); ok || err != nil {
			if err == nil {
				hashes, err = r.optStrings()
			}
			if err != nil {
				return err
			}
			continue
		}
		if ok, err := it.want(key, "rootHash"); ok || err != nil {
			if err == nil {
				root, _, err = r.optString()
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := r.skip(); err != nil {
			return err
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	if len(root) != 64 || hashes == nil {
		return errors.New("incomplete consistency proof")
	}
	return nil
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

// verifySET checks what a ceiling server's answer (Config.Ceiling) can
// prove: the log ID, the UUID's leaf hash and the SET; its inclusion proof
// is a dummy.
func (e *entry) verifySET(key verify.LogKey) error {
	if e.LogID != key.LogID() {
		return fmt.Errorf("entry's log ID %s is not the key's %s", e.LogID, key.LogID())
	}
	leaf := verify.LeafHash(e.Body)
	if !strings.EqualFold(e.UUID[max(0, len(e.UUID)-64):], hex.EncodeToString(leaf[:])) {
		return fmt.Errorf("UUID %s is not the body's leaf hash %x", e.UUID, leaf)
	}
	return verify.SET(e.Verification.SignedEntryTimestamp, e.Body, e.IntegratedTime, e.LogIndex, key)
}
