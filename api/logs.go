package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/search"
)

// eachShard calls f for every log of the server, Rekor v1 ones first, each
// API's oldest first, and stops at f's first error.
func (s *Server) eachShard(ctx context.Context, f func(sh *logset.Shard) error) error {
	for _, set := range []*logset.Set{s.logs, s.v2logs} {
		if set == nil {
			continue
		}
		shards, err := set.Shards(ctx)
		if err != nil {
			return err
		}
		for _, sh := range shards {
			if err := f(sh); err != nil {
				return err
			}
		}
	}
	return nil
}

// getLogs is GET /logs: every log of the server, Rekor v1 ones first, each
// API's oldest first.
func (s *Server) getLogs(w http.ResponseWriter, r *http.Request) {
	out := models.Logs{Logs: []models.LogDescription{}}
	err := s.eachShard(r.Context(), func(sh *logset.Shard) error {
		d, err := describe(r.Context(), sh)
		out.Logs = append(out.Logs, d)
		return err
	})
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, out)
}

// describe is sh's entry of GET /logs.
func describe(ctx context.Context, sh *logset.Shard) (models.LogDescription, error) {
	head, err := shardHead(ctx, sh)
	if err != nil {
		return models.LogDescription{}, err
	}
	p := sh.Log.Profile()
	id, err := p.KeyIDForm.KeyID(p.KeyName, sh.Log.Signer().Public())
	if err != nil {
		return models.LogDescription{}, err
	}
	d := models.LogDescription{
		TreeID:     strconv.FormatInt(sh.TreeID(), 10),
		API:        apiOf(sh.Info.Profile),
		Origin:     sh.Log.Origin(),
		State:      string(sh.Info.State),
		TreeSize:   head.Size,
		Checkpoint: string(head.Checkpoint),
		PublicKey:  sh.Info.PublicKey,
		KeyID:      id[:],
		KeyName:    p.KeyName,
		CreatedAt:  sh.Info.CreatedAt.UTC(),
	}
	if d.API == "v1" {
		start := sh.Info.StartIndex
		d.StartIndex = &start
	}
	return d, nil
}

// apiOf names the API of a log of profile: v1 or v2 for Rekor's.
func apiOf(profile string) string {
	switch profile {
	case "rekor-v1":
		return "v1"
	case "rekor-v2":
		return "v2"
	}
	return profile
}

// searchLogs is POST /logs/search: /api/v1/index/retrieve's query over
// every log of the server, Rekor v2 ones too (Rekor v2 has no search); the
// answer names each entry's log and index. Rekor v1 logs come first, each
// API's logs oldest first, each log's entries by index.
func (s *Server) searchLogs(w http.ResponseWriter, r *http.Request) {
	terms, and, ok := s.searchTerms(w, r)
	if !ok {
		return
	}
	found := []models.FoundEntry{}
	err := s.eachShard(r.Context(), func(sh *logset.Shard) error {
		idxs, err := search.Log(r.Context(), sh, terms, and)
		if err != nil || len(idxs) == 0 {
			return err
		}
		hashes, err := sh.Log.LeafHashes(r.Context(), idxs)
		if err != nil {
			return err
		}
		for i, h := range hashes {
			found = append(found, models.FoundEntry{
				TreeID: strconv.FormatInt(sh.TreeID(), 10),
				API:    apiOf(sh.Info.Profile),
				Index:  idxs[i],
				UUID:   entryID(sh.TreeID(), h),
			})
		}
		return nil
	})
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, found)
}
