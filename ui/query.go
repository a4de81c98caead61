package ui

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
)

// MaxQuery bounds the search box's text (a PEM public key fits).
const MaxQuery = 16 << 10

// query is what the search box was given, classified.
type query struct {
	// Kind says in words what the text was taken for.
	Kind string
	// Terms are search-index keys: an entry matches when it is indexed
	// under any key of any term.
	Terms [][]types.SearchKey
	// Leaf is a leaf hash to look up in every log (a 64-hex UUID), with
	// Tree the log an 80-hex EntryID names (0: any).
	Leaf *[32]byte
	Tree uint64
	// Index is a virtual log index (Rekor v1's, or a Rekor v2 log's).
	Index *uint64
}

var (
	hexRE    = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	digestRE = regexp.MustCompile(`^(?i)(sha1|sha256|sha384|sha512):([0-9a-f]+)$`)
	digestN  = map[string]int{"sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}
	// pemRE is PEM text whose line breaks may be gone: a browser strips
	// them from a key pasted into the one-line search box.
	pemRE = regexp.MustCompile(`^(-----BEGIN [A-Z0-9 ]+-----)\s*([A-Za-z0-9+/=\s]*?)\s*(-----END [A-Z0-9 ]+-----)$`)
)

// reflowPEM puts back the line breaks of a PEM block pasted into a one-line
// input (which drops them, or makes them spaces); other text is returned
// as it is.
func reflowPEM(q string) string {
	m := pemRE.FindStringSubmatch(q)
	if m == nil {
		return q
	}
	return m[1] + "\n" + strings.Join(strings.Fields(m[2]), "\n") + "\n" + m[3] + "\n"
}

// classify reads the search box: an email, a URI identity, an artifact
// digest (hex, with or without its algorithm), a 40-hex gitsign commit SHA
// (its SHA-1 digest), an entry UUID (80 hex: Rekor v1's EntryID; 64 hex: a
// leaf hash, or a SHA-256 digest: both are tried), a log index, a PEM
// public key or certificate, or else a certificate identity (DNS name,
// Fulcio username SAN). Its errors are for the user.
func classify(q string) (query, error) {
	q = strings.TrimSpace(q)
	switch {
	case q == "":
		return query{}, errors.New("the query is empty")
	case len(q) > MaxQuery:
		return query{}, fmt.Errorf("the query is longer than %d bytes", MaxQuery)
	case strings.Contains(q, "-----BEGIN"):
		k, err := pki.ParsePEM([]byte(reflowPEM(q)))
		if err != nil {
			return query{}, fmt.Errorf("the PEM text is no public key or certificate this server reads: %v", err)
		}
		canon, err := k.CanonicalPEM()
		if err != nil {
			return query{}, fmt.Errorf("the PEM key: %v", err)
		}
		return query{Kind: "public key", Terms: [][]types.SearchKey{{{Kind: types.KindKey, Value: pki.FingerprintPEM(canon)}}}}, nil
	}
	if m := digestRE.FindStringSubmatch(q); m != nil {
		alg, v := strings.ToLower(m[1]), strings.ToLower(m[2])
		if len(v) != digestN[alg] {
			return query{}, fmt.Errorf("a %s digest has %d hex digits, not %d", alg, digestN[alg], len(v))
		}
		kind := alg + " digest"
		if alg == "sha1" {
			kind = "sha1 digest or gitsign commit SHA"
		}
		return query{Kind: kind, Terms: digestTerm(alg, v)}, nil
	}
	if hexRE.MatchString(q) {
		v := strings.ToLower(q)
		switch len(v) {
		case 40:
			return query{Kind: "sha1 digest or gitsign commit SHA", Terms: digestTerm("sha1", v)}, nil
		case 64:
			var leaf [32]byte
			_, _ = hex.Decode(leaf[:], []byte(v))
			return query{Kind: "entry UUID or sha256 digest", Terms: digestTerm("sha256", v), Leaf: &leaf}, nil
		case 80:
			tree, _ := strconv.ParseUint(v[:16], 16, 64)
			var leaf [32]byte
			_, _ = hex.Decode(leaf[:], []byte(v[16:]))
			return query{Kind: "entry UUID", Leaf: &leaf, Tree: tree}, nil
		case 96:
			return query{Kind: "sha384 digest", Terms: digestTerm("sha384", v)}, nil
		case 128:
			return query{Kind: "sha512 digest", Terms: digestTerm("sha512", v)}, nil
		}
	}
	if isDecimal(q) {
		i, err := strconv.ParseUint(q, 10, 64)
		if err != nil {
			return query{}, fmt.Errorf("the log index %s is out of range", q)
		}
		return query{Kind: "log index", Index: &i}, nil
	}
	if strings.Contains(q, "://") {
		return query{Kind: "URI identity", Terms: [][]types.SearchKey{{{Kind: types.KindSubject, Value: q}}}}, nil
	}
	if a, err := mail.ParseAddress(q); err == nil && a.Address == q {
		return query{Kind: "email", Terms: [][]types.SearchKey{{{Kind: types.KindEmail, Value: q}}}}, nil
	}
	if strings.Contains(q, "@") {
		// Not a valid address by net/mail but maybe a SAN all the same
		// (the index holds whatever certificates carried).
		return query{Kind: "email or identity", Terms: [][]types.SearchKey{{
			{Kind: types.KindEmail, Value: q}, {Kind: types.KindSubject, Value: q}}}}, nil
	}
	return query{Kind: "identity", Terms: [][]types.SearchKey{{{Kind: types.KindSubject, Value: q}}}}, nil
}

func digestTerm(alg, hexValue string) [][]types.SearchKey {
	return [][]types.SearchKey{{types.Digest(alg, hexValue)}}
}

func isDecimal(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
