package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
)

// Full tiles and bundles never change: any cache may keep them forever.
const immutable = "public, max-age=31536000, immutable"

// getCheckpoint is GET /checkpoint (C2SP tlog-tiles).
func (s *Server) getCheckpoint(w http.ResponseWriter, r *http.Request) {
	head, err := s.log.Head(r.Context())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(head.Checkpoint)
}

// getTile is GET /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>].
func (s *Server) getTile(w http.ResponseWriter, r *http.Request) {
	p, err := merkle.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid tile path: "+err.Error())
		return
	}
	var b []byte
	if p.Entries {
		b, err = s.log.EntryBundle(r.Context(), p.Index, p.Width)
	} else {
		b, err = s.log.Tile(r.Context(), p.Level, p.Index, p.Width)
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
