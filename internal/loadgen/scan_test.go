package loadgen

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tabularium/tabula/api/models"
)

// parseEntryJSON is parseEntry as it was, on encoding/json: the reference
// the JSON reader must agree with.
func parseEntryJSON(b []byte) (*entry, error) {
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
			return nil, err
		}
		set, err := base64.StdEncoding.DecodeString(a.Verification.SignedEntryTimestamp)
		if err != nil {
			return nil, err
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

func parseProofJSON(b []byte) error {
	var p struct {
		Hashes   []string `json:"hashes"`
		RootHash string   `json:"rootHash"`
	}
	if json.Unmarshal(b, &p) != nil || len(p.RootHash) != 64 || p.Hashes == nil {
		return errors.New("incomplete")
	}
	return nil
}

const goodEntry = `{"24296fb24b8ad77a0d1c1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d":{"body":"eyJhIjoxfQ==","integratedTime":1700000000,"logID":"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d","logIndex":42,"verification":{"inclusionProof":{"checkpoint":"rekor.example - 1\n43\nq80+9x0=\n\n\u2014 rekor.example AbCd+/==\n","hashes":["aa","bb"],"logIndex":42,"rootHash":"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d","treeSize":43},"signedEntryTimestamp":"MEUCIQ=="}}}`

// entryCases are answers good and bad; every one must get the same verdict
// and the same entry from the reader and from encoding/json.
var entryCases = []string{
	goodEntry,
	strings.ReplaceAll(goodEntry, ":", " : "),
	" \n" + strings.ReplaceAll(goodEntry, ",", " ,\t") + " \r\n",
	strings.Replace(goodEntry, `"logIndex":42,"verification"`, `"logIndex":42,"extra":{"a":[1,2.5e-3,true,false,null,"x\"y"]},"verification"`, 1),
	strings.Replace(goodEntry, `"body":"eyJhIjoxfQ=="`, `"body":""`, 1),
	strings.Replace(goodEntry, `"body":"eyJhIjoxfQ=="`, `"body":null`, 1),
	strings.Replace(goodEntry, `"body":"eyJhIjoxfQ=="`, `"body":"!!"`, 1),
	strings.Replace(goodEntry, `"body":"eyJhIjoxfQ=="`, `"body":5`, 1),
	strings.Replace(goodEntry, `"integratedTime":1700000000`, `"integratedTime":null`, 1),
	strings.Replace(goodEntry, `"integratedTime":1700000000`, `"integratedTime":1.5`, 1),
	strings.Replace(goodEntry, `"integratedTime":1700000000`, `"integratedTime":1e3`, 1),
	strings.Replace(goodEntry, `"integratedTime":1700000000`, `"integratedTime":-0`, 1),
	strings.Replace(goodEntry, `"integratedTime":1700000000`, `"integratedTime":01`, 1),
	strings.Replace(goodEntry, `"integratedTime":1700000000`, `"integratedTime":99999999999999999999`, 1),
	strings.Replace(goodEntry, `"integratedTime":1700000000`, `"integratedTime":"1"`, 1),
	strings.Replace(goodEntry, `"logIndex":42,"verification"`, `"logIndex":-42,"verification"`, 1),
	strings.Replace(goodEntry, `"logID":"c0`, `"logID":"\u00e9\ud83d\ude00\ud800x\/c0`, 1),
	strings.Replace(goodEntry, `"logID":"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d",`, `"logID":"",`, 1),
	strings.Replace(goodEntry, `"logID":"c0`, "\"logID\":\"\xff\xfe c0", 1),
	strings.Replace(goodEntry, `"logID":"c0`, "\"logID\":\"\x01c0", 1),
	strings.Replace(goodEntry, `"logID":"c0`, `"logID":"\xc0`, 1),
	strings.Replace(goodEntry, `"hashes":["aa","bb"]`, `"hashes":[]`, 1),
	strings.Replace(goodEntry, `"hashes":["aa","bb"]`, `"hashes":null`, 1),
	strings.Replace(goodEntry, `"hashes":["aa","bb"]`, `"hashes":["aa",null]`, 1),
	strings.Replace(goodEntry, `"hashes":["aa","bb"]`, `"hashes":["aa",1]`, 1),
	strings.Replace(goodEntry, `"hashes":["aa","bb"]`, `"hashes":["aa",]`, 1),
	strings.Replace(goodEntry, `"checkpoint":"rekor`, `"checkpoint":"\ud83d\ude00\udc00\ud800\u0041\b\f\r\t\\\"rekor`, 1),
	strings.Replace(goodEntry, `"checkpoint":"rekor`, `"checkpoint":"\x rekor`, 1),
	strings.Replace(goodEntry, `"checkpoint":"rekor`, `"checkpoint":"\u12 rekor`, 1),
	strings.Replace(goodEntry, `"treeSize":43`, `"treeSize":null`, 1),
	strings.Replace(goodEntry, `"inclusionProof":{`, `"inclusionProof":null,"x":{`, 1),
	strings.Replace(goodEntry, `"signedEntryTimestamp":"MEUCIQ=="`, `"signedEntryTimestamp":""`, 1),
	strings.Replace(goodEntry, `"signedEntryTimestamp":"MEUCIQ=="`, `"signedEntryTimestamp":null`, 1),
	strings.Replace(goodEntry, `"verification":{`, `"verification":null,"v":{`, 1),
	goodEntry[:len(goodEntry)-1],
	goodEntry + "x",
	goodEntry + "{}",
	`{"a":null}`,
	`{}`, `[]`, `null`, ``, `{"a":1}`, `{"a":{},"b":{}}`, `{"a":{"body":"e30=",}}`,
	`{"a":{"verification":{"inclusionProof":{"hashes":[[[[[[]]]]]]}}}}`,
}

func TestParseEntryMatchesJSON(t *testing.T) {
	for i, c := range entryCases {
		got, err := parseEntry([]byte(c))
		want, wantErr := parseEntryJSON([]byte(c))
		if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("case %d %q:\nreader       %+v, %v\nencoding/json %+v, %v", i, c, got, err, want, wantErr)
		}
	}
	if _, err := parseEntry([]byte(goodEntry)); err != nil {
		t.Fatalf("the good answer: %v", err)
	}
}

// TestParseEntryStricter: what no honest server sends and encoding/json
// would take, the reader refuses.
func TestParseEntryStricter(t *testing.T) {
	for _, c := range []string{
		strings.Replace(goodEntry, `"body":`, `"Body":`, 1),
		strings.Replace(goodEntry, `"treeSize":43`, `"treeSize":43,"treeSize":44`, 1),
		strings.Replace(goodEntry, `"verification":{`, `"verification":{"inclusionProof":null},"verification":{`, 1),
		goodEntry[:len(goodEntry)-1] + `,` + goodEntry[1:],
	} {
		if _, err := parseEntryJSON([]byte(c)); err != nil {
			t.Fatalf("encoding/json refuses %q: %v", c, err)
		}
		if _, err := parseEntry([]byte(c)); err == nil {
			t.Errorf("accepted %q", c)
		}
	}
}

func TestParseProofMatchesJSON(t *testing.T) {
	root := `"` + strings.Repeat("ab", 32) + `"`
	for _, c := range []string{
		`{"hashes":["aa","bb"],"rootHash":` + root + `}`,
		`{"hashes":[],"rootHash":` + root + `,"x":[{}]}`,
		`{"hashes":null,"rootHash":` + root + `}`,
		`{"rootHash":` + root + `}`,
		`{"hashes":[],"rootHash":"ab"}`,
		`{"hashes":[],"rootHash":null}`,
		`{"hashes":[1],"rootHash":` + root + `}`,
		`{"hashes":[],"rootHash":` + root + `} x`,
		`{"hashes":[],"rootHash":` + root,
		`[]`, `null`, ``,
	} {
		if got, want := parseProof([]byte(c)), parseProofJSON([]byte(c)); (got == nil) != (want == nil) {
			t.Errorf("%q: reader %v, encoding/json %v", c, got, want)
		}
	}
}

// FuzzParseEntryMatchesJSON: whatever the reader accepts, encoding/json
// accepts too, with the same entry.
func FuzzParseEntryMatchesJSON(f *testing.F) {
	for _, c := range entryCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseEntry(b)
		if err != nil {
			return
		}
		want, err := parseEntryJSON(b)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("reader accepted %q as %+v; encoding/json: %+v, %v", b, got, want, err)
		}
	})
}

// TestParseEntryRandomMutations: single-byte mutations of a good answer get
// the same verdict from both, except those the reader is meant to refuse.
func TestParseEntryRandomMutations(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(9, 9))
	alphabet := []byte("{}[],:\"\\ 0123456789-.eE+tfnulrsabcu\x00\x1f\x7f\xff")
	for range 20000 {
		b := []byte(goodEntry)
		for range 1 + rng.IntN(3) {
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
		}
		got, err := parseEntry(b)
		want, wantErr := parseEntryJSON(b)
		if err == nil && (wantErr != nil || !reflect.DeepEqual(got, want)) {
			t.Fatalf("%q: reader accepted %+v; encoding/json %+v, %v", b, got, want, wantErr)
		}
		if err != nil && wantErr == nil && !strings.Contains(err.Error(), "key") {
			t.Fatalf("%q: reader refused (%v) what encoding/json took", b, err)
		}
	}
}

func BenchmarkParseEntry(b *testing.B) {
	var hashes []string
	for range 17 {
		hashes = append(hashes, `"`+strings.Repeat("0f", 32)+`"`)
	}
	ans := []byte(strings.Replace(strings.Replace(goodEntry, `"hashes":["aa","bb"]`, `"hashes":[`+strings.Join(hashes, ",")+`]`, 1),
		`"body":"eyJhIjoxfQ=="`, `"body":"`+base64.StdEncoding.EncodeToString(make([]byte, 520))+`"`, 1))
	for _, p := range []struct {
		name  string
		parse func([]byte) (*entry, error)
	}{{"encoding-json", parseEntryJSON}, {"reader", parseEntry}} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.parse(ans); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
