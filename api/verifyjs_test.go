package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

// The explorer's proof panel (ui/static/verify.js) and file hashing
// (ui/static/search.js) are checked here with Node, when it is installed,
// against the real API: testdata/verifyjs/verify_test.cjs loads the
// scripts' pure functions and checks them against vectors made here (RFC
// 6962 inclusion proofs, ECDSA signatures in DER and raw, key IDs of both
// forms, malformed notes), then runs the panel of test pages served next
// to the API (a fake DOM of the three elements it writes), on every entry
// of a frozen Rekor v1 log, an active one and a Rekor v2 log, and on
// answers a lying server could give, which must all fail. The headless
// browser tests run the same scripts in pages of the ui package.

// jsProof is an inclusion proof vector: the hashes of the proof of index
// in the tree of size, whose root is roots[size].
type jsProof struct {
	Index  uint64   `json:"index"`
	Size   uint64   `json:"size"`
	Hashes []string `json:"hashes"`
}

// jsSig is an ECDSA P-256 signature of msg by spki in DER and raw r || s.
type jsSig struct {
	SPKI string `json:"spki"`
	Msg  string `json:"msg"`
	DER  string `json:"der"`
	Raw  string `json:"raw"`
}

// jsKey is a checkpoint key: its key name for the log of api and origin,
// and its key ID.
type jsKey struct {
	API    string `json:"api"`
	Origin string `json:"origin"`
	Name   string `json:"name"`
	SPKI   string `json:"spki"`
	Alg    string `json:"alg"`
	KeyID  string `json:"keyID"`
}

// jsCase is an answer of the API and GET /logs for the page of tree,
// index and origin, and what the panel must conclude: verified (Reason
// empty) or failed with a reason containing Reason; Step, if set, is in
// one of the steps.
type jsCase struct {
	Name   string          `json:"name"`
	Entry  json.RawMessage `json:"entry"`
	Logs   json.RawMessage `json:"logs"`
	Tree   string          `json:"tree"`
	Index  string          `json:"index"`
	Origin string          `json:"origin"`
	Reason string          `json:"reason"`
	Step   string          `json:"step,omitempty"`
}

// jsPage is a test page the panel must bring to State, with a status
// containing Status.
type jsPage struct {
	Path   string `json:"path"`
	State  string `json:"state"`
	Status string `json:"status"`
}

type jsVectors struct {
	Base      string    `json:"base"`
	Leaves    []string  `json:"leaves"` // hex leaf hashes of the proof tree
	Roots     []string  `json:"roots"`  // roots[size] of the proof tree
	Proofs    []jsProof `json:"proofs"`
	Sigs      []jsSig   `json:"sigs"`
	BadDER    []string  `json:"badDER"`
	Keys      []jsKey   `json:"keys"`
	BadNotes  []string  `json:"badNotes"`
	Cases     []jsCase  `json:"cases"`
	Pages     []jsPage  `json:"pages"`
	Files     []string  `json:"files"` // contents whose SHA-256 search.js must match
	FileSHA   []string  `json:"fileSHA"`
	SearchURL string    `json:"searchURL"`
}

func TestVerifyJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: verify.js and search.js are not checked here (the browser tests run them)")
	}
	f := newExplorerFixture(t, engines[0])
	entryPage := template.Must(template.ParseFiles("testdata/verifyjs/entry.html"))
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.Dir("../ui/static"))))
	mux.HandleFunc("GET /test/entry/{tree}/{index}", func(w http.ResponseWriter, r *http.Request) {
		origin := r.URL.Query().Get("origin")
		for _, l := range f.logs {
			if origin == "" && strconv.FormatInt(l.treeID, 10) == r.PathValue("tree") {
				origin = l.origin
			}
		}
		_ = entryPage.Execute(w, map[string]string{"Tree": r.PathValue("tree"), "Index": r.PathValue("index"), "Origin": origin})
	})
	mux.HandleFunc("GET /test/search", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "testdata/verifyjs/search.html")
	})
	mux.Handle("/", f.handler)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	v := jsVectors{Base: ts.URL, SearchURL: "/test/search"}
	proofVectors(t, &v)
	sigVectors(t, &v)
	keyVectors(t, &v, f)
	caseVectors(t, &v, f)
	for _, l := range f.logs {
		for i := range l.bodies {
			v.Pages = append(v.Pages, jsPage{Path: fmt.Sprintf("/test/entry/%d/%d", l.treeID, i), State: "verified", Status: "verified"})
		}
	}
	v1 := f.logs[1]
	v.Pages = append(v.Pages,
		jsPage{Path: fmt.Sprintf("/test/entry/%d/%d", v1.treeID, len(v1.bodies)), State: "failed", Status: "answered 404"},
		jsPage{Path: fmt.Sprintf("/test/entry/%d/0?origin=%s", v1.treeID, "evil.example%20-%201"), State: "failed", Status: "origin"},
		jsPage{Path: "/test/entry/1/0", State: "failed", Status: "answered 404"},
		jsPage{Path: "/test/entry/x/0", State: "failed", Status: "names no log entry"},
	)
	for _, s := range []string{"", "hello\n", strings.Repeat("\x00\xff", 70000)} {
		sum := sha256.Sum256([]byte(s))
		v.Files = append(v.Files, base64.StdEncoding.EncodeToString([]byte(s)))
		v.FileSHA = append(v.FileSHA, hex.EncodeToString(sum[:]))
	}

	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vectors.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read here so that a change to a script invalidates the cached result.
	for _, f := range []string{"testdata/verifyjs/verify_test.cjs", "../ui/static/verify.js", "../ui/static/search.js"} {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), node, "testdata/verifyjs/verify_test.cjs", path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	t.Logf("node:\n%s", out)
}

// proofVectors: every inclusion proof of trees of 1 to 37 leaves.
func proofVectors(t *testing.T, v *jsVectors) {
	tree := testonly.New(rfc6962.DefaultHasher)
	const n = 37
	v.Roots = []string{hex.EncodeToString(rfc6962.DefaultHasher.EmptyRoot())}
	for i := range n + 1 {
		tree.AppendData([]byte("leaf " + strconv.Itoa(i)))
		v.Leaves = append(v.Leaves, hex.EncodeToString(tree.LeafHash(uint64(i))))
		v.Roots = append(v.Roots, hex.EncodeToString(tree.Hash()))
	}
	for size := uint64(1); size <= n; size++ {
		for i := range size {
			p, err := tree.InclusionProof(i, size)
			if err != nil {
				t.Fatal(err)
			}
			hs := make([]string, len(p))
			for k := range p {
				hs[k] = hex.EncodeToString(p[k])
			}
			v.Proofs = append(v.Proofs, jsProof{Index: i, Size: size, Hashes: hs})
		}
	}
}

// sigVectors: ECDSA signatures by Go, in DER and raw (some with short r or
// s, whose raw form is left-padded), and DER that is not strict.
func sigVectors(t *testing.T, v *jsVectors) {
	key := logsettest.Key(t)
	spki := base64.StdEncoding.EncodeToString(key.PublicKeyDER())
	short := 0
	// About one signature in 128 has a short r or s: 10,000 tries find two
	// but once in about 10^32 runs.
	for i := 0; i < 10000 && (len(v.Sigs) < 24 || short < 2); i++ {
		msg := []byte("message " + strconv.Itoa(i))
		der, err := key.SignMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, 64)
		rs.R.FillBytes(raw[:32])
		rs.S.FillBytes(raw[32:])
		isShort := rs.R.BitLen() <= 248 || rs.S.BitLen() <= 248
		if len(v.Sigs) >= 24 && !isShort {
			continue
		}
		if isShort {
			short++
		}
		v.Sigs = append(v.Sigs, jsSig{SPKI: spki, Msg: base64.StdEncoding.EncodeToString(msg),
			DER: hex.EncodeToString(der), Raw: hex.EncodeToString(raw)})
	}
	if short < 2 {
		t.Fatalf("fewer than 2 signatures with a short r or s in 10,000")
	}
	good := v.Sigs[0].DER
	v.BadDER = []string{
		"",
		"30",
		"3000",
		good + "00",               // trailing byte
		"31" + good[2:],           // not a SEQUENCE
		"3006020101020101" + "00", // SEQUENCE length does not cover the trailing byte
		"30060201010201",          // truncated
		"3006020180020101",        // negative r
		"300702020001020101",      // non-minimal r
		"308106020101020101",      // non-minimal length
		"30260221" + "01" + strings.Repeat("ff", 32) + "020101", // r of 33 bytes
		"3006020101030101",          // s not an INTEGER
		"3008020101020101" + "0000", // bad SEQUENCE length
	}
}

func ed25519Key(t *testing.T) *signer.Local {
	k, err := signer.Generate(signer.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keyVectors: the key names and key IDs of both forms, both key types.
func keyVectors(t *testing.T, v *jsVectors, f *explorerFixture) {
	add := func(api, origin, name string, form checkpoint.KeyIDForm, key *signer.Local, alg string) {
		id, err := form.KeyID(name, key.Public())
		if err != nil {
			t.Fatal(err)
		}
		v.Keys = append(v.Keys, jsKey{API: api, Origin: origin, Name: name, SPKI: base64.StdEncoding.EncodeToString(key.PublicKeyDER()),
			Alg: alg, KeyID: hex.EncodeToString(id[:])})
	}
	for _, l := range f.logs {
		alg := "ECDSA P-256"
		if l.api == "v2" {
			alg = "Ed25519"
		}
		add(l.api, l.origin, l.keyName, l.form, l.key, alg)
	}
	add("v2", "ecdsa.tabula.test", "ecdsa.tabula.test", checkpoint.KeyIDC2SP, logsettest.Key(t), "ECDSA P-256")
	add("v1", "ed.tabula.test - 7", "ed.tabula.test", checkpoint.KeyIDRekorV1, ed25519Key(t), "Ed25519")
	add("v1", "a - b - 9", "a - b", checkpoint.KeyIDRekorV1, logsettest.Key(t), "ECDSA P-256")

	sig := "— tabula.test " + base64.StdEncoding.EncodeToString(make([]byte, 68)) + "\n"
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	v.BadNotes = []string{
		"",
		"tabula.test - 1\n1\n" + root + "\n", // no signatures
		"tabula.test - 1\n1\n" + root + "\n\n" + strings.TrimSuffix(sig, "\n"), // no final newline
		"tabula.test - 1\n1\n\n" + sig,                                         // no root
		"tabula.test - 1\n-1\n" + root + "\n\n" + sig,                          // negative size
		"tabula.test - 1\n01\n" + root + "\n\n" + sig,                          // leading zero
		"tabula.test - 1\n1\n" + root[:40] + "\n\n" + sig,                      // short root
		"tabula.test - 1\n1\n" + root + "\n\n- tabula.test AAAAAAAA\n",         // not an em dash
		"tabula.test - 1\n1\n" + root + "\n\n— tabula.test AAA\n",              // short signature
		"tabula.test - 1\n1\n" + root + "\n\n— tabula.test !!!!\n",             // not base64
		"\n1\n" + root + "\n\n" + sig,                                          // no origin
	}
}

// caseVectors: real answers, and answers a lying server could give, for an
// entry of the frozen Rekor v1 log and one of the Rekor v2 log.
func caseVectors(t *testing.T, v *jsVectors, f *explorerFixture) {
	_, logsJSON := f.s.do("GET", "/logs", nil)
	for _, l := range []*explorerLog{f.logs[0], f.logs[2]} {
		tree, index := strconv.FormatInt(l.treeID, 10), "1"
		_, entryJSON := f.s.do("GET", "/logs/"+tree+"/entries/"+index, nil)
		got := getEntryAt(t, f.s, l, 1)
		text := strings.SplitAfter(got.InclusionProof.Checkpoint, "\n\n")[0]
		text = text[:len(text)-1]
		id, err := l.form.KeyID(l.keyName, l.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		other := logsettest.Key(t)
		if l.api == "v2" {
			other = ed25519Key(t)
		}
		sign := func(c checkpoint.Checkpoint, name string, key *signer.Local) string {
			ns, err := checkpoint.NewSigner(name, l.form, key)
			if err != nil {
				t.Fatal(err)
			}
			b, err := checkpoint.Sign(c, ns)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		var root merkle.Hash
		if _, err := hex.Decode(root[:], []byte(got.InclusionProof.RootHash)); err != nil {
			t.Fatal(err)
		}
		honest := checkpoint.Checkpoint{Origin: l.origin, Size: got.InclusionProof.TreeSize, Root: root}
		forged, err := other.SignMessage([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		witnessKey := ed25519.NewKeyFromSeed(make([]byte, 32))
		cosigner, err := checkpoint.NewCosignatureSigner("witness.tabula.test", witnessKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		cosig, err := cosigner.Sign([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		hint := func(h uint32, sig []byte) string {
			return base64.StdEncoding.EncodeToString(append([]byte{byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}, sig...))
		}
		otherDesc, err := l.form.KeyID(l.keyName, other.Public())
		if err != nil {
			t.Fatal(err)
		}

		type edit func(e, logs map[string]any)
		ip := func(e map[string]any) map[string]any { return e["inclusionProof"].(map[string]any) }
		thisLog := func(logs map[string]any) map[string]any {
			for _, x := range logs["logs"].([]any) {
				if d := x.(map[string]any); d["treeID"] == tree {
					return d
				}
			}
			t.Fatalf("log %s not in /logs", tree)
			return nil
		}
		flipB64 := func(s string) string {
			b, _ := base64.StdEncoding.DecodeString(s)
			b[len(b)/2] ^= 1
			return base64.StdEncoding.EncodeToString(b)
		}
		var randomRoot merkle.Hash
		_, _ = rand.Read(randomRoot[:])
		cases := []struct {
			name, reason, step, origin string
			edit                       edit
		}{
			{name: "the real answer", step: "key hint " + fmt.Sprintf("%08x", checkpoint.Hint(id))},
			{name: "a witness cosignature beside the log's", step: "1 other signature (witness cosignatures) not checked", edit: func(e, _ map[string]any) {
				ip(e)["checkpoint"] = got.InclusionProof.Checkpoint + "— witness.tabula.test " + hint(cosigner.KeyHash(), cosig) + "\n"
			}},
			{name: "another body", reason: "leaf hash", edit: func(e, _ map[string]any) { e["body"] = flipB64(e["body"].(string)) }},
			{name: "another body with its leaf hash", reason: "the root the proof leads to", edit: func(e, _ map[string]any) {
				b, _ := base64.StdEncoding.DecodeString(flipB64(e["body"].(string)))
				e["body"] = base64.StdEncoding.EncodeToString(b)
				e["leafHash"] = hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(b))
			}},
			{name: "a proof hash changed", reason: "the root the proof leads to", edit: func(e, _ map[string]any) {
				hs := ip(e)["hashes"].([]any)
				hs[0] = strings.Repeat("0", 64)
			}},
			{name: "a proof hash dropped", reason: "too short", edit: func(e, _ map[string]any) {
				hs := ip(e)["hashes"].([]any)
				ip(e)["hashes"] = hs[:len(hs)-1]
			}},
			{name: "a proof hash added", reason: "too long", edit: func(e, _ map[string]any) {
				ip(e)["hashes"] = append(ip(e)["hashes"].([]any), strings.Repeat("0", 64))
			}},
			{name: "a proof hash not hex", reason: "not 32 bytes of hex", edit: func(e, _ map[string]any) {
				ip(e)["hashes"].([]any)[0] = "zz"
			}},
			{name: "another tree size", reason: "", edit: func(e, _ map[string]any) {
				ip(e)["treeSize"] = float64(got.InclusionProof.TreeSize + 1)
			}},
			{name: "a checkpoint of another root signed by the log", reason: "is not the checkpoint's", edit: func(e, _ map[string]any) {
				ip(e)["checkpoint"] = sign(checkpoint.Checkpoint{Origin: l.origin, Size: honest.Size, Root: randomRoot}, l.keyName, l.key)
			}},
			{name: "a checkpoint of another size signed by the log", reason: "is of size", edit: func(e, _ map[string]any) {
				ip(e)["checkpoint"] = sign(checkpoint.Checkpoint{Origin: l.origin, Size: honest.Size + 1, Root: root}, l.keyName, l.key)
			}},
			{name: "a checkpoint of another origin signed by the log", reason: "origin", edit: func(e, _ map[string]any) {
				ip(e)["checkpoint"] = sign(checkpoint.Checkpoint{Origin: "evil.example", Size: honest.Size, Root: root}, l.keyName, l.key)
			}},
			{name: "a checkpoint signed by another key", reason: "has no signature by", edit: func(e, _ map[string]any) {
				ip(e)["checkpoint"] = sign(honest, l.keyName, other)
			}},
			{name: "a checkpoint signed under another key name", reason: "has no signature by", edit: func(e, _ map[string]any) {
				ip(e)["checkpoint"] = sign(honest, "evil.example", l.key)
			}},
			{name: "another key's signature with the log's key hint", reason: "does not verify", edit: func(e, _ map[string]any) {
				ip(e)["checkpoint"] = text + "\n— " + l.keyName + " " + hint(checkpoint.Hint(id), forged) + "\n"
			}},
			{name: "a signature cut short", reason: "does not verify", edit: func(e, _ map[string]any) {
				sig, _ := l.key.SignMessage([]byte(text))
				ip(e)["checkpoint"] = text + "\n— " + l.keyName + " " + hint(checkpoint.Hint(id), sig[:len(sig)-1]) + "\n"
			}},
			{name: "no signature lines", reason: "no signature lines", edit: func(e, _ map[string]any) { ip(e)["checkpoint"] = text }},
			{name: "another log's key in GET /logs", reason: "has no signature by", edit: func(_, logs map[string]any) {
				d := thisLog(logs)
				d["publicKey"] = base64.StdEncoding.EncodeToString(other.PublicKeyDER())
				d["keyID"] = base64.StdEncoding.EncodeToString(otherDesc[:])
			}},
			{name: "a key ID in GET /logs that is not the key's", reason: "key ID", edit: func(_, logs map[string]any) {
				thisLog(logs)["keyID"] = base64.StdEncoding.EncodeToString(otherDesc[:])
			}},
			{name: "another key name in GET /logs", reason: "key name", edit: func(_, logs map[string]any) {
				thisLog(logs)["keyName"] = "evil.example"
			}},
			{name: "an RSA key in GET /logs", reason: "neither ECDSA P-256 nor Ed25519", edit: func(_, logs map[string]any) {
				rsa, _ := hex.DecodeString("30820122300d06092a864886f70d01010105000382010f00" + strings.Repeat("00", 271))
				thisLog(logs)["publicKey"] = base64.StdEncoding.EncodeToString(rsa)
			}},
			{name: "the log missing from GET /logs", reason: "does not list log", edit: func(_, logs map[string]any) {
				logs["logs"] = []any{}
			}},
			{name: "another entry", reason: "not 1 of", edit: func(e, _ map[string]any) { e["index"] = float64(0) }},
			{name: "a page of another origin", reason: "origin", origin: "evil.example"},
		}
		for _, c := range cases {
			var e, logs map[string]any
			if err := json.Unmarshal(entryJSON, &e); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(logsJSON, &logs); err != nil {
				t.Fatal(err)
			}
			if c.edit != nil {
				c.edit(e, logs)
			}
			eb, _ := json.Marshal(e)
			lb, _ := json.Marshal(logs)
			origin := l.origin
			if c.origin != "" {
				origin = c.origin
			}
			reason := c.reason
			if c.edit != nil && reason == "" && c.step == "" {
				reason = " " // any failure
			}
			v.Cases = append(v.Cases, jsCase{Name: l.api + ": " + c.name, Entry: eb, Logs: lb, Tree: tree, Index: index,
				Origin: origin, Reason: reason, Step: c.step})
		}
	}
}
