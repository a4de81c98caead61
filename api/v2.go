package api

// The Rekor v2 write API (sigstore/rekor-tiles): POST /api/v2/log/entries.
// Reads are the C2SP tiles of the active v2 log under /api/v2/ (tiles.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/rekorv2"
)

// gRPC status codes of Rekor v2's errors (grpc-gateway writes them in the
// body beside the HTTP status).
const (
	grpcInvalidArgument = 3
	grpcAlreadyExists   = 6
	grpcUnavailable     = 14
)

// frozenV2 is rekor-tiles' answer to a write when its log is read-only
// (405, plain text).
const frozenV2 = "This log has been frozen, please switch to the latest log.\n"

// writeAPIError writes an error in the shape of the API r is for:
// grpc-gateway's under /api/v2/ (Rekor v2), Rekor v1's elsewhere. It is for
// the answers every route shares (limits, body reading).
func writeAPIError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if !strings.HasPrefix(r.URL.Path, "/api/v2/") {
		writeError(w, status, msg)
		return
	}
	code := 2 // Unknown
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		code = grpcInvalidArgument
	case http.StatusRequestTimeout:
		code = 4 // DeadlineExceeded
	case http.StatusTooManyRequests:
		code = 8 // ResourceExhausted
	case http.StatusServiceUnavailable:
		code = grpcUnavailable
	}
	writeV2Error(w, status, code, msg)
}

// writeV2Error writes grpc-gateway's error body, {"code","message","details"}.
func writeV2Error(w http.ResponseWriter, status, code int, msg string) {
	b, _ := json.Marshal(struct {
		Code    int      `json:"code"`
		Message string   `json:"message"`
		Details []string `json:"details"`
	}{code, msg, []string{}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// createV2Entry is POST /api/v2/log/entries: a hashedrekord 0.0.2 request
// (protojson CreateEntryRequest) is checked and verified as rekor-tiles
// does, added to the active Rekor v2 log, and answered, as soon as its
// batch commits, with a TransparencyLogEntry: its index, the log's key ID,
// an inclusion proof and the checkpoint it is proved against.
func (s *Server) createV2Entry(w http.ResponseWriter, r *http.Request) {
	if s.v2logs == nil { // before reading or verifying anything
		writeV2Error(w, http.StatusNotFound, 5, "this server has no Rekor v2 log")
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	wait, err := s.witnessWaitOf(r)
	if err != nil {
		writeV2Error(w, http.StatusBadRequest, grpcInvalidArgument, err.Error())
		return
	}
	e, err := rekorv2.CanonicalizeJSON(body)
	if err != nil {
		var invalid *rekorv2.Error
		if errors.As(err, &invalid) {
			writeV2Error(w, http.StatusBadRequest, invalid.Code, invalid.Message)
			return
		}
		writeV2Error(w, http.StatusBadRequest, grpcInvalidArgument, rekorv2.MsgInvalidEntry+": "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.wait)
	defer cancel()
	sh, res, err := s.v2logs.Add(ctx, log.Leaf{Body: e.Body, SearchKeys: types.SearchKeyHashes(e.SearchKeys)})
	var (
		dup      *log.DuplicateError
		tooLarge *log.EntryTooLargeError
		rejected *log.RejectedError
	)
	switch {
	case err == nil:
	case errors.As(err, &dup):
		// Always found: the leaf hash is unique across every log (Rekor v2
		// remembers only its last 256 entries). The index is the log's own.
		w.Header().Set("X-Log-Index", strconv.FormatUint(dup.Index, 10))
		writeV2Error(w, http.StatusConflict, grpcAlreadyExists,
			fmt.Sprintf("an equivalent entry already exists in the transparency log with index %d", dup.Index))
		return
	case errors.Is(err, logset.ErrNoLog):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(frozenV2))
		return
	case errors.As(err, &tooLarge):
		writeV2Error(w, http.StatusBadRequest, grpcInvalidArgument, fmt.Sprintf(
			"%s: the canonical entry is %d bytes; a log holds entries of at most %d bytes (the C2SP entry bundle limit)",
			rekorv2.MsgInvalidEntry, tooLarge.Size, tooLarge.Limit))
		return
	case errors.As(err, &rejected):
		writeV2Error(w, http.StatusBadRequest, grpcInvalidArgument, rekorv2.MsgInvalidEntry+": the entry cannot be stored: "+rejected.Reason)
		return
	default:
		s.v2Unavailable(w, r, err)
		return
	}
	head := s.witnessedHead(ctx, w, sh, res.Entry.Index, res.Head, wait)
	proof, err := sh.Log.InclusionProof(ctx, res.Entry.Index, head.Size)
	if err != nil {
		s.v2Unavailable(w, r, fmt.Errorf("building inclusion proof in tree %d: %w", sh.TreeID(), err))
		return
	}
	keyID, err := sh.Log.Profile().KeyIDForm.KeyID(sh.Log.KeyName(), sh.Log.Signer().Public())
	if err != nil {
		s.v2Unavailable(w, r, err)
		return
	}
	hashes := make([][]byte, len(proof))
	for i := range proof {
		hashes[i] = proof[i][:]
	}
	tle := &protorekor.TransparencyLogEntry{
		LogIndex:    int64(res.Entry.Index),
		LogId:       &protocommon.LogId{KeyId: keyID[:]},
		KindVersion: &protorekor.KindVersion{Kind: rekorv2.Kind, Version: rekorv2.APIVersion},
		InclusionProof: &protorekor.InclusionProof{
			LogIndex:   int64(res.Entry.Index),
			RootHash:   head.Root[:],
			TreeSize:   int64(head.Size),
			Hashes:     hashes,
			Checkpoint: &protorekor.Checkpoint{Envelope: string(head.Checkpoint)},
		},
		CanonicalizedBody: res.Entry.Body,
	}
	out, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(tle)
	if err != nil {
		s.v2Unavailable(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(out)
}

// v2Unavailable answers a failure of the log or its database as Rekor v2
// answers pushback: 503, gRPC code 14, with Retry-After.
func (s *Server) v2Unavailable(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Retry-After", "1")
	switch {
	case errors.Is(err, log.ErrPushback):
		writeV2Error(w, http.StatusServiceUnavailable, grpcUnavailable, "reached max pushback; retry")
	case r.Context().Err() != nil:
		writeV2Error(w, 499, 1, "client disconnected during request")
	default:
		s.logger.Error("request failed", "path", r.URL.Path, "err", err)
		writeV2Error(w, http.StatusServiceUnavailable, grpcUnavailable, "the transparency log is unavailable; retry later")
	}
}
