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
