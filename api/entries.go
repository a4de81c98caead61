package api

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/storage"
)

// parseEntryIndex parses the {index} of /logs/{treeID}/entries/{index}: a
// decimal of ASCII digits only (no sign, no spaces). A well-formed
// decimal too large for a uint64 is past any log's head: ok is true and
// past reports it, so that it gets 404 as any index past the head.
func parseEntryIndex(q string) (index uint64, past, ok bool) {
	if !treeIDPattern.MatchString(q) {
		return 0, false, false
	}
	i, err := strconv.ParseUint(q, 10, 64)
	if err != nil {
		return 0, true, true // only a range error is left
	}
	return i, false, true
}

// getLogEntryAt is GET /logs/{treeID}/entries/{index}: the entry of index
// in the log of treeID (any log of the server, Rekor v1 or v2, frozen ones
// included) with an inclusion proof against the log's latest checkpoint,
// the one /logs/{treeID}/latest-checkpoint serves (a frozen log's final
// one).
func (s *Server) getLogEntryAt(w http.ResponseWriter, r *http.Request) {
	q := chi.URLParam(r, "index")
	index, past, ok := parseEntryIndex(q)
	if !ok {
		writeError(w, http.StatusBadRequest, "index in path must be a decimal integer ≥ 0: "+strconv.Quote(q))
		return
	}
	sh, ok := s.tileLog(w, r)
	if !ok {
		return
	}
	pastHead := func() {
		writeError(w, http.StatusNotFound, "log "+strconv.FormatInt(sh.TreeID(), 10)+" has no entry at index "+q)
	}
	if past {
		pastHead()
		return
	}
	ctx := r.Context()
	head, err := shardHead(ctx, sh)
	if err == nil && index >= head.Size {
		// The cached head may be behind the tree (another replica wrote).
		head, err = sh.Log.HeadCovering(ctx, index)
	}
	switch {
	case errors.Is(err, log.ErrOutOfRange):
		pastHead()
		return
	case err != nil:
		s.unavailable(w, r, err)
		return
	}
	e, err := sh.Log.Entry(ctx, index)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		pastHead()
		return
	case err != nil:
		s.unavailable(w, r, err)
		return
	}
	proof, err := sh.Log.InclusionProof(ctx, index, head.Size)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	out := models.LogEntryAt{
		TreeID:   strconv.FormatInt(sh.TreeID(), 10),
		Origin:   sh.Log.Origin(),
		Index:    index,
		API:      apiOf(sh.Info.Profile),
		Body:     e.Body,
		LeafHash: hex.EncodeToString(e.LeafHash[:]),
		InclusionProof: models.LogEntryAtInclusionProof{
			TreeSize:   head.Size,
			RootHash:   hex.EncodeToString(head.Root[:]),
			Hashes:     make([]string, len(proof)),
			Checkpoint: string(head.Checkpoint),
		},
	}
	for i := range proof {
		out.InclusionProof.Hashes[i] = hex.EncodeToString(proof[i][:])
	}
	if out.API == "v1" {
		vi, t := sh.Info.StartIndex+index, e.IntegratedTime
		out.VirtualIndex, out.IntegratedTime = &vi, &t
		out.UUID = entryID(sh.TreeID(), e.LeafHash)
	} else {
		out.UUID = out.LeafHash
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, out)
}
