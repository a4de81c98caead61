package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/go-openapi/strfmt"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/storage"
)

// MaxSearchQueries is Rekor's limit on the UUIDs, indexes and entries of one
// /api/v1/log/entries/retrieve request, all together.
const MaxSearchQueries = 10

// searchLogQuery is POST /api/v1/log/entries/retrieve: entries by UUID, by
// index, or by the proposed entry itself (canonicalized and verified as on
// insert, then looked up by leaf hash). Misses are skipped; results for UUIDs
// and entries come first, then those for indexes, as in Rekor.
func (s *Server) searchLogQuery(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var q models.SearchLogQuery
	if !decodeStrict(w, body, "entry", &q) {
		return
	}
	// minItems 1 in Rekor's schema: an empty list (decoded as empty, not
	// nil; absent and null are nil) is refused.
	for _, l := range []struct {
		name  string
		empty bool
	}{
		{"entryUUIDs", q.EntryUUIDs != nil && len(q.EntryUUIDs) == 0},
		{"logIndexes", q.LogIndexes != nil && len(q.LogIndexes) == 0},
		{"entries", q.Entries != nil && len(q.Entries) == 0},
	} {
		if l.empty {
			writeError(w, http.StatusUnprocessableEntity, l.name+" in body should have at least 1 items")
			return
		}
	}
	if n := len(q.EntryUUIDs) + len(q.LogIndexes) + len(q.Entries); n > MaxSearchQueries {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("more than max allowed %d entries in request", MaxSearchQueries))
		return
	}
	for _, idx := range q.LogIndexes {
		if idx == nil || *idx < 0 {
			writeError(w, http.StatusUnprocessableEntity, "logIndexes in body should be greater than or equal to 0")
			return
		}
	}

	for i, id := range q.EntryUUIDs {
		if !entryIDPattern.MatchString(id) {
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("entryUUIDs.%d in body should match '%s'", i, entryIDPattern))
			return
		}
	}

	var hashes []merkle.Hash
	for _, id := range q.EntryUUIDs {
		h, ours, err := s.parseEntryID(id)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if ours {
			hashes = append(hashes, h)
		}
	}
	for _, raw := range q.Entries {
		can, err := s.types.Canonicalize(r.Context(), raw)
		if err != nil {
			canonicalizeError(w, err)
			return
		}
		hashes = append(hashes, merkle.LeafHash(can.Body))
	}

	results := []models.LogEntry{}
	add := func(e storage.Entry) bool {
		head, err := s.log.HeadCovering(r.Context(), e.Index)
		if err == nil {
			var entry models.LogEntryAnon
			if entry, err = s.logEntry(r.Context(), e, head); err == nil {
				results = append(results, models.LogEntry{s.entryID(e.LeafHash): entry})
				return true
			}
		}
		s.unavailable(w, r, err)
		return false
	}
	for _, h := range hashes {
		e, err := s.log.EntryByLeafHash(r.Context(), h)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		if !add(e) {
			return
		}
	}
	for _, idx := range q.LogIndexes {
		e, err := s.log.Entry(r.Context(), uint64(*idx))
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		if !add(e) {
			return
		}
	}
	writeJSON(w, http.StatusOK, results)
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

// searchIndex is POST /api/v1/index/retrieve: the UUIDs of entries indexed
// under an artifact hash, a public key, an email or a certificate subject,
// combined with operator "or" (default: union) or "and" (intersection). The
// index is written in the same transaction as the entries, so it has no gaps.
func (s *Server) searchIndex(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var q models.SearchIndex
	if !decodeStrict(w, body, "query", &q) {
		return
	}
	var keys []string
	if q.Hash != "" {
		if !searchHash.MatchString(q.Hash) {
			writeError(w, http.StatusUnprocessableEntity, "hash in body should match '"+searchHash.String()+"'")
			return
		}
		h := strings.ToLower(q.Hash)
		if !strings.Contains(h, ":") {
			h = map[int]string{40: "sha1:", 64: "sha256:", 128: "sha512:"}[len(h)] + h
		}
		keys = append(keys, h)
	}
	if q.PublicKey != nil {
		if q.PublicKey.Format == "" {
			writeError(w, http.StatusUnprocessableEntity, "publicKey.format in body is required")
			return
		}
		if !slices.Contains(searchKeyFormats, q.PublicKey.Format) {
			// Rekor's schema enum; tuf passes it and is then refused as
			// unsupported, as by a Rekor without the tuf kind.
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("publicKey.format in body should be one of %v", searchKeyFormats))
			return
		}
		if len(q.PublicKey.Content) == 0 {
			writeError(w, http.StatusBadRequest, "publicKey.content in body is required")
			return
		}
		canonical, err := s.canonicalKey(q.PublicKey.Format, q.PublicKey.Content)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid public key: "+err.Error())
			return
		}
		keys = append(keys, pki.FingerprintPEM(canonical))
	}
	if q.Email != "" {
		if !strfmt.IsEmail(q.Email.String()) {
			writeError(w, http.StatusUnprocessableEntity, "email in body must be of type email: "+fmt.Sprintf("%q", q.Email.String()))
			return
		}
		keys = append(keys, strings.ToLower(q.Email.String()))
	}
	if q.Subject != "" {
		if len(q.Subject) > 512 {
			writeError(w, http.StatusUnprocessableEntity, "subject in body should be at most 512 chars long")
			return
		}
		keys = append(keys, strings.ToLower(q.Subject))
	}
	op := q.Operator
	if op == "" {
		op = "or"
	}
	if op != "or" && op != "and" {
		writeError(w, http.StatusUnprocessableEntity, `operator in body should be one of ["and","or"]`)
		return
	}
	if len(keys) == 0 {
		writeError(w, http.StatusBadRequest, "at least one of hash, publicKey, email or subject is required")
		return
	}

	counts := map[uint64]int{}
	for _, k := range keys {
		idxs, err := s.log.Search(r.Context(), k)
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		for _, i := range idxs {
			counts[i]++
		}
	}
	var found []uint64
	for i, c := range counts {
		if op == "or" || c == len(keys) {
			found = append(found, i)
		}
	}
	sort.Slice(found, func(a, b int) bool { return found[a] < found[b] })
	hashes, err := s.log.LeafHashes(r.Context(), found)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	ids := make([]string, len(hashes))
	for i, h := range hashes {
		ids[i] = s.entryID(h)
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
