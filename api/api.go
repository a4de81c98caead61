// Package api is Tabula's HTTP surface: the Rekor v1 REST API, the C2SP
// tlog-tiles read API, sigstore/timestamp-authority's API, and the health
// probes. Handlers are plain chi handlers; openapi.yaml at the repository
// root is the contract for the JSON API, and a test checks the router and
// the spec agree.
//
// Every error is a JSON {"code":…,"message":…} with a 4xx status for bad input
// (never a 500), except the entry GETs' 404, which has an empty body as in
// Rekor. The timestamp paths answer with timestamp-authority's statuses and
// messages (see timestamp.go).
package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/tsa"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/witness/submit"
)

// DefaultMaxRequestBody is the largest request body accepted, in bytes.
const DefaultMaxRequestBody = 4 << 20

// DefaultMaxAttestationSize is the largest attestation stored beside an entry,
// in bytes: Rekor's default (--max_attestation_size, 100 KiB).
const DefaultMaxAttestationSize = 100 << 10

// DefaultWriteWait bounds how long a write waits for its entry to be
// integrated and its proof built before answering 503. A hung database can
// hold a batch for the log's integration timeout plus its commit wait, and a
// write queued behind it for longer still; this keeps every write's answer
// well inside the HTTP server's write timeout (60 s by default), so that a
// client gets a 503 to retry instead of a cut connection.
const DefaultWriteWait = 30 * time.Second

// Config configures the HTTP handler.
type Config struct {
	// Logs are the logs served (Rekor v1's shards): new entries go to the
	// active one, every one is read. /readyz pings its database. Required.
	Logs *logset.Set
	// V2Logs are the Rekor v2 logs served, if any (nil: none): the active
	// one's C2SP tiles are read under /api/v2/, every one's under
	// /logs/{treeID}/.
	V2Logs *logset.Set
	// Types are the entry kinds accepted for new entries. Required.
	Types *types.Registry
	// TSA, if not nil, is served at /api/v1/timestamp and
	// /api/v1/timestamp/certchain.
	TSA *tsa.Authority
	// MaxRequestBody bounds request bodies; beyond it requests get 413.
	MaxRequestBody int64
	// MaxAttestationSize bounds the attestation stored beside an entry; a
	// larger one is not stored (the entry is), as in Rekor. 0 stores none.
	MaxAttestationSize int
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives HTTP metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// CanonicalKey returns the canonical bytes of a public key of a search
	// format (x509, pgp, minisign, ssh), whose SHA-256 is its index key; nil
	// supports x509 only.
	CanonicalKey func(format string, content []byte) ([]byte, error)
	// Limits caps concurrency and per-client request rates.
	Limits Limits
	// WriteWait bounds a write's wait for integration (0: DefaultWriteWait).
	// After it the write answers 503; its entry may still be integrated, and
	// a retry then gets 409.
	WriteWait time.Duration
	// Witnesses, if not nil, gets the logs' checkpoints cosigned by the
	// witnesses of their policies: the checkpoint paths then serve a
	// witnessed log's newest cosigned checkpoint (the latest log-only one
	// stays at latest-checkpoint beside them), writes may wait for one,
	// and /readyz reports the witnesses' status.
	Witnesses *submit.Manager
	// WitnessWait is how long a write to a witnessed log waits for a
	// cosigned checkpoint covering its entry, to prove its inclusion in
	// it, when the request does not say (0: writes do not wait). The
	// request header Tabula-Witness-Wait (seconds) overrides it, capped
	// by WitnessWaitMax (0: DefaultWitnessWaitMax).
	WitnessWait    time.Duration
	WitnessWaitMax time.Duration
	// UI, if not nil, is the explorer (package ui), served for GET on /,
	// /search, /entry/…, /log/…, /about, /about/… and /static/…, under the same
	// limits as the API; the API's routes keep their paths.
	UI http.Handler
}

// DefaultWitnessWaitMax caps the wait a write asks for in its
// Tabula-Witness-Wait header.
const DefaultWitnessWaitMax = 10 * time.Second

// Server serves the APIs.
type Server struct {
	logs    *logset.Set
	v2logs  *logset.Set
	types   *types.Registry
	tsa     *tsa.Authority
	maxBody int64
	maxAtt  int
	wait    time.Duration
	logger  *slog.Logger
	metrics *httpMetrics
	enc     *encoders

	keyCanonicalizer func(format string, content []byte) ([]byte, error)
	limits           Limits

	witnesses      *submit.Manager
	witnessWait    time.Duration
	witnessWaitMax time.Duration

	ui http.Handler
}

// New builds the HTTP handler.
func New(cfg Config) http.Handler { return newServer(cfg).routes() }

// newServer builds the server of cfg, with its defaults.
func newServer(cfg Config) *Server {
	s := &Server{
		logs:    cfg.Logs,
		v2logs:  cfg.V2Logs,
		types:   cfg.Types,
		tsa:     cfg.TSA,
		maxBody: cfg.MaxRequestBody,
		maxAtt:  cfg.MaxAttestationSize,
		wait:    cfg.WriteWait,
		logger:  cfg.Logger,
		metrics: newHTTPMetrics(cfg.Registerer),
		enc:     newEncoders(),

		keyCanonicalizer: cfg.CanonicalKey,
		limits:           cfg.Limits,

		witnesses:      cfg.Witnesses,
		witnessWait:    cfg.WitnessWait,
		witnessWaitMax: cfg.WitnessWaitMax,

		ui: cfg.UI,
	}
	if s.witnessWaitMax <= 0 {
		s.witnessWaitMax = DefaultWitnessWaitMax
	}
	if s.wait <= 0 {
		s.wait = DefaultWriteWait
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxRequestBody
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// router returns the router with the middleware every request passes
// (trailing slashes stripped, metrics, panic recovery, the JSON 404 and
// 405), and beside it the same router under the limits, for every route
// but the probes.
func (s *Server) router() (*chi.Mux, chi.Router) {
	r := chi.NewRouter()
	r.Use(middleware.StripSlashes) // older sigstore-python sends trailing slashes
	r.Use(s.instrument)
	r.Use(s.recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "path "+r.URL.Path+" was not found")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
	})
	// Probes are exempt from the limits: a load balancer must see a busy
	// server as alive.
	return r, r.With(s.limit(s.limits))
}

func (s *Server) routes() http.Handler {
	r, limited := s.router()
	limited.Route("/api/v1", func(r chi.Router) {
		r.Post("/log/entries", s.createLogEntry)
		r.Get("/log/entries", s.getLogEntryByIndex)
		r.Get("/log/entries/{entryUUID}", s.getLogEntryByUUID)
		r.Get("/log", s.getLogInfo)
		r.Get("/log/publicKey", s.getPublicKey)
		r.Get("/log/proof", s.getLogProof)
		r.Post("/log/entries/retrieve", s.searchLogQuery)
		r.Post("/index/retrieve", s.searchIndex)
		if s.tsa != nil {
			r.With(middleware.NoCache).Post("/timestamp", s.timestamp)
			r.Get("/timestamp/certchain", s.timestampCertChain)
		}
	})

	limited.Get("/checkpoint", s.getCheckpoint)
	limited.Get("/latest-checkpoint", s.getLatestCheckpoint)
	limited.Get("/tile/*", s.getTile)
	limited.Get("/logs", s.getLogs)
	limited.Post("/logs/search", s.searchLogs)
	limited.Get("/logs/{treeID}/checkpoint", s.getCheckpoint)
	limited.Get("/logs/{treeID}/latest-checkpoint", s.getLatestCheckpoint)
	limited.Get("/logs/{treeID}/tile/*", s.getTile)
	limited.Get("/logs/{treeID}/entries/{index}", s.getLogEntryAt)
	limited.Post("/api/v2/log/entries", s.createV2Entry)
	// Rekor v2's read path: the active v2 log's tiles, where rekor-tiles
	// clients and witnesses read them (<base>/api/v2/).
	limited.Get("/api/v2/checkpoint", s.getCheckpoint)
	limited.Get("/api/v2/latest-checkpoint", s.getLatestCheckpoint)
	limited.Get("/api/v2/tile/*", s.getTile)
	// Every log under <base>/api/v2/ too, base /logs/{treeID}: where a
	// rekor-tiles reader or a witness feeder configured with a log's base
	// URL reads a frozen Rekor v2 log.
	limited.Get("/logs/{treeID}/api/v2/checkpoint", s.getCheckpoint)
	limited.Get("/logs/{treeID}/api/v2/latest-checkpoint", s.getLatestCheckpoint)
	limited.Get("/logs/{treeID}/api/v2/tile/*", s.getTile)

	if s.ui != nil {
		for _, p := range UIRoutes {
			limited.Get(p, s.ui.ServeHTTP)
		}
	}

	r.Get("/healthz", healthz)
	r.Get("/readyz", s.readyz)
	r.Get("/ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("."))
	})
	return r
}

// healthz is GET /healthz: the process is up.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz reports whether the database answers: a load balancer should stop
// sending traffic to a replica that cannot reach it. Witness failures do
// not make a replica unready (the log goes on without them); the body
// reports the witnessed logs' submission status after its "ok" line.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := contextWithTimeout(r, 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.logs.Ping(ctx); err != nil {
		s.logger.Warn("not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unreachable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
	if s.witnesses != nil {
		_, _ = w.Write(witnessStatus(s.witnesses.Status()))
	}
}

// UIRoutes are the paths of Config.UI in the router (GET only).
var UIRoutes = []string{"/", "/search", "/entry/*", "/log/*", "/about", "/about/*", "/static/*"}

// Routes lists the method and pattern of every route, for the test that
// checks the router against openapi.yaml.
func Routes(h http.Handler) ([][2]string, error) {
	var out [][2]string
	err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, [2]string{method, route})
		return nil
	})
	return out, err
}
