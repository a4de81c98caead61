package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tabularium/tabula/logset"
)

// logDescription is one log of GET /logs: what a client needs to trust and
// read it (Tabula's own document; Rekor has none).
type logDescription struct {
	TreeID string `json:"treeID"`
	// API is the protocol the log speaks: "v1" (Rekor v1) or "v2" (Rekor v2).
	API    string `json:"api"`
	Origin string `json:"origin"`
	State  string `json:"state"`
	// StartIndex is the virtual index of the log's first entry (Rekor v1's
	// shards); Rekor v2 logs have none.
	StartIndex *uint64 `json:"startIndex,omitempty"`
	TreeSize   uint64  `json:"treeSize"`
	Checkpoint string  `json:"checkpoint"`
	// PublicKey is the DER SubjectPublicKeyInfo (base64 in JSON, as every
	// []byte), KeyID the 32-byte key ID
	// of its checkpoints (Rekor v1: the log ID; Rekor v2: the C2SP key
	// ID), KeyName the key name of their signature line.
	PublicKey []byte    `json:"publicKey"`
	KeyID     []byte    `json:"keyID"`
	KeyName   string    `json:"keyName"`
	CreatedAt time.Time `json:"createdAt"`
}

// getLogs is GET /logs: every log of the server, Rekor v1 ones first, each
// API's oldest first.
func (s *Server) getLogs(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Logs []logDescription `json:"logs"`
	}{Logs: []logDescription{}}
	for _, set := range []*logset.Set{s.logs, s.v2logs} {
		if set == nil {
			continue
		}
		shards, err := set.Shards(r.Context())
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		for _, sh := range shards {
			d, err := describe(r.Context(), sh)
			if err != nil {
				s.unavailable(w, r, err)
				return
			}
			out.Logs = append(out.Logs, d)
		}
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, out)
}

// describe is sh's entry of GET /logs.
func describe(ctx context.Context, sh *logset.Shard) (logDescription, error) {
	head, err := shardHead(ctx, sh)
	if err != nil {
		return logDescription{}, err
	}
	p := sh.Log.Profile()
	id, err := p.KeyIDForm.KeyID(p.KeyName, sh.Log.Signer().Public())
	if err != nil {
		return logDescription{}, err
	}
	d := logDescription{
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

// foundEntry is one answer of POST /logs/search.
type foundEntry struct {
	TreeID string `json:"treeID"`
	API    string `json:"api"`
	// Index is the entry's index in its log (a Rekor v1 entry's virtual
	// index is its log's startIndex + Index).
	Index uint64 `json:"index"`
	// UUID is the tree ID (16 hex digits) and the leaf hash, as Rekor v1's
	// entry IDs.
	UUID string `json:"uuid"`
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
	found := []foundEntry{}
	for _, set := range []*logset.Set{s.logs, s.v2logs} {
		if set == nil {
			continue
		}
		shards, err := set.Shards(r.Context())
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		for _, sh := range shards {
			idxs, err := searchLog(r.Context(), sh, terms, and)
			if err != nil {
				s.unavailable(w, r, err)
				return
			}
			if len(idxs) == 0 {
				continue
			}
			hashes, err := sh.Log.LeafHashes(r.Context(), idxs)
			if err != nil {
				s.unavailable(w, r, err)
				return
			}
			for i, h := range hashes {
				found = append(found, foundEntry{
					TreeID: strconv.FormatInt(sh.TreeID(), 10),
					API:    apiOf(sh.Info.Profile),
					Index:  idxs[i],
					UUID:   entryID(sh.TreeID(), h),
				})
			}
		}
	}
	writeJSON(w, http.StatusOK, found)
}
