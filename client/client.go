// Package client is a Go client for a Rekor v1 compatible transparency log
// such as Tabula: the /api/v1 REST API (create an entry, read it by UUID or
// index, retrieve and search, log info, consistency proofs, the public key)
// and the C2SP tlog-tiles read API (checkpoint, Merkle tiles, entry bundles).
//
// The client only moves bytes and decodes JSON; it trusts nothing it reads.
// Check what it returns with package verify: inclusion proofs, checkpoint
// signatures, signed entry timestamps and consistency proofs.
//
// Errors from the server are *Error values carrying Rekor's {code, message}
// body and the HTTP status; use errors.As to inspect them.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/merkle"
)

// DefaultServer is the base URL a local Tabula listens on.
const DefaultServer = "http://127.0.0.1:3000"

// maxResponse bounds any response body read into memory (64 MiB).
const maxResponse = 64 << 20

// Client talks to one log. Its zero value is not usable; call New.
type Client struct {
	base      *url.URL
	hc        *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the log at server, a base URL such as
// "http://127.0.0.1:3000" (a path prefix is kept).
func New(server string, opts ...Option) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("client: parsing server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: server URL %q: scheme must be http or https", server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q has no host", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, hc: http.DefaultClient, userAgent: "tabula-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Server returns the base URL the client talks to.
func (c *Client) Server() string { return c.base.String() }

// Error is an error answered by the server: the HTTP status and Rekor's
// {code, message} body (Code and Message are empty when the body was not
// Rekor's error JSON, as for a bare 404).
type Error struct {
	StatusCode int
	Code       int
	Message    string
	Method     string
	Path       string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.StatusCode, msg)
}

// IsNotFound reports whether err is a 404 from the server.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// do sends a request and returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte, want ...int) ([]byte, http.Header, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s %s: reading response: %w", method, path, err)
	}
	if len(b) > maxResponse {
		return nil, nil, fmt.Errorf("client: %s %s: response larger than %d bytes", method, path, maxResponse)
	}
	ok := resp.StatusCode/100 == 2
	if len(want) > 0 {
		ok = false
		for _, w := range want {
			ok = ok || resp.StatusCode == w
		}
	}
	if !ok {
		e := &Error{StatusCode: resp.StatusCode, Method: method, Path: path}
		var m models.Error
		if json.Unmarshal(b, &m) == nil {
			e.Code, e.Message = m.Code, m.Message
		}
		return nil, nil, e
	}
	return b, resp.Header, nil
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	return c.doJSON(ctx, http.MethodGet, path, q, nil, v)
}

// doJSON sends a request and decodes the JSON of its 2xx (or want) answer
// into v.
func (c *Client) doJSON(ctx context.Context, method, path string, q url.Values, body []byte, v any, want ...int) error {
	b, _, err := c.do(ctx, method, path, q, body, want...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("client: %s %s: decoding response: %w", method, path, err)
	}
	return nil
}

// one returns the only entry of a LogEntry map.
func one(le models.LogEntry) (string, models.LogEntryAnon, error) {
	if len(le) != 1 {
		return "", models.LogEntryAnon{}, fmt.Errorf("client: response holds %d entries, want 1", len(le))
	}
	for k, v := range le {
		return k, v, nil
	}
	panic("unreachable")
}

// CreateEntry posts a proposed entry (the JSON of a kind, such as
// {"apiVersion":"0.0.1","kind":"hashedrekord","spec":{…}}) and returns its
// UUID and the logged entry with its proof and signed entry timestamp. An
// entry already in the log is an *Error with status 409 Conflict.
func (c *Client) CreateEntry(ctx context.Context, proposed []byte) (string, models.LogEntryAnon, error) {
	var le models.LogEntry
	if err := c.doJSON(ctx, http.MethodPost, "/api/v1/log/entries", nil, proposed, &le, http.StatusCreated); err != nil {
		return "", models.LogEntryAnon{}, err
	}
	return one(le)
}

// EntryByUUID reads an entry by its UUID (64 hex leaf hash, or 80 hex with
// the tree ID in front).
func (c *Client) EntryByUUID(ctx context.Context, uuid string) (string, models.LogEntryAnon, error) {
	var le models.LogEntry
	if err := c.getJSON(ctx, "/api/v1/log/entries/"+url.PathEscape(uuid), nil, &le); err != nil {
		return "", models.LogEntryAnon{}, err
	}
	return one(le)
}

// EntryByIndex reads the entry at a log index.
func (c *Client) EntryByIndex(ctx context.Context, index int64) (string, models.LogEntryAnon, error) {
	var le models.LogEntry
	q := url.Values{"logIndex": {strconv.FormatInt(index, 10)}}
	if err := c.getJSON(ctx, "/api/v1/log/entries", q, &le); err != nil {
		return "", models.LogEntryAnon{}, err
	}
	return one(le)
}

// RetrieveEntries is POST /api/v1/log/entries/retrieve: entries by UUID,
// by index or by proposed entry. Entries not found are left out.
func (c *Client) RetrieveEntries(ctx context.Context, q models.SearchLogQuery) ([]models.LogEntry, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("client: encoding query: %w", err)
	}
	var out []models.LogEntry
	if err := c.doJSON(ctx, http.MethodPost, "/api/v1/log/entries/retrieve", nil, body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SearchIndex is POST /api/v1/index/retrieve: the UUIDs of the entries for
// an artifact digest ("sha256:<hex>"), a public key, an email or a subject.
func (c *Client) SearchIndex(ctx context.Context, q models.SearchIndex) ([]string, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("client: encoding query: %w", err)
	}
	var out []string
	if err := c.doJSON(ctx, http.MethodPost, "/api/v1/index/retrieve", nil, body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// LogInfo is GET /api/v1/log: the tree size, root hash, tree ID and signed
// checkpoint of the active shard.
func (c *Client) LogInfo(ctx context.Context) (models.LogInfo, error) {
	var li models.LogInfo
	err := c.getJSON(ctx, "/api/v1/log", nil, &li)
	return li, err
}

// ConsistencyProof is GET /api/v1/log/proof: a proof that the tree of size
// first is a prefix of the tree of size last. treeID may be empty.
func (c *Client) ConsistencyProof(ctx context.Context, first, last int64, treeID string) (models.ConsistencyProof, error) {
	q := url.Values{"firstSize": {strconv.FormatInt(first, 10)}, "lastSize": {strconv.FormatInt(last, 10)}}
	if treeID != "" {
		q.Set("treeID", treeID)
	}
	var p models.ConsistencyProof
	err := c.getJSON(ctx, "/api/v1/log/proof", q, &p)
	return p, err
}

// PublicKey is GET /api/v1/log/publicKey: the log's key as PEM. treeID may
// be empty. Fetching the key from the log itself proves nothing; pin it.
func (c *Client) PublicKey(ctx context.Context, treeID string) ([]byte, error) {
	q := url.Values{}
	if treeID != "" {
		q.Set("treeID", treeID)
	}
	b, _, err := c.do(ctx, http.MethodGet, "/api/v1/log/publicKey", q, nil)
	return b, err
}

// Checkpoint is GET /checkpoint (C2SP tlog-tiles): the latest signed
// checkpoint as a signed note.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/checkpoint", nil, nil)
	return b, err
}

// Tile reads Merkle tile (level, index); width 0 or 256 asks for the full
// tile, 1..255 for a partial one.
func (c *Client) Tile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error) {
	return c.tile(ctx, merkle.TilePath{Level: level, Index: index, Width: fullIfZero(width)})
}

// EntryBundle reads entry bundle index (entries 256·index onwards); width 0
// or 256 asks for the full bundle. Split it with merkle.ParseBundle.
func (c *Client) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	return c.tile(ctx, merkle.TilePath{Entries: true, Index: index, Width: fullIfZero(width)})
}

func fullIfZero(w int) int {
	if w == 0 {
		return merkle.TileWidth
	}
	return w
}

func (c *Client) tile(ctx context.Context, p merkle.TilePath) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/"+p.String(), nil, nil)
	return b, err
}

// Tree reads one log of a server that holds several (Rekor's shards): its
// checkpoint, tiles and entry bundles under /logs/{treeID}/ (C2SP
// tlog-tiles), for any log of the set, active or frozen.
type Tree struct {
	c      *Client
	treeID string
}

// Tree returns a reader of the log with the given tree ID (decimal, as
// GET /api/v1/log names it).
func (c *Client) Tree(treeID string) *Tree { return &Tree{c: c, treeID: treeID} }

// TreeID is the tree ID the reader was made for.
func (t *Tree) TreeID() string { return t.treeID }

func (t *Tree) prefix() string { return "/logs/" + url.PathEscape(t.treeID) }

// Checkpoint is GET /logs/{treeID}/checkpoint: the log's latest signed
// checkpoint (a frozen log's final one).
func (t *Tree) Checkpoint(ctx context.Context) ([]byte, error) {
	b, _, err := t.c.do(ctx, http.MethodGet, t.prefix()+"/checkpoint", nil, nil)
	return b, err
}

// Tile reads Merkle tile (level, index) of the log, as [Client.Tile].
func (t *Tree) Tile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error) {
	return t.tile(ctx, merkle.TilePath{Level: level, Index: index, Width: fullIfZero(width)})
}

// EntryBundle reads entry bundle index of the log, as [Client.EntryBundle].
func (t *Tree) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	return t.tile(ctx, merkle.TilePath{Entries: true, Index: index, Width: fullIfZero(width)})
}

func (t *Tree) tile(ctx context.Context, p merkle.TilePath) ([]byte, error) {
	b, _, err := t.c.do(ctx, http.MethodGet, t.prefix()+"/"+p.String(), nil, nil)
	return b, err
}
