package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// Full tiles and bundles never change: any cache may keep them forever.
const immutable = "public, max-age=31536000, immutable"

// tileLog returns the log a C2SP read names: the one of the {treeID} path
// parameter under /logs/{treeID}/ (any log, Rekor v1 or v2, frozen ones
// included; 404 for no log), the active Rekor v2 log under /api/v2/ (404
// when there is none), else the active Rekor v1 log.
func (s *Server) tileLog(w http.ResponseWriter, r *http.Request) (*logset.Shard, bool) {
	q := chi.URLParam(r, "treeID")
	if q == "" {
		set := s.logs
		if strings.HasPrefix(r.URL.Path, "/api/v2/") {
			if set = s.v2logs; set == nil {
				writeError(w, http.StatusNotFound, "this server has no Rekor v2 log")
				return nil, false
			}
		}
		sh, err := set.Active(r.Context())
		switch {
		case errors.Is(err, logset.ErrNoLog):
			writeError(w, http.StatusNotFound, "this server has no active log of that API")
			return nil, false
		case err != nil:
			s.unavailable(w, r, err)
			return nil, false
		}
		return sh, true
	}
	id, err := strconv.ParseInt(q, 10, 64)
	if err != nil || id <= 0 || !treeIDPattern.MatchString(q) {
		writeError(w, http.StatusNotFound, "no log with tree ID "+strconv.Quote(q))
		return nil, false
	}
	sh, err := s.logs.Shard(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) && s.v2logs != nil {
		sh, err = s.v2logs.Shard(r.Context(), id)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "no log with tree ID "+strconv.Quote(q))
		return nil, false
	case err != nil:
		s.unavailable(w, r, err)
		return nil, false
	}
	return sh, true
}

// getTile is GET /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>], and
// the same under /logs/{treeID}/.
func (s *Server) getTile(w http.ResponseWriter, r *http.Request) {
	p, err := merkle.ParseTilePath("tile/" + chi.URLParam(r, "*"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid tile path: "+err.Error())
		return
	}
	sh, ok := s.tileLog(w, r)
	if !ok {
		return
	}
	var b []byte
	if p.Entries {
		b, err = sh.Log.EntryBundle(r.Context(), p.Index, p.Width)
	} else {
		b, err = sh.Log.Tile(r.Context(), p.Level, p.Index, p.Width)
	}
	switch {
	case errors.Is(err, log.ErrOutOfRange):
		writeError(w, http.StatusNotFound, "tile "+p.String()+" is beyond the current tree")
		return
	case err != nil:
		s.unavailable(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if p.Width == merkle.TileWidth {
		w.Header().Set("Cache-Control", immutable)
	} else {
		// A partial tile is final for its width, but the width a client asks
		// for depends on the checkpoint it holds: cache briefly.
		w.Header().Set("Cache-Control", "public, max-age=60")
	}
	_, _ = w.Write(b)
}
