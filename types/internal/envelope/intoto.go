package envelope

import (
	"encoding/json"
	"sort"

	"github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/common"
	slsa02 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v0.2"
)

// statementHeader is in-toto-golang's in_toto.StatementHeader (which Rekor
// decodes statements into), field for field. It is restated here because
// importing package in_toto drags in its whole layout/run machinery; the
// decoding semantics (encoding/json, same field types) are unchanged.
type statementHeader struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string           `json:"name"`
		Digest common.DigestSet `json:"digest"`
	} `json:"subject"`
}

// statement is in_toto.Statement: any predicate.
type statement struct {
	statementHeader
	Predicate any `json:"predicate"`
}

// provenanceStatement is in_toto.ProvenanceStatement: a SLSA v0.2 predicate.
type provenanceStatement struct {
	statementHeader
	Predicate slsa02.ProvenancePredicate `json:"predicate"`
}

// InTotoKeys are the index keys Rekor takes from a decoded in-toto payload:
// "<alg>:<digest>" for every subject digest, then for every material digest
// when the payload also decodes as a SLSA v0.2 provenance statement (a failure
// there is ignored, as in Rekor). An error means the payload is not an in-toto
// statement at all. Digest algorithms are taken in sorted order within each
// subject (Rekor iterates a Go map: its order is random).
func InTotoKeys(payload []byte) ([]string, error) {
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, err
	}
	var keys []string
	for _, s := range st.Subject {
		keys = appendDigests(keys, s.Digest)
	}
	var prov provenanceStatement
	if err := json.Unmarshal(payload, &prov); err == nil {
		for _, m := range prov.Predicate.Materials {
			keys = appendDigests(keys, m.Digest)
		}
	}
	return keys, nil
}

func appendDigests(keys []string, d common.DigestSet) []string {
	algs := make([]string, 0, len(d))
	for alg := range d {
		algs = append(algs, alg)
	}
	sort.Strings(algs)
	for _, alg := range algs {
		keys = append(keys, alg+":"+d[alg])
	}
	return keys
}
