// Package feeder makes a witness fetch the checkpoints of logs that do not
// submit them (the log list's feed line): every interval, for each such
// log, it reads the log's checkpoint, the witness's size of it, a
// consistency proof between the two, and offers all three to the witness
// in-process (witness.AddCheckpoint), exactly as a log would over HTTP. The
// witness checks everything; the feeder trusts nothing it reads.
//
// Two kinds of logs:
//
//   - tiles: a c2sp.org/tlog-tiles log at URL: GET <URL>/checkpoint, and the
//     proof computed from its hash tiles (GET <URL>/tile/...).
//   - rekor: a Rekor v1 log at URL: GET <URL>/api/v1/log (its
//     signedTreeHead, or an inactive shard's when URL has ?treeID=N), and
//     GET <URL>/api/v1/log/proof?firstSize=&lastSize=&treeID=.
//
// Failures (the log unreachable, a refusal by the witness: a fork shows as
// 422) are logged and counted, never fatal; the next round tries again.
package feeder

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	fmtlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/witness"
)

// Limits on what a log's answers may weigh.
const (
	maxCheckpoint = 64 << 10
	maxJSON       = 1 << 20
	maxTile       = merkle.TileWidth * merkle.HashSize
)

// DefaultInterval is the time between two rounds when Config.Interval is 0.
const DefaultInterval = 30 * time.Second

// Config configures New.
type Config struct {
	Witness *witness.Witness
	// Client fetches from the logs; a client with a 30 s timeout if nil.
	Client *http.Client
	// Interval is the time between rounds (DefaultInterval if 0).
	Interval time.Duration
	Logger   *slog.Logger
	// Metrics registers the feeder's metrics; nil: none registered.
	Metrics prometheus.Registerer
}

// Feeder feeds a witness the checkpoints of its logs with a feed.
type Feeder struct {
	w        *witness.Witness
	client   *http.Client
	interval time.Duration
	logger   *slog.Logger
	logs     []witness.Log
	rounds   *prometheus.CounterVec
}

// Outcomes of one log's round, the outcome label of
// tabula_witness_feed_total.
const (
	OutcomeCosigned  = "cosigned"  // the witness cosigned a newer checkpoint
	OutcomeUnchanged = "unchanged" // the log has not grown
	OutcomeRefused   = "refused"   // the witness refused it (e.g. 422: inconsistent)
	OutcomeError     = "error"     // the log could not be read
)

// New returns the feeder of cfg's witness's logs that have a feed.
func New(cfg Config) (*Feeder, error) {
	if cfg.Witness == nil {
		return nil, errors.New("feeder: no witness")
	}
	f := &Feeder{w: cfg.Witness, client: cfg.Client, interval: cfg.Interval, logger: cfg.Logger}
	if f.client == nil {
		f.client = &http.Client{Timeout: 30 * time.Second}
	}
	if f.interval <= 0 {
		f.interval = DefaultInterval
	}
	if f.logger == nil {
		f.logger = slog.Default()
	}
	for _, l := range cfg.Witness.Logs() {
		if l.Feed == nil {
			continue
		}
		if l.Feed.Kind != witness.FeedTiles && l.Feed.Kind != witness.FeedRekor {
			return nil, fmt.Errorf("feeder: log %q: unknown feed kind %q", l.Origin, l.Feed.Kind)
		}
		f.logs = append(f.logs, l)
	}
	f.rounds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tabula_witness_feed_total",
		Help: "Feeder rounds by log origin and outcome (cosigned, unchanged, refused, error).",
	}, []string{"origin", "outcome"})
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(f.rounds); err != nil {
			return nil, fmt.Errorf("feeder: registering metrics: %w", err)
		}
	}
	return f, nil
}

// Logs returns the logs the feeder feeds.
func (f *Feeder) Logs() []witness.Log { return f.logs }

// Run feeds every log once per interval until ctx is done.
func (f *Feeder) Run(ctx context.Context) {
	if len(f.logs) == 0 {
		return
	}
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		for _, l := range f.logs {
			_ = f.Feed(ctx, l)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Feed runs one round for l: it returns the witness's refusal
// (*witness.Error) or the failure to read the log, after logging and
// counting it; nil when the checkpoint was cosigned or the log has not
// grown.
func (f *Feeder) Feed(ctx context.Context, l witness.Log) error {
	outcome, err := f.feed(ctx, l)
	f.rounds.WithLabelValues(l.Origin, outcome).Inc()
	switch outcome {
	case OutcomeRefused:
		f.logger.Warn("feeder: the witness refused the log's checkpoint", "origin", l.Origin, "err", err)
	case OutcomeError:
		f.logger.Warn("feeder: reading the log failed", "origin", l.Origin, "err", err)
	case OutcomeCosigned:
		f.logger.Debug("feeder: cosigned", "origin", l.Origin)
	}
	return err
}

func (f *Feeder) feed(ctx context.Context, l witness.Log) (string, error) {
	src, err := f.source(l)
	if err != nil {
		return OutcomeError, err
	}
	signed, err := src.checkpoint(ctx)
	if err != nil {
		return OutcomeError, err
	}
	// Read the size from the checkpoint, verified, before asking for proofs.
	n, err := note.Open(signed, note.VerifierList(l.Verifiers...))
	if err != nil {
		return OutcomeError, fmt.Errorf("the log's checkpoint: %w", err)
	}
	var cp fmtlog.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return OutcomeError, fmt.Errorf("the log's checkpoint: %w", err)
	}
	if cp.Origin != l.Origin {
		return OutcomeError, fmt.Errorf("the log's checkpoint has origin %q", cp.Origin)
	}
	// A 409 means the state moved since it was read (the log also pushes,
	// or another witness process fed it): read it again, once.
	for attempt := 1; ; attempt++ {
		old, err := f.w.Size(ctx, l.Origin)
		if err != nil {
			return OutcomeError, err
		}
		if cp.Size < old {
			return OutcomeError, fmt.Errorf("the log's checkpoint (size %d) is older than the witness's (size %d)", cp.Size, old)
		}
		var proof [][]byte
		if old > 0 && cp.Size > old {
			if proof, err = src.proof(ctx, old, cp.Size); err != nil {
				return OutcomeError, fmt.Errorf("consistency proof %d to %d: %w", old, cp.Size, err)
			}
		}
		_, err = f.w.AddCheckpoint(ctx, old, proof, signed)
		var we *witness.Error
		switch {
		case errors.As(err, &we) && we.Status == http.StatusConflict && attempt == 1:
			continue
		case errors.As(err, &we):
			return OutcomeRefused, err
		case err != nil:
			return OutcomeError, err
		case cp.Size == old && old > 0:
			return OutcomeUnchanged, nil
		}
		return OutcomeCosigned, nil
	}
}

type source interface {
	checkpoint(ctx context.Context) ([]byte, error)
	proof(ctx context.Context, from, to uint64) ([][]byte, error)
}

func (f *Feeder) source(l witness.Log) (source, error) {
	u, err := url.Parse(l.Feed.URL)
	if err != nil {
		return nil, fmt.Errorf("feed URL: %w", err)
	}
	switch l.Feed.Kind {
	case witness.FeedTiles:
		return &tiles{f: f, base: u}, nil
	case witness.FeedRekor:
		treeID := u.Query().Get("treeID")
		u.RawQuery = ""
		return &rekor{f: f, base: u, treeID: treeID}, nil
	}
	return nil, fmt.Errorf("unknown feed kind %q", l.Feed.Kind)
}

// get fetches u, at most limit bytes, and fails unless the status is 200.
func (f *Feeder) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: more than %d bytes", u, limit)
	}
	return b, nil
}

type tiles struct {
	f    *Feeder
	base *url.URL
}

func (t *tiles) checkpoint(ctx context.Context) ([]byte, error) {
	return t.f.get(ctx, t.base.JoinPath("checkpoint").String(), maxCheckpoint)
}

// proof computes the proof from the log's hash tiles of the tree of size to.
func (t *tiles) proof(ctx context.Context, from, to uint64) ([][]byte, error) {
	r := merkle.SizedTileReader(to, func(ctx context.Context, level uint8, index uint64, w int) ([]byte, error) {
		p := merkle.TilePath{Level: level, Index: index, Width: w}
		b, err := t.f.get(ctx, t.base.JoinPath(p.String()).String(), maxTile)
		if err != nil {
			return nil, err
		}
		if len(b) != w*merkle.HashSize {
			return nil, fmt.Errorf("tile %s: %d bytes, want %d", p, len(b), w*merkle.HashSize)
		}
		return b, nil
	})
	hs, err := merkle.ConsistencyProof(ctx, r, from, to)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out, nil
}

type rekor struct {
	f      *Feeder
	base   *url.URL
	treeID string // "" for the active shard
}

// logInfo is the part of Rekor v1's GET /api/v1/log the feeder reads.
type logInfo struct {
	TreeID         string `json:"treeID"`
	SignedTreeHead string `json:"signedTreeHead"`
	InactiveShards []struct {
		TreeID         string `json:"treeID"`
		SignedTreeHead string `json:"signedTreeHead"`
	} `json:"inactiveShards"`
}

func (r *rekor) checkpoint(ctx context.Context) ([]byte, error) {
	b, err := r.f.get(ctx, r.base.JoinPath("api/v1/log").String(), maxJSON)
	if err != nil {
		return nil, err
	}
	var info logInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("GET api/v1/log: %w", err)
	}
	if r.treeID == "" || r.treeID == info.TreeID {
		return []byte(info.SignedTreeHead), nil
	}
	for _, s := range info.InactiveShards {
		if s.TreeID == r.treeID {
			return []byte(s.SignedTreeHead), nil
		}
	}
	return nil, fmt.Errorf("GET api/v1/log: no shard with tree ID %s", r.treeID)
}

func (r *rekor) proof(ctx context.Context, from, to uint64) ([][]byte, error) {
	u := r.base.JoinPath("api/v1/log/proof")
	q := url.Values{"firstSize": {strconv.FormatUint(from, 10)}, "lastSize": {strconv.FormatUint(to, 10)}}
	if r.treeID != "" {
		q.Set("treeID", r.treeID)
	}
	u.RawQuery = q.Encode()
	b, err := r.f.get(ctx, u.String(), maxJSON)
	if err != nil {
		return nil, err
	}
	var p struct {
		Hashes []string `json:"hashes"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	if len(p.Hashes) > witness.MaxProofLines {
		return nil, fmt.Errorf("consistency proof of %d hashes", len(p.Hashes))
	}
	out := make([][]byte, len(p.Hashes))
	for i, h := range p.Hashes {
		if out[i], err = hex.DecodeString(h); err != nil || len(out[i]) != merkle.HashSize {
			return nil, fmt.Errorf("consistency proof: hash %d is not hex SHA-256", i)
		}
	}
	return out, nil
}
