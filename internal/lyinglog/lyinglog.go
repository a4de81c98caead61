// Package lyinglog is a transparency log that lies, for testing the tools
// that must catch it (tabula monitor, audit and loginfo).
//
// A Log holds a tree of entries in memory, signs real checkpoints with a
// fresh ECDSA P-256 key (in Rekor v1's form, as Tabula does; a Rekor v2 log
// of NewV2, with an Ed25519 key in C2SP's form) and serves them
// the way Tabula does: GET /checkpoint and the C2SP tiles and entry bundles
// (/tile/…), GET /api/v1/log, /api/v1/log/proof and /api/v1/log/publicKey.
// It also implements monitor.Log directly, without HTTP.
//
// It behaves until told to lie:
//
//   - Fork rewrites history: it keeps a prefix of the entries, appends others
//     and signs the new tree with the same key. Every checkpoint, tile and
//     proof it then serves is of the new tree, self-consistent, and
//     inconsistent with the checkpoints served before.
//   - DropEntry and ReplaceEntry make the entry bundles disagree with the
//     signed tree (an entry missing, or another body in its place) while the
//     checkpoint and the hash tiles stay honest.
//   - CorruptTile makes one hash tile disagree with the tree.
//
// The package does not import package testing; it is meant for tests only.
package lyinglog

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

// Hostname is the key name on the checkpoints' signature lines.
const Hostname = "lying.example"

// TreeID is the tree ID in the origin and in GET /api/v1/log.
const TreeID = "4242424242"

// ErrNotFound is returned (and served as 404) for a tile or bundle beyond
// the tree.
var ErrNotFound = errors.New("lyinglog: not found")

type tileKey struct {
	level uint8
	index uint64
}

// Log is a lying log. Its methods are safe for concurrent use.
type Log struct {
	priv   crypto.Signer
	signer *signer.Local
	pubPEM []byte
	treeID string
	// origin is a Rekor v2 log's origin, also the key name of its
	// checkpoints, signed in C2SP's key-ID form; "" for a Rekor v1 log.
	origin string

	mu         sync.Mutex
	entries    [][]byte // the signed tree's entries
	bundled    [][]byte // what the entry bundles hold (nil: entries)
	tiles      map[tileKey][]byte
	root       merkle.Hash
	checkpoint []byte
}

// New returns an empty log with a fresh key and tree ID [TreeID].
func New() (*Log, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewTree(TreeID, priv)
}

// NewTree returns an empty log with the given tree ID (decimal) and key.
func NewTree(treeID string, priv *ecdsa.PrivateKey) (*Log, error) {
	return newLog(treeID, "", priv)
}

// NewV2 returns an empty Rekor v2 log with the given tree ID (decimal),
// origin and key (nil: a fresh Ed25519 key): its checkpoints carry the
// origin and are signed under it as key name, with the C2SP key ID, as
// Tabula's and rekor-tiles' are.
func NewV2(treeID, origin string, priv crypto.Signer) (*Log, error) {
	if priv == nil {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	}
	return newLog(treeID, origin, priv)
}

func newLog(treeID, origin string, priv crypto.Signer) (*Log, error) {
	s, err := signer.New(priv)
	if err != nil {
		return nil, err
	}
	pub, err := signer.PublicKeyPEM(s.Public())
	if err != nil {
		return nil, err
	}
	l := &Log{priv: priv, signer: s, pubPEM: pub, treeID: treeID, origin: origin}
	if err := l.rebuild(nil); err != nil {
		return nil, err
	}
	return l, nil
}

// Origin is the checkpoints' origin line: "<Hostname> - <tree ID>" for a
// Rekor v1 log.
func (l *Log) Origin() string {
	if l.origin != "" {
		return l.origin
	}
	return Hostname + " - " + l.treeID
}

// V2 reports whether the log is a Rekor v2 log.
func (l *Log) V2() bool { return l.origin != "" }

// TreeID is the log's tree ID (decimal).
func (l *Log) TreeID() string { return l.treeID }

// PublicKeyPEM is the log key, to pin.
func (l *Log) PublicKeyPEM() []byte { return append([]byte(nil), l.pubPEM...) }

// Size is the size of the tree the log serves now.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.entries))
}

// Append adds entries honestly.
func (l *Log) Append(entries ...[]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := append(append([][]byte(nil), l.entries...), entries...)
	if l.bundled != nil {
		l.bundled = append(l.bundled, entries...)
	}
	return l.rebuild(all)
}

// Fork rewrites history: the log keeps its first keep entries, appends
// entries after them and signs the result with the same key. Any lie about
// the bundles is forgotten.
func (l *Log) Fork(keep uint64, entries ...[]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if keep > uint64(len(l.entries)) {
		return fmt.Errorf("lyinglog: fork keeping %d of %d entries", keep, len(l.entries))
	}
	all := append(append([][]byte(nil), l.entries[:keep]...), entries...)
	l.bundled = nil
	return l.rebuild(all)
}

// DropEntry makes the entry bundles leave out entry i: the later entries
// move up one place and the last bundle is one entry short. The checkpoint
// and the hash tiles still include it.
func (l *Log) DropEntry(i uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bundledLocked()
	if i >= uint64(len(b)) {
		return fmt.Errorf("lyinglog: no entry %d to drop", i)
	}
	l.bundled = append(append([][]byte(nil), b[:i]...), b[i+1:]...)
	return nil
}

// ReplaceEntry makes the entry bundles serve body in place of entry i.
func (l *Log) ReplaceEntry(i uint64, body []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := append([][]byte(nil), l.bundledLocked()...)
	if i >= uint64(len(b)) {
		return fmt.Errorf("lyinglog: no entry %d to replace", i)
	}
	b[i] = body
	l.bundled = b
	return nil
}

// CorruptTile flips a bit of the first hash of tile (level, index).
func (l *Log) CorruptTile(level uint8, index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.tiles[tileKey{level, index}]
	if !ok {
		return fmt.Errorf("lyinglog: no tile %d/%d", level, index)
	}
	t = append([]byte(nil), t...)
	t[0] ^= 1
	l.tiles[tileKey{level, index}] = t
	return nil
}

func (l *Log) bundledLocked() [][]byte {
	if l.bundled != nil {
		return l.bundled
	}
	return l.entries
}

// tileReader reads hash tiles from m.
func tileReader(m map[tileKey][]byte) merkle.TileReader {
	return merkle.TileReaderFunc(func(_ context.Context, level uint8, index uint64) ([]byte, error) {
		t, ok := m[tileKey{level, index}]
		if !ok {
			return nil, fmt.Errorf("tile %d/%d: %w", level, index, ErrNotFound)
		}
		return t, nil
	})
}

// rebuild makes the tree of entries from scratch and signs its checkpoint.
func (l *Log) rebuild(entries [][]byte) error {
	store := make(map[tileKey][]byte)
	leaves := make([]merkle.Hash, len(entries))
	for i, e := range entries {
		leaves[i] = merkle.LeafHash(e)
	}
	tiles, root, err := merkle.Append(context.Background(), tileReader(store), 0, leaves)
	if err != nil {
		return err
	}
	for _, t := range tiles {
		store[tileKey{t.Level, t.Index}] = t.Hashes
	}
	ns, err := checkpoint.NewSigner(Hostname, checkpoint.KeyIDRekorV1, l.signer)
	if l.origin != "" {
		ns, err = checkpoint.NewSigner(l.origin, checkpoint.KeyIDC2SP, l.signer)
	}
	if err != nil {
		return err
	}
	cp, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: l.Origin(), Size: uint64(len(entries)), Root: root}, ns)
	if err != nil {
		return err
	}
	l.entries, l.tiles, l.root, l.checkpoint = entries, store, root, cp
	return nil
}

// Checkpoint returns the signed checkpoint of the tree it serves now.
func (l *Log) Checkpoint(context.Context) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.checkpoint...), nil
}

// Tile returns the first width hashes of tile (level, index).
func (l *Log) Tile(_ context.Context, level uint8, index uint64, width int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.tiles[tileKey{level, index}]
	if !ok || width < 1 || width > merkle.TileWidth || len(t) < width*merkle.HashSize {
		return nil, fmt.Errorf("tile %d/%d width %d: %w", level, index, width, ErrNotFound)
	}
	return append([]byte(nil), t[:width*merkle.HashSize]...), nil
}

// EntryBundle returns the bundle of entries [256·index, 256·index+width),
// as far as the (possibly lying) bundled entries reach.
func (l *Log) EntryBundle(_ context.Context, index uint64, width int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := index * merkle.TileWidth
	if width < 1 || width > merkle.TileWidth || first+uint64(width) > uint64(len(l.entries)) {
		return nil, fmt.Errorf("entry bundle %d width %d: %w", index, width, ErrNotFound)
	}
	b := l.bundledLocked()
	var out []byte
	for i := first; i < first+uint64(width) && i < uint64(len(b)); i++ {
		var err error
		if out, err = merkle.AppendBundleEntry(out, b[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ConsistencyProof proves the tree of size first a prefix of the tree of
// size last, from the tiles it serves now.
func (l *Log) ConsistencyProof(ctx context.Context, first, last uint64) ([]merkle.Hash, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last > uint64(len(l.entries)) {
		return nil, fmt.Errorf("tree size %d: %w", last, ErrNotFound)
	}
	return merkle.ConsistencyProof(ctx, tileReader(l.tiles), first, last)
}

// Handler serves the log over HTTP as Tabula does (the read side only).
func (l *Log) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkpoint", func(w http.ResponseWriter, r *http.Request) { l.serveCheckpoint(w) })
	mux.HandleFunc("GET /tile/", func(w http.ResponseWriter, r *http.Request) {
		l.serveTile(w, r, strings.TrimPrefix(r.URL.Path, "/"))
	})
	mux.HandleFunc("GET /api/v1/log", func(w http.ResponseWriter, r *http.Request) {
		info := l.logInfo()
		info.InactiveShards = []*models.InactiveShardLogInfo{}
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("GET /api/v1/log/publicKey", func(w http.ResponseWriter, r *http.Request) { l.servePublicKey(w) })
	mux.HandleFunc("GET /api/v1/log/proof", l.serveProof)
	return mux
}

func (l *Log) serveCheckpoint(w http.ResponseWriter) {
	b, _ := l.Checkpoint(context.Background())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(b)
}

func (l *Log) servePublicKey(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(l.pubPEM)
}

// serveTile serves the tile or entry bundle at path ("tile/…").
func (l *Log) serveTile(w http.ResponseWriter, r *http.Request, path string) {
	p, err := merkle.ParseTilePath(path)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var b []byte
	if p.Entries {
		b, err = l.EntryBundle(r.Context(), p.Index, p.Width)
	} else {
		b, err = l.Tile(r.Context(), p.Level, p.Index, p.Width)
	}
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(b)
}

// logInfo is the log's part of GET /api/v1/log.
func (l *Log) logInfo() models.LogInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return models.LogInfo{
		RootHash:       hex.EncodeToString(l.root[:]),
		SignedTreeHead: string(l.checkpoint),
		TreeID:         l.treeID,
		TreeSize:       int64(len(l.entries)),
	}
}

func (l *Log) serveProof(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	first, err1 := strconv.ParseUint(q.Get("firstSize"), 10, 64)
	last, err2 := strconv.ParseUint(q.Get("lastSize"), 10, 64)
	if q.Get("lastSize") == "" {
		last, err2 = l.Size(), nil
	}
	if err1 != nil || err2 != nil || first > last {
		writeError(w, http.StatusBadRequest, "bad firstSize or lastSize")
		return
	}
	p, err := l.ConsistencyProof(r.Context(), first, last)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	hs := make([]string, len(p))
	for i := range p {
		hs[i] = hex.EncodeToString(p[i][:])
	}
	l.mu.Lock()
	root, err := merkle.RootHash(r.Context(), tileReader(l.tiles), last)
	l.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, models.ConsistencyProof{Hashes: hs, RootHash: hex.EncodeToString(root[:])})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"code": code, "message": msg})
}
