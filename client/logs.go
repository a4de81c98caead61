package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tabularium/tabula/api/models"
)

// LogDescription is one log of GET /logs (Tabula's own document): what a
// client needs to trust and read it. Nothing in it is checked; the key ID,
// for one, is the server's word until recomputed from PublicKey.
type LogDescription struct {
	TreeID string `json:"treeID"`
	// API is "v1" (Rekor v1) or "v2" (Rekor v2).
	API    string `json:"api"`
	Origin string `json:"origin"`
	// State is "active" or "frozen".
	State string `json:"state"`
	// StartIndex is the virtual index of the log's first entry (v1 only).
	StartIndex *uint64 `json:"startIndex,omitempty"`
	TreeSize   uint64  `json:"treeSize"`
	Checkpoint string  `json:"checkpoint"`
	// PublicKey is the DER SubjectPublicKeyInfo of the log key.
	PublicKey []byte `json:"publicKey"`
	// KeyID is the 32-byte checkpoint key ID: the log ID (v1), the C2SP
	// key ID (v2).
	KeyID     []byte    `json:"keyID"`
	KeyName   string    `json:"keyName"`
	CreatedAt time.Time `json:"createdAt"`
}

// Logs is GET /logs: every log of the server, Rekor v1 ones first, each
// API's oldest first.
func (c *Client) Logs(ctx context.Context) ([]LogDescription, error) {
	var out struct {
		Logs []LogDescription `json:"logs"`
	}
	if err := c.getJSON(ctx, "/logs", nil, &out); err != nil {
		return nil, err
	}
	if out.Logs == nil {
		return nil, fmt.Errorf("client: GET /logs: no logs list")
	}
	return out.Logs, nil
}

// TimestampCertChain is GET /api/v1/timestamp/certchain: the timestamp
// authority's PEM certificate chain, signing certificate first, root last.
func (c *Client) TimestampCertChain(ctx context.Context) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/api/v1/timestamp/certchain", nil, nil)
	return b, err
}

// Found is one entry POST /logs/search found.
type Found struct {
	TreeID string `json:"treeID"`
	// API is "v1" (Rekor v1) or "v2" (Rekor v2).
	API string `json:"api"`
	// Index is the entry's index in its log.
	Index uint64 `json:"index"`
	// UUID is the tree ID (16 hex digits) and the leaf hash.
	UUID string `json:"uuid"`
}

// SearchLogs is POST /logs/search: SearchIndex's query over every log of a
// Tabula server, Rekor v2 logs too. Other servers answer it 404
// (IsNotFound).
func (c *Client) SearchLogs(ctx context.Context, q models.SearchIndex) ([]Found, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("client: encoding query: %w", err)
	}
	var out []Found
	if err := c.doJSON(ctx, http.MethodPost, "/logs/search", nil, body, &out); err != nil {
		return nil, err
	}
	return out, nil
}
