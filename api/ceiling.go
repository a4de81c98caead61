package api

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/types"
)

// DefaultCeilingProofSize is the tree size the ceiling's dummy inclusion
// proofs claim (CeilingConfig.ProofSize): 20 hashes, a real proof's length
// in a log of a million entries.
const DefaultCeilingProofSize = 1 << 20

// CeilingConfig configures NewCeiling.
type CeilingConfig struct {
	// Types are the entry kinds accepted. Required.
	Types *types.Registry
	// Signer is the log key, Profile the log's profile: the SET of each
	// entry is Profile.SignEntry's signature with Signer, the dummy head's
	// checkpoint Profile's, signed once at start. Required.
	Signer  signer.Signer
	Profile log.Profile
	// TreeID is the log's tree ID: the EntryID prefix and the checkpoint
	// origin's.
	TreeID int64
	// ProofSize is the tree size of the one dummy head every answer's
	// inclusion proof is against; the proof has as many hashes as a real
	// one in a tree of that size (0: DefaultCeilingProofSize).
	ProofSize uint64
	// MaxRequestBody, MaxAttestationSize, Limits, Logger and Registerer
	// are Config's.
	MaxRequestBody     int64
	MaxAttestationSize int
	Limits             Limits
	Logger             *slog.Logger
	Registerer         prometheus.Registerer
}

// ceiling is the state of the ceiling server: what replaces the log.
type ceiling struct {
	signer    signer.Signer
	signEntry log.EntrySigner
	logID     [32]byte
	treeID    int64
	enc       *encoder
	head      storage.TreeState
	proof     []merkle.Hash
	next      atomic.Uint64
}

// NewCeiling builds a server that does the per-write work of
// POST /api/v1/log/entries that a log cannot avoid, and nothing else: the
// same router, middleware and limits as New's, the same reading and
// canonicalization of the proposed entry (its signature verified by its
// type), the entry's leaf hash, its SET signed with the log key, and the
// same LogEntry answer, without storage or a tree. The index comes from a
// counter; the inclusion proof is a dummy of a real one's size (a head
// signed once at start, ProofSize, and zero hashes), which does not
// verify: only the SET does. It also serves GET /api/v1/log (the counter as
// the tree size, the dummy head), GET /api/v1/log/publicKey and the probes,
// so that `tabula bench --ceiling` can load it. It measures the ceiling of
// the write path (issue 15); it is not a log.
func NewCeiling(cfg CeilingConfig) (http.Handler, error) {
	if cfg.Types == nil || cfg.Signer == nil {
		return nil, errors.New("api: the ceiling needs Types and Signer")
	}
	if cfg.Profile.SignEntry == nil || cfg.Profile.Origin == nil {
		return nil, errors.New("api: the ceiling's profile needs SignEntry and Origin")
	}
	size := cfg.ProofSize
	if size == 0 {
		size = DefaultCeilingProofSize
	}
	var root merkle.Hash // the dummy head's: zero
	cp, err := log.SignCheckpoint(cfg.Profile, cfg.Signer, cfg.Profile.Origin(cfg.TreeID), size, root)
	if err != nil {
		return nil, fmt.Errorf("api: the ceiling's head: %w", err)
	}
	logID := cfg.Signer.LogID()
	c := &ceiling{
		signer:    cfg.Signer,
		signEntry: cfg.Profile.SignEntry,
		logID:     logID,
		treeID:    cfg.TreeID,
		enc:       newEncoder(cfg.TreeID, logID, 0),
		head:      storage.TreeState{Size: size, Root: root, Checkpoint: cp},
		proof:     make([]merkle.Hash, bits.Len64(size-1)),
	}
	s := newServer(Config{
		Types:              cfg.Types,
		MaxRequestBody:     cfg.MaxRequestBody,
		MaxAttestationSize: cfg.MaxAttestationSize,
		Limits:             cfg.Limits,
		Logger:             cfg.Logger,
		Registerer:         cfg.Registerer,
	})
	r, limited := s.router()
	limited.Post("/api/v1/log/entries", func(w http.ResponseWriter, r *http.Request) { s.createCeilingEntry(w, r, c) })
	limited.Get("/api/v1/log", func(w http.ResponseWriter, r *http.Request) { c.logInfo(w) })
	limited.Get("/api/v1/log/publicKey", func(w http.ResponseWriter, r *http.Request) { c.publicKey(w) })
	r.Get("/healthz", healthz)
	r.Get("/readyz", healthz)
	return r, nil
}

// createCeilingEntry is the ceiling's POST /api/v1/log/entries:
// createLogEntry with the log's part (queueing, storage, the tree, the
// proof) replaced by a counter, the leaf hash and the SET.
func (s *Server) createCeilingEntry(w http.ResponseWriter, r *http.Request, c *ceiling) {
	can, _, ok := s.proposal(w, r)
	if !ok {
		return
	}
	e := storage.Entry{
		Index:          c.next.Add(1) - 1,
		LeafHash:       merkle.LeafHash(can.Body),
		Body:           can.Body,
		IntegratedTime: time.Now().Unix(),
		Attestation:    can.Attestation,
	}
	set, err := c.signEntry(c.signer, e.Body, e.IntegratedTime, c.logID, e.Index)
	if err != nil {
		s.unavailable(w, r, fmt.Errorf("signing the SET: %w", err))
		return
	}
	e.SET = set
	s.writeCreated(w, &entryAnswer{enc: c.enc, e: e, head: c.head, proof: c.proof})
}

// logInfo is the ceiling's GET /api/v1/log: the entries answered so far as
// the tree size, with the dummy head's root and checkpoint.
func (c *ceiling) logInfo(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, models.LogInfo{
		RootHash:       hex.EncodeToString(c.head.Root[:]),
		SignedTreeHead: string(c.head.Checkpoint),
		TreeID:         strconv.FormatInt(c.treeID, 10),
		TreeSize:       int64(c.next.Load()),
	})
}

// publicKey is the ceiling's GET /api/v1/log/publicKey.
func (c *ceiling) publicKey(w http.ResponseWriter) {
	pem, err := signer.PublicKeyPEM(c.signer.Public())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "encoding the public key: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(pem)
}
