package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/types"
)

const entriesPath = "/api/v1/log/entries/"

// entryID is Rekor's EntryID of a leaf of log treeID: the tree ID as 16
// zero-padded hex digits followed by the 64-hex leaf hash.
func entryID(treeID int64, leafHash merkle.Hash) string {
	b := hex.AppendEncode(make([]byte, 0, 80), be64(uint64(treeID)))
	return string(hex.AppendEncode(b, leafHash[:]))
}

// readBody reads a request body within the limit, answering 413 beyond it,
// and 429, 503 or 408 when the body budgets refuse it (see Limits).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	return s.readBodyLimit(w, r, s.maxBody)
}

// readBodyLimit is readBody with a limit of its own (at most the server's).
func (s *Server) readBodyLimit(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var (
			tooBig  *http.MaxBytesError
			limited *limitError
		)
		if errors.As(err, &tooBig) {
			s.metrics.rejected.WithLabelValues(rejectBodyTooLarge).Inc()
			writeAPIError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request Entity Too Large. Limit set to %d", limit))
			return nil, false
		}
		if errors.As(err, &limited) {
			// A body refused for the budgets is drained (without keeping
			// it) so the client reads the answer; a stalled one is not.
			if b, ok := r.Body.(*budgetBody); !ok || limited.code == http.StatusRequestTimeout || !b.discardRest(limit) {
				closeUnread(w)
			}
			if limited.retryAfter != "" {
				w.Header().Set("Retry-After", limited.retryAfter)
			}
			writeAPIError(w, r, limited.code, limited.msg)
			return nil, false
		}
		writeAPIError(w, r, http.StatusBadRequest, "reading request body: "+err.Error())
		return nil, false
	}
	return body, true
}

// canonicalizeError answers for a proposed entry the types refused.
func canonicalizeError(w http.ResponseWriter, err error) {
	var invalid *types.InvalidError
	switch {
	case errors.Is(err, types.ErrUnknownKind):
		writeError(w, http.StatusUnprocessableEntity, strings.TrimPrefix(err.Error(), types.ErrUnknownKind.Error()+": "))
	case errors.Is(err, types.ErrSchema):
		writeError(w, http.StatusUnprocessableEntity, strings.TrimPrefix(err.Error(), types.ErrSchema.Error()+": "))
	case errors.As(err, &invalid):
		writeError(w, http.StatusBadRequest, "error processing entry: "+invalid.Error())
	default:
		writeError(w, http.StatusBadRequest, "error processing entry: "+err.Error())
	}
}

// proposal reads and canonicalizes the proposed entry of a POST
// /api/v1/log/entries (verifying its signature, through its type), and
// the witness wait it asks for, answering when it cannot. It is the part
// of a write that needs no log: the ceiling server (NewCeiling) shares it.
func (s *Server) proposal(w http.ResponseWriter, r *http.Request) (types.Canonical, time.Duration, bool) {
	body, ok := s.readBody(w, r)
	if !ok {
		return types.Canonical{}, 0, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "proposedEntry in body is required")
		return types.Canonical{}, 0, false
	}
	wait, err := s.witnessWaitOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return types.Canonical{}, 0, false
	}
	can, err := s.types.Canonicalize(r.Context(), body)
	if err != nil {
		canonicalizeError(w, err)
		return types.Canonical{}, 0, false
	}
	if len(can.Attestation) > s.maxAtt {
		// As Rekor: the entry is logged, its attestation is not kept.
		s.logger.Info("not storing attestation over the size limit", "size", len(can.Attestation), "limit", s.maxAtt)
		can.Attestation = nil
	}
	return can, wait, true
}

// writeCreated answers a write with its new entry: 201, the EntryID as
// ETag and Location, the LogEntry.
func (s *Server) writeCreated(w http.ResponseWriter, a *entryAnswer) {
	id := string(a.enc.appendEntryID(make([]byte, 0, 80), a.e.LeafHash))
	w.Header().Set("ETag", id)
	w.Header().Set("Location", entriesPath+id)
	s.enc.write(w, http.StatusCreated, func(b []byte) []byte { return appendEntry(b, a) })
}

// createLogEntry is POST /api/v1/log/entries.
func (s *Server) createLogEntry(w http.ResponseWriter, r *http.Request) {
	can, wait, ok := s.proposal(w, r)
	if !ok {
		return
	}
	// Bounded: a hung database must not hold the client past the server's
	// write timeout (see DefaultWriteWait).
	ctx, cancel := context.WithTimeout(r.Context(), s.wait)
	defer cancel()
	sh, res, err := s.logs.Add(ctx, log.Leaf{Body: can.Body, SearchKeys: types.SearchKeyHashes(can.SearchKeys), Attestation: can.Attestation})
	var (
		dup      *log.DuplicateError
		tooLarge *log.EntryTooLargeError
		rejected *log.RejectedError
	)
	switch {
	case err == nil:
	case errors.As(err, &dup):
		// The entry may be in any log of the set, a frozen one too (Rekor
		// finds duplicates in the active shard only).
		id := entryID(dup.TreeID, dup.LeafHash)
		w.Header().Set("Location", entriesPath+id)
		writeError(w, http.StatusConflict, "an equivalent entry already exists in the transparency log with UUID "+id)
		return
	case errors.As(err, &tooLarge):
		// Every entry is also served in a C2SP entry bundle, which cannot
		// hold it; refused before it was queued.
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"the canonical entry is %d bytes; this log holds entries of at most %d bytes (the C2SP entry bundle limit)",
			tooLarge.Size, tooLarge.Limit))
		return
	case errors.As(err, &rejected):
		// The storage cannot hold this entry's data; it alone was refused
		// (the other entries of its batch were logged), and a retry would
		// be refused again: the client's entry, not the server, is at fault.
		writeError(w, http.StatusBadRequest, "error processing entry: the entry cannot be stored: "+rejected.Reason)
		return
	default:
		s.unavailable(w, r, err)
		return
	}
	head := rekorV1Head(sh, s.witnessedHead(ctx, w, sh, res.Entry.Index, res.Head, wait))
	a, err := s.answer(ctx, sh, res.Entry, head)
	if err != nil {
		// The entry is committed; only building the proof failed. A retry
		// gets 409 and the entry's location.
		s.unavailable(w, r, err)
		return
	}
	s.writeCreated(w, &a)
}

// unavailable answers for a failure of the log or its database: 503 with
// Retry-After, since such failures (pushback, an outage) pass.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, log.ErrPushback):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "too many pending entries; retry later")
	case errors.Is(err, log.ErrClosed):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the server is shutting down; retry later")
	case errors.Is(err, logset.ErrNoKey):
		// The active log is one this server holds no key for (rotated to a
		// new key not configured here yet): other replicas may write.
		s.logger.Error("cannot write", "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "this server cannot write to the active log; retry later")
	case errors.Is(err, log.ErrFrozen):
		// The active log changed again and again under one write.
		s.logger.Warn("write gave up following log rotations", "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "the log is rotating; retry later")
	case r.Context().Err() != nil:
		// The client is gone; nothing it could read.
		writeError(w, 499, "client disconnected during request")
	default:
		s.logger.Error("request failed", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "the transparency log is unavailable; retry later")
	}
}

// answer builds the answer for e, an entry of sh, with an inclusion proof
// against head (which must cover e).
func (s *Server) answer(ctx context.Context, sh *logset.Shard, e storage.Entry, head storage.TreeState) (entryAnswer, error) {
	proof, err := sh.Log.InclusionProof(ctx, e.Index, head.Size)
	if err != nil {
		return entryAnswer{}, fmt.Errorf("building inclusion proof in tree %d: %w", sh.TreeID(), err)
	}
	return entryAnswer{enc: s.enc.of(sh), e: e, head: head, proof: proof}, nil
}

// freshAnswer builds the answer for a stored entry of sh with a proof
// against sh's latest head.
func (s *Server) freshAnswer(ctx context.Context, sh *logset.Shard, e storage.Entry) (entryAnswer, error) {
	head, err := sh.Log.HeadCovering(ctx, e.Index)
	if err != nil {
		return entryAnswer{}, fmt.Errorf("reading the head of tree %d: %w", sh.TreeID(), err)
	}
	return s.answer(ctx, sh, e, head)
}

// writeEntry answers a GET with one stored entry of sh and a fresh proof.
func (s *Server) writeEntry(w http.ResponseWriter, r *http.Request, sh *logset.Shard, e storage.Entry) {
	a, err := s.freshAnswer(r.Context(), sh, e)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.enc.write(w, http.StatusOK, func(b []byte) []byte { return appendEntry(b, &a) })
}

// entryAt returns the entry of virtual index vi and its log, or
// storage.ErrNotFound.
func (s *Server) entryAt(ctx context.Context, vi uint64) (*logset.Shard, storage.Entry, error) {
	sh, local, err := s.logs.ByVirtualIndex(ctx, vi)
	if err != nil {
		return nil, storage.Entry{}, err
	}
	e, err := sh.Log.Entry(ctx, local)
	return sh, e, err
}

// notFound is the entry GETs' 404: no body, as in Rekor.
func notFound(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) }

// getLogEntryByIndex is GET /api/v1/log/entries?logIndex=N.
func (s *Server) getLogEntryByIndex(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("logIndex")
	if q == "" {
		writeError(w, http.StatusUnprocessableEntity, "logIndex in query is required")
		return
	}
	idx, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("logIndex in query must be of type int64: %q", q))
		return
	}
	if idx < 0 {
		writeError(w, http.StatusUnprocessableEntity, "logIndex in query should be greater than or equal to 0")
		return
	}
	sh, e, err := s.entryAt(r.Context(), uint64(idx))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		s.unavailable(w, r, err)
	default:
		s.writeEntry(w, r, sh, e)
	}
}

// entryIDPattern is the schema of entryUUID in the path and of entryUUIDs in
// a search: a request that does not match gets 422, as go-openapi answers in
// Rekor before the handler runs.
var entryIDPattern = regexp.MustCompile(`^([0-9a-fA-F]{64}|[0-9a-fA-F]{80})$`)

// entryRef is a parsed entryUUID: the leaf hash, and the tree ID of an
// 80-hex EntryID, or 0 for a 64-hex UUID (and for an EntryID with the tree
// ID 0, which Rekor reads as a plain UUID).
type entryRef struct {
	hash   merkle.Hash
	treeID uint64
}

// parseEntryID parses a 64-hex UUID or an 80-hex EntryID.
func parseEntryID(id string) (entryRef, error) {
	var ref entryRef
	uuid := id
	switch len(id) {
	case 64:
	case 80:
		tree, err := strconv.ParseUint(id[:16], 16, 64)
		if err != nil {
			return ref, fmt.Errorf("invalid entryID %s", id)
		}
		uuid, ref.treeID = id[16:], tree
	default:
		return ref, fmt.Errorf("invalid entryID %s", id)
	}
	b, err := hex.DecodeString(uuid)
	if err != nil {
		return ref, fmt.Errorf("invalid uuid %s", uuid)
	}
	copy(ref.hash[:], b)
	return ref, nil
}

// lookup finds an entry by reference: an EntryID in the log of its tree ID
// (storage.ErrNotFound for a tree that is none of the set's), a UUID in
// whichever log holds it.
func (s *Server) lookup(ctx context.Context, ref entryRef) (*logset.Shard, storage.Entry, error) {
	if ref.treeID == 0 {
		sh, local, err := s.logs.Locate(ctx, ref.hash)
		if err != nil {
			return nil, storage.Entry{}, err
		}
		e, err := sh.Log.Entry(ctx, local)
		return sh, e, err
	}
	if ref.treeID > math.MaxInt64 {
		return nil, storage.Entry{}, fmt.Errorf("tree %d: %w", ref.treeID, storage.ErrNotFound)
	}
	sh, err := s.logs.Shard(ctx, int64(ref.treeID))
	if err != nil {
		return nil, storage.Entry{}, err
	}
	e, err := sh.Log.EntryByLeafHash(ctx, ref.hash)
	return sh, e, err
}

// getLogEntryByUUID is GET /api/v1/log/entries/{entryUUID}.
func (s *Server) getLogEntryByUUID(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "entryUUID")
	if !entryIDPattern.MatchString(id) {
		writeError(w, http.StatusUnprocessableEntity, "entryUUID in path should match '"+entryIDPattern.String()+"'")
		return
	}
	ref, err := parseEntryID(id)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sh, e, err := s.lookup(r.Context(), ref)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		s.unavailable(w, r, err)
	default:
		s.writeEntry(w, r, sh, e)
	}
}

// getLogInfo is GET /api/v1/log: the active log's head, and each frozen
// log's final one under inactiveShards (oldest first; null when none, as
// Rekor encodes it).
func (s *Server) getLogInfo(w http.ResponseWriter, r *http.Request) {
	shards, err := s.logs.Shards(r.Context())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	var info models.LogInfo
	for _, sh := range shards {
		head, err := shardHead(r.Context(), sh)
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		if !sh.Active() {
			info.InactiveShards = append(info.InactiveShards, &models.InactiveShardLogInfo{
				RootHash:       hex.EncodeToString(head.Root[:]),
				SignedTreeHead: string(head.Checkpoint),
				TreeID:         strconv.FormatInt(sh.TreeID(), 10),
				TreeSize:       int64(head.Size),
			})
			continue
		}
		info.RootHash = hex.EncodeToString(head.Root[:])
		info.SignedTreeHead = string(head.Checkpoint)
		info.TreeID = strconv.FormatInt(sh.TreeID(), 10)
		info.TreeSize = int64(head.Size)
	}
	if info.TreeID == "" {
		s.unavailable(w, r, errors.New("no active log"))
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, info)
}

// shardHead returns the log's latest head; a frozen log's is its final one
// (read again if the log was frozen, by another process, after its cached
// head).
func shardHead(ctx context.Context, sh *logset.Shard) (storage.TreeState, error) {
	head, err := sh.Log.Head(ctx)
	if err != nil || sh.Active() || head.Size >= sh.Info.FinalSize {
		return head, err
	}
	return sh.Log.HeadCovering(ctx, sh.Info.FinalSize-1)
}

// treeIDPattern is the schema of the treeID query parameter.
var treeIDPattern = regexp.MustCompile(`^[0-9]+$`)

// shardParam returns the log an optional treeID query parameter names, or
// the active log without one, answering when it cannot: a treeID that is
// not a decimal gets 422 (Rekor's schema), one that is no log of the set
// 400 (as in Rekor).
func (s *Server) shardParam(w http.ResponseWriter, r *http.Request, query url.Values) (*logset.Shard, bool) {
	q := query.Get("treeID")
	if q == "" {
		sh, err := s.logs.Active(r.Context())
		if err != nil {
			s.unavailable(w, r, err)
			return nil, false
		}
		return sh, true
	}
	if !treeIDPattern.MatchString(q) {
		writeError(w, http.StatusUnprocessableEntity, "treeID in query should match '"+treeIDPattern.String()+"'")
		return nil, false
	}
	id, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown treeID %q", q))
		return nil, false
	}
	sh, err := s.logs.Shard(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown treeID %q", q))
		return nil, false
	case err != nil:
		s.unavailable(w, r, err)
		return nil, false
	}
	return sh, true
}

// getPublicKey is GET /api/v1/log/publicKey[?treeID=].
func (s *Server) getPublicKey(w http.ResponseWriter, r *http.Request) {
	sh, ok := s.shardParam(w, r, r.URL.Query())
	if !ok {
		return
	}
	pem, err := signer.PublicKeyPEM(sh.Log.Signer().Public())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(pem)
}

// sizeParam parses a tree-size query parameter (≥ 1); def applies when absent.
// Its errors are schema violations, answered with 422 as in Rekor.
func sizeParam(query url.Values, name string, def int64) (uint64, error) {
	q := query.Get(name)
	if q == "" {
		if def == 0 {
			return 0, fmt.Errorf("%s in query is required", name)
		}
		return uint64(def), nil
	}
	v, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s in query must be of type int64: %q", name, q)
	}
	if v < 1 {
		return 0, fmt.Errorf("%s in query should be greater than or equal to 1", name)
	}
	return uint64(v), nil
}

// getLogProof is GET /api/v1/log/proof?firstSize=&lastSize=[&treeID=]: a
// consistency proof in the named log (a frozen one's sizes go up to its
// final size), or in the active log.
func (s *Server) getLogProof(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query() // parsed once
	sh, ok := s.shardParam(w, r, query)
	if !ok {
		return
	}
	first, err := sizeParam(query, "firstSize", 1)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	last, err := sizeParam(query, "lastSize", 0)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if first > last {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("firstSize(%d) must be less than lastSize(%d)", first, last))
		return
	}
	head, err := sh.Log.Head(r.Context())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	if last > head.Size {
		if head, err = sh.Log.HeadCovering(r.Context(), last-1); errors.Is(err, log.ErrOutOfRange) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("the tree size requested(%d) was greater than what is currently observable(%d)", last, head.Size))
			return
		} else if err != nil {
			s.unavailable(w, r, err)
			return
		}
	}
	proof, err := sh.Log.ConsistencyProof(r.Context(), first, last)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	root, err := sh.Log.RootHash(r.Context(), last)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.enc.write(w, http.StatusOK, func(b []byte) []byte { return appendConsistencyProof(b, proof, root) })
}
