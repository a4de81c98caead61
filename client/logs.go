package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tabularium/tabula/api/models"
)

// LogDescription is one log of GET /logs (Tabula's own document).
type LogDescription = models.LogDescription

// Logs is GET /logs: every log of the server, Rekor v1 ones first, each
// API's oldest first.
func (c *Client) Logs(ctx context.Context) ([]LogDescription, error) {
	var out models.Logs
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
type Found = models.FoundEntry

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
