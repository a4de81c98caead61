package client

import (
	"context"
	"net/http"
)

// LatestCheckpoint is GET /latest-checkpoint: the log's latest checkpoint
// signed by the log alone, where GET /checkpoint serves the newest one
// witnesses cosigned. A server without witnesses, or of an earlier
// release, answers 404 (IsNotFound): its /checkpoint is the latest.
func (c *Client) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/latest-checkpoint", nil, nil)
	return b, err
}

// LatestCheckpoint is GET /logs/{treeID}/latest-checkpoint, as
// [Client.LatestCheckpoint] for one log of the server.
func (t *Tree) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	b, _, err := t.c.do(ctx, http.MethodGet, t.prefix()+"/latest-checkpoint", nil, nil)
	return b, err
}
