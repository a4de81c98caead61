package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/go-openapi/strfmt"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/search"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/types"
)

// MaxSearchQueries is Rekor's limit on the UUIDs, indexes and entries of one
// /api/v1/log/entries/retrieve request, all together.
const MaxSearchQueries = 10

// searchLogQuery is POST /api/v1/log/entries/retrieve: entries by UUID, by
// index, or by the entry itself, looked up by leaf hash. An entry is
// canonicalized as Rekor's SearchLogQueryHandler does it (UnmarshalEntry and
// Canonicalize, not the insert path): a proposal is verified as on insert,
// and a logged canonical body is accepted as it stands; one that fails makes
// the whole query a 400 with the type's message. Misses are skipped; results
// for UUIDs and entries come first, then those for indexes, as in Rekor.
func (s *Server) searchLogQuery(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var q models.SearchLogQuery
	if !decodeStrict(w, body, "entry", &q) {
		return
	}
	// Rekor's order: the entries are parsed (400), then the schema is
	// checked (422, the first failure only), then the handler counts, looks
	// up UUIDs, canonicalizes entries.
	entries := make([]searchEntry, 0, len(q.Entries))
	for _, raw := range q.Entries {
		e, err := parseSearchEntry(raw)
		if err != nil {
			writeError(w, http.StatusBadRequest, `parsing entry body from "" failed, because `+err.Error())
			return
		}
		entries = append(entries, e)
	}
	if msg := validateSearchQuery(&q, entries); msg != "" {
		writeError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	if n := len(q.EntryUUIDs) + len(q.LogIndexes) + len(q.Entries); n > MaxSearchQueries {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("more than max allowed %d entries in request", MaxSearchQueries))
		return
	}

	// Rekor fetches an 80-hex entry ID at once (from the log of its tree
	// ID), and collects 64-hex UUIDs and entries as leaf hashes searched in
	// every log afterwards: their results follow. A leaf is in at most one
	// log of the set, so each gives at most one result.
	var direct, hashes []entryRef
	for _, id := range q.EntryUUIDs {
		ref, err := parseEntryID(id)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if ref.treeID != 0 {
			direct = append(direct, ref)
		} else {
			hashes = append(hashes, ref)
		}
	}
	for _, e := range entries {
		body, err := s.searchLeaf(r.Context(), e)
		if err != nil {
			// Rekor answers err.Error() as it stands (no "error processing
			// entry: " as on insert), and the whole query fails.
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		hashes = append(hashes, entryRef{hash: merkle.LeafHash(body)})
	}

	var results []entryAnswer
	add := func(sh *logset.Shard, e storage.Entry, err error) bool {
		if errors.Is(err, storage.ErrNotFound) {
			return true // misses are skipped
		}
		if err == nil {
			var a entryAnswer
			if a, err = s.freshAnswer(r.Context(), sh, e); err == nil {
				results = append(results, a)
				return true
			}
		}
		s.unavailable(w, r, err)
		return false
	}
	for _, ref := range append(direct, hashes...) {
		if !add(s.lookup(r.Context(), ref)) {
			return
		}
	}
	for _, idx := range q.LogIndexes {
		var i int64 // Rekor reads a null index as 0
		if idx != nil {
			i = *idx
		}
		if !add(s.entryAt(r.Context(), uint64(i))) {
			return
		}
	}
	s.enc.write(w, http.StatusOK, func(b []byte) []byte { return appendEntries(b, results) })
}

// validateSearchQuery is the generated SearchLogQuery.Validate: entries,
// entryUUIDs, logIndexes, each 1 to 10 items, and the first failure only.
// An empty entries list passes (the generated check skips an empty
// polymorphic list), and a null log index is not checked (it reads as 0).
func validateSearchQuery(q *models.SearchLogQuery, entries []searchEntry) string {
	if len(entries) > MaxSearchQueries {
		return fmt.Sprintf("entries in body should have at most %d items", MaxSearchQueries)
	}
	for i, e := range entries {
		if msg := e.validate(i); msg != "" {
			return msg
		}
	}
	if q.EntryUUIDs != nil {
		switch n := len(q.EntryUUIDs); {
		case n == 0:
			return "entryUUIDs in body should have at least 1 items"
		case n > MaxSearchQueries:
			return fmt.Sprintf("entryUUIDs in body should have at most %d items", MaxSearchQueries)
		}
	}
	for i, id := range q.EntryUUIDs {
		if !entryIDPattern.MatchString(id) {
			return fmt.Sprintf("entryUUIDs.%d in body should match '%s'", i, entryIDPattern)
		}
	}
	if q.LogIndexes != nil {
		switch n := len(q.LogIndexes); {
		case n == 0:
			return "logIndexes in body should have at least 1 items"
		case n > MaxSearchQueries:
			return fmt.Sprintf("logIndexes in body should have at most %d items", MaxSearchQueries)
		}
	}
	for i, idx := range q.LogIndexes {
		if idx != nil && *idx < 0 {
			return fmt.Sprintf("logIndexes.%d in body should be greater than or equal to 0", i)
		}
	}
	return ""
}

// searchEntry is one item of a SearchLogQuery's entries, as Rekor's
// polymorphic ProposedEntry decoder (targetedProposedEntry) reads it.
type searchEntry struct {
	kind       string
	apiVersion *string
	spec       json.RawMessage // nil when absent or null
}

// parseSearchEntry is models.UnmarshalProposedEntry: an object with a known,
// non-empty kind. Its errors are Rekor's (encoding/json's, with Rekor's type
// name), for the "parsing entry body" message.
func parseSearchEntry(raw json.RawMessage) (searchEntry, error) {
	var t struct {
		Kind       string          `json:"kind"`
		APIVersion *string         `json:"apiVersion"`
		Spec       json.RawMessage `json:"spec"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil {
		var ut *json.UnmarshalTypeError
		if errors.As(err, &ut) {
			if ut.Field != "" {
				return searchEntry{}, fmt.Errorf("json: cannot unmarshal %s into Go struct field targetedProposedEntry.%s of type %s", ut.Value, ut.Field, ut.Type)
			}
			return searchEntry{}, fmt.Errorf("json: cannot unmarshal %s into Go value of type models.targetedProposedEntry", ut.Value)
		}
		return searchEntry{}, err
	}
	if t.Kind == "" {
		return searchEntry{}, errors.New("kind in body is required")
	}
	if !slices.Contains(rekorKinds, t.Kind) {
		return searchEntry{}, fmt.Errorf("invalid kind value: %q", t.Kind)
	}
	spec := t.Spec
	if bytes.Equal(bytes.TrimSpace(spec), []byte("null")) {
		spec = nil
	}
	return searchEntry{kind: t.Kind, apiVersion: t.APIVersion, spec: spec}, nil
}

// rekorKinds are the kinds Rekor's generated ProposedEntry decoder knows
// (its discriminator values); any other is a parse error. One of them that
// this log does not accept fails later, as a kind not compiled into a Rekor
// server does.
var rekorKinds = []string{"ProposedEntry", "alpine", "cose", "dsse", "hashedrekord", "helm", "intoto", "jar", "rekord", "rfc3161", "rpm", "tuf"}

// apiVersionPattern is the ProposedEntry schema's apiVersion pattern (semver).
const apiVersionPattern = `^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`

var apiVersionRE = regexp.MustCompile(apiVersionPattern)

// validate is the generated <Kind>.Validate for entries.<i>: apiVersion
// required and semver, spec required; the first failure only.
func (e searchEntry) validate(i int) string {
	name := fmt.Sprintf("entries.%d", i)
	switch {
	case e.kind == "ProposedEntry": // the base type has no properties to check
		return ""
	case e.apiVersion == nil:
		return name + ".apiVersion in body is required"
	case !apiVersionRE.MatchString(*e.apiVersion):
		return fmt.Sprintf("%s.apiVersion in body should match '%s'", name, apiVersionPattern)
	case e.spec == nil:
		return name + ".spec in body is required"
	}
	return ""
}

// searchLeaf returns the canonical body an entry of a SearchLogQuery is
// looked up by, or the error Rekor answers 400 with.
func (s *Server) searchLeaf(ctx context.Context, e searchEntry) ([]byte, error) {
	c, err := s.types.CanonicalizeSearch(ctx, e.kind, *e.apiVersion, e.spec)
	if err != nil {
		return nil, err
	}
	return c.Body, nil
}

// decodeStrict decodes a JSON request body, answering 400 for malformed JSON
// and for fields of the wrong type, and 422 for an empty body (go-openapi's
// "<name> in body is required", as in Rekor).
func decodeStrict(w http.ResponseWriter, body []byte, name string, v any) bool {
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusUnprocessableEntity, name+" in body is required")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "parsing request body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "parsing request body: trailing data after JSON value")
		return false
	}
	return true
}

// searchKeyFormats is the enum of SearchIndex.publicKey.format in Rekor's
// openapi.yaml.
var searchKeyFormats = []string{"pgp", "x509", "minisign", "ssh", "tuf"}

var searchHash = regexp.MustCompile(`^(sha512:)?[0-9a-fA-F]{128}$|^(sha256:)?[0-9a-fA-F]{64}$|^(sha1:)?[0-9a-fA-F]{40}$`)

// searchTerms reads a SearchIndex query, answering for it when it is bad:
// its terms are the query's fields, each the keys it matches (any of
// them), and and says whether every term must match.
func (s *Server) searchTerms(w http.ResponseWriter, r *http.Request) (terms [][]types.SearchKey, and, ok bool) {
	body, ok := s.readBody(w, r)
	if !ok {
		return nil, false, false
	}
	var q models.SearchIndex
	if !decodeStrict(w, body, "query", &q) {
		return nil, false, false
	}
	if q.Hash != "" {
		if !searchHash.MatchString(q.Hash) {
			writeError(w, http.StatusUnprocessableEntity, "hash in body should match '"+searchHash.String()+"'")
			return nil, false, false
		}
		h := strings.ToLower(q.Hash)
		if !strings.Contains(h, ":") {
			h = map[int]string{40: "sha1:", 64: "sha256:", 128: "sha512:"}[len(h)] + h
		}
		terms = append(terms, []types.SearchKey{{Kind: types.KindDigest, Value: h}})
	}
	if q.PublicKey != nil {
		if q.PublicKey.Format == "" {
			writeError(w, http.StatusUnprocessableEntity, "publicKey.format in body is required")
			return nil, false, false
		}
		if !slices.Contains(searchKeyFormats, q.PublicKey.Format) {
			// Rekor's schema enum; tuf passes it and is then refused as
			// unsupported, as by a Rekor without the tuf kind.
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("publicKey.format in body should be one of %v", searchKeyFormats))
			return nil, false, false
		}
		if len(q.PublicKey.Content) == 0 {
			writeError(w, http.StatusBadRequest, "publicKey.content in body is required")
			return nil, false, false
		}
		canonical, err := s.canonicalKey(q.PublicKey.Format, q.PublicKey.Content)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid public key: "+err.Error())
			return nil, false, false
		}
		terms = append(terms, []types.SearchKey{{Kind: types.KindKey, Value: pki.FingerprintPEM(canonical)}})
	}
	if q.Email != "" {
		if !strfmt.IsEmail(q.Email.String()) {
			writeError(w, http.StatusUnprocessableEntity, "email in body must be of type email: "+fmt.Sprintf("%q", q.Email.String()))
			return nil, false, false
		}
		terms = append(terms, []types.SearchKey{{Kind: types.KindEmail, Value: q.Email.String()}})
	}
	if q.Subject != "" {
		if len(q.Subject) > 512 {
			writeError(w, http.StatusUnprocessableEntity, "subject in body should be at most 512 chars long")
			return nil, false, false
		}
		terms = append(terms, []types.SearchKey{
			{Kind: types.KindSubject, Value: q.Subject},
			{Kind: types.KindEmail, Value: q.Subject},
		})
	}
	op := q.Operator
	if op == "" {
		op = "or"
	}
	if op != "or" && op != "and" {
		writeError(w, http.StatusUnprocessableEntity, `operator in body should be one of ["and","or"]`)
		return nil, false, false
	}
	if len(terms) == 0 {
		writeError(w, http.StatusBadRequest, "at least one of hash, publicKey, email or subject is required")
		return nil, false, false
	}
	return terms, op == "and", true
}

// searchIndex is POST /api/v1/index/retrieve: the UUIDs of entries indexed
// under an artifact hash, a public key, an email or a certificate subject,
// combined with operator "or" (default: union) or "and" (intersection). The
// index is written in the same transaction as the entries, so it has no gaps.
//
// Each field looks up keys of its own kind only (types.SearchKey): hash a
// digest, publicKey a key fingerprint, email an email, subject a
// certificate subject or an email (an email SAN is a subject too). So an
// entry whose DNS SAN is someone's key fingerprint is not found by a search
// for that key, which Rekor's single namespace would find.
func (s *Server) searchIndex(w http.ResponseWriter, r *http.Request) {
	terms, and, ok := s.searchTerms(w, r)
	if !ok {
		return
	}
	shards, err := s.logs.Shards(r.Context())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	// Every log is searched, oldest first: an entry's keys are all in the
	// log holding it, so "and" is decided in each log, and the answer is in
	// ascending virtual index.
	ids := []string{}
	for _, sh := range shards {
		found, err := search.Log(r.Context(), sh, terms, and)
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		if len(found) == 0 {
			continue
		}
		hashes, err := sh.Log.LeafHashes(r.Context(), found)
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		enc := s.enc.of(sh)
		for _, h := range hashes {
			ids = append(ids, string(enc.appendEntryID(make([]byte, 0, 80), h)))
		}
	}
	writeJSON(w, http.StatusOK, ids)
}

// canonicalKey returns the canonical bytes of a public key in one of the
// formats of the search API, whose SHA-256 is the index key.
func (s *Server) canonicalKey(format string, content strfmt.Base64) ([]byte, error) {
	if s.keyCanonicalizer != nil {
		return s.keyCanonicalizer(format, content)
	}
	if format != "x509" {
		return nil, fmt.Errorf("unsupported public key format %q", format)
	}
	k, err := pki.ParsePEM(content)
	if err != nil {
		return nil, err
	}
	return k.CanonicalPEM()
}
