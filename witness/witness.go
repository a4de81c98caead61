// Package witness is a tlog-witness (c2sp.org/tlog-witness): it cosigns a
// log's checkpoint (c2sp.org/tlog-cosignature, Ed25519 cosignature/v1) only
// after checking that it is consistent with every checkpoint of that log it
// cosigned before, so that a log cannot show two views of itself to clients
// that require its cosignature.
//
// A Witness keeps, per configured log origin, the checkpoint it last
// cosigned, in a storage.WitnessState (PostgreSQL or SQLite). AddCheckpoint
// is the whole add-checkpoint operation; Handler serves it over HTTP
// (POST /add-checkpoint) with the monitoring door
// (GET /<hex SHA-256(origin)>/checkpoint).
//
// The stored note is the checkpoint text with the log's verified signature
// lines and this witness's cosignature appended (signatures by unknown keys,
// other witnesses' included, are dropped); it is what Latest returns and the
// monitoring door serves.
//
// The state advances by compare-and-swap on (size, root): several Witness
// processes may share one database, and none ever cosigns two different
// roots for one size of one origin, across restarts too. A request that
// loses the swap to another process is answered 409 with the size that
// process stored, as if it had come a moment later.
package witness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	fmtlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/storage"
)

// Limits of an add-checkpoint request.
const (
	// MaxProofLines is the most consistency-proof lines a request may carry
	// (tlog-witness: 63).
	MaxProofLines = 63
	// MaxBodySize bounds an add-checkpoint body; larger ones get 413.
	MaxBodySize = 64 << 10
)

// Log is a log the witness cosigns.
type Log struct {
	// Origin is the checkpoints' origin line.
	Origin string
	// Verifiers are the log's keys; a checkpoint signed by any of them is
	// accepted (several during a key change).
	Verifiers []note.Verifier
	// Feed is how the witness fetches the log's checkpoints itself; nil
	// when the log submits them.
	Feed *Feed
}

// Feed says where the feeder (package witness/feeder) reads a log.
type Feed struct {
	// Kind is "tiles" (a c2sp.org/tlog-tiles log: <URL>/checkpoint and
	// tiles) or "rekor" (a Rekor v1 log: <URL>/api/v1/log and its proofs).
	Kind string
	// URL is the log's base URL; for "rekor" it may carry ?treeID=N to
	// pick an inactive shard.
	URL string
}

// Feed kinds.
const (
	FeedTiles = "tiles"
	FeedRekor = "rekor"
)

// Config configures New.
type Config struct {
	// Signer is the witness's cosigning key.
	Signer *checkpoint.CosignatureSigner
	// Logs are the logs the witness cosigns; their origins are distinct.
	Logs []Log
	// State holds what the witness cosigned; it may be shared by several
	// processes.
	State storage.WitnessState
	// Logger is slog.Default() if nil.
	Logger *slog.Logger
	// Metrics registers the witness's metrics; nil: none registered.
	Metrics prometheus.Registerer
}

// Witness is a tlog-witness. It is safe for concurrent use.
type Witness struct {
	signer  *checkpoint.CosignatureSigner
	logs    map[string]*Log // by origin
	order   []string        // origins in configuration order
	byHash  map[string]string
	state   storage.WitnessState
	logger  *slog.Logger
	metrics *metrics
}

type metrics struct {
	requests *prometheus.CounterVec
	size     *prometheus.GaugeVec
}

// New returns the witness of cfg.
func New(cfg Config) (*Witness, error) {
	if cfg.Signer == nil {
		return nil, errors.New("witness: no signer")
	}
	if cfg.State == nil {
		return nil, errors.New("witness: no state store")
	}
	w := &Witness{
		signer: cfg.Signer,
		logs:   make(map[string]*Log, len(cfg.Logs)),
		byHash: make(map[string]string, len(cfg.Logs)),
		state:  cfg.State,
		logger: cfg.Logger,
	}
	if w.logger == nil {
		w.logger = slog.Default()
	}
	for i := range cfg.Logs {
		l := cfg.Logs[i]
		if l.Origin == "" {
			return nil, fmt.Errorf("witness: log %d has no origin", i)
		}
		if _, dup := w.logs[l.Origin]; dup {
			return nil, fmt.Errorf("witness: log origin %q listed twice", l.Origin)
		}
		if len(l.Verifiers) == 0 {
			return nil, fmt.Errorf("witness: log %q has no key", l.Origin)
		}
		for _, v := range l.Verifiers {
			if v == nil {
				return nil, fmt.Errorf("witness: log %q has a nil key", l.Origin)
			}
		}
		w.logs[l.Origin] = &l
		w.order = append(w.order, l.Origin)
		w.byHash[OriginHash(l.Origin)] = l.Origin
	}
	w.metrics = &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabula_witness_requests_total",
			Help: "add-checkpoint requests by log origin (a configured one, or \"unknown\") and HTTP status code.",
		}, []string{"origin", "code"}),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tabula_witness_cosigned_size",
			Help: "Tree size of the checkpoint this process last cosigned, by log origin.",
		}, []string{"origin"}),
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{w.metrics.requests, w.metrics.size} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("witness: registering metrics: %w", err)
			}
		}
	}
	return w, nil
}

// OriginHash is the lowercase hex SHA-256 of origin, the path segment of the
// monitoring door.
func OriginHash(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return fmt.Sprintf("%x", h)
}

// Logs returns the configured logs, in configuration order.
func (w *Witness) Logs() []Log {
	out := make([]Log, 0, len(w.order))
	for _, o := range w.order {
		out = append(out, *w.logs[o])
	}
	return out
}

// VKey is the witness's cosignature/v1 vkey, for policies.
func (w *Witness) VKey() string {
	return checkpoint.CosignatureVKey(w.signer.Name(), w.signer.Verifier().Public())
}

// Error is a refusal of AddCheckpoint, with its HTTP status.
type Error struct {
	// Status is the tlog-witness HTTP status code.
	Status int
	// Size is the witness's size of the log, for 409.
	Size uint64
	// Msg says why, for the submitter.
	Msg string
}

func (e *Error) Error() string {
	if e.Status == http.StatusConflict {
		return fmt.Sprintf("witness: %d: %s (witness size %d)", e.Status, e.Msg, e.Size)
	}
	return fmt.Sprintf("witness: %d: %s", e.Status, e.Msg)
}

func refuse(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// emptyRoot is the root of the empty tree (RFC 6962: SHA-256 of nothing).
var emptyRoot = sha256.Sum256(nil)

// AddCheckpoint is the whole tlog-witness operation: it checks signed, a
// checkpoint of a configured log, against the witness's state of that log,
// whose size must be oldSize, with proof the consistency proof from it; on
// success it stores the checkpoint and returns this witness's cosignature
// line(s). A refusal is an *Error carrying the HTTP status; any other error
// is the store's (500).
func (w *Witness) AddCheckpoint(ctx context.Context, oldSize uint64, proof [][]byte, signed []byte) ([]byte, error) {
	l, n, cp, err := w.open(signed)
	if err != nil {
		return nil, err
	}
	if oldSize > cp.Size {
		return nil, refuse(http.StatusBadRequest, "old size %d exceeds the checkpoint's size %d", oldSize, cp.Size)
	}
	if len(proof) > MaxProofLines {
		return nil, refuse(http.StatusBadRequest, "%d proof lines, at most %d", len(proof), MaxProofLines)
	}
	for i, h := range proof {
		if len(h) != sha256.Size {
			return nil, refuse(http.StatusBadRequest, "proof hash %d is %d bytes", i, len(h))
		}
	}
	if cp.Size == 0 && cp.Root != emptyRoot {
		return nil, refuse(http.StatusUnprocessableEntity, "a checkpoint of size 0 whose root is not the empty tree's")
	}
	if oldSize == 0 && len(proof) > 0 {
		return nil, refuse(http.StatusUnprocessableEntity, "a consistency proof from size 0 must be empty")
	}
	stored, err := w.current(ctx, l.Origin)
	if err != nil {
		return nil, err
	}
	var have uint64
	if stored != nil {
		have = stored.Size
	}
	if oldSize != have {
		return nil, &Error{Status: http.StatusConflict, Size: have, Msg: fmt.Sprintf("old size %d is not the witness's size", oldSize)}
	}
	oldRoot := emptyRoot
	if stored != nil {
		oldRoot = stored.Root
	}
	if stored != nil && stored.Size == cp.Size && stored.Root != cp.Root {
		return nil, refuse(http.StatusUnprocessableEntity, "size %d has another root at the witness", cp.Size)
	}
	if oldSize > 0 {
		if err := verifyConsistency(oldSize, cp.Size, proof, oldRoot, cp.Root); err != nil {
			return nil, refuse(http.StatusUnprocessableEntity, "consistency proof from size %d to %d: %v", oldSize, cp.Size, err)
		}
	}
	line, err := w.cosign(n.Text)
	if err != nil {
		return nil, err
	}
	if stored != nil && stored.Size == cp.Size {
		// The checkpoint the witness holds: cosign again, store nothing.
		return line, nil
	}
	next := storage.WitnessCheckpoint{Origin: l.Origin, Size: cp.Size, Root: cp.Root, Note: storedNote(n, line)}
	if err := w.state.SwapWitnessCheckpoint(ctx, stored, next); err != nil {
		if !errors.Is(err, storage.ErrStaleTree) {
			return nil, fmt.Errorf("witness: storing %s size %d: %w", l.Origin, cp.Size, err)
		}
		// Another process moved the state since it was read.
		now, err := w.current(ctx, l.Origin)
		if err != nil {
			return nil, err
		}
		var size uint64
		if now != nil {
			size = now.Size
		}
		return nil, &Error{Status: http.StatusConflict, Size: size, Msg: "the witness's state moved"}
	}
	w.metrics.size.WithLabelValues(l.Origin).Set(float64(cp.Size))
	w.logger.Debug("witness: cosigned", "origin", l.Origin, "size", cp.Size, "old", oldSize)
	return line, nil
}

func verifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 storage.Hash) error {
	return proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, p, root1[:], root2[:])
}

// open finds signed's log by its origin line and verifies the log's
// signature: 404 for an unknown origin, 403 without a verified signature of
// the log or with a bad one by a key of the log, 400 for a malformed note.
func (w *Witness) open(signed []byte) (*Log, *note.Note, checkpoint.Checkpoint, error) {
	origin, _, ok := bytes.Cut(signed, []byte{'\n'})
	if !ok || len(origin) == 0 {
		return nil, nil, checkpoint.Checkpoint{}, refuse(http.StatusBadRequest, "malformed checkpoint: no origin line")
	}
	if !utf8.Valid(origin) || bytes.ContainsFunc(origin, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, nil, checkpoint.Checkpoint{}, refuse(http.StatusBadRequest, "malformed checkpoint: control character or invalid UTF-8 in the origin line")
	}
	l, ok := w.logs[string(origin)]
	if !ok {
		return nil, nil, checkpoint.Checkpoint{}, refuse(http.StatusNotFound, "unknown log")
	}
	n, err := note.Open(signed, note.VerifierList(l.Verifiers...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, nil, checkpoint.Checkpoint{}, refuse(http.StatusForbidden, "no signature by a key of the log")
		case errors.As(err, &invalid):
			return nil, nil, checkpoint.Checkpoint{}, refuse(http.StatusForbidden, "invalid signature by key %s+%08x of the log", invalid.Name, invalid.Hash)
		}
		return nil, nil, checkpoint.Checkpoint{}, refuse(http.StatusBadRequest, "malformed signed note: %v", err)
	}
	var c fmtlog.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
		return nil, nil, checkpoint.Checkpoint{}, refuse(http.StatusBadRequest, "malformed checkpoint: %v", err)
	}
	if c.Origin != l.Origin || len(c.Hash) != sha256.Size {
		return nil, nil, checkpoint.Checkpoint{}, refuse(http.StatusBadRequest, "malformed checkpoint: root of %d bytes", len(c.Hash))
	}
	// Only the canonical encoding: no leading zeros, strict base64.
	canon := c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Hash) + "\n"
	if !strings.HasPrefix(n.Text, canon) {
		return nil, nil, checkpoint.Checkpoint{}, refuse(http.StatusBadRequest, "malformed checkpoint: size or root not in canonical form")
	}
	return l, n, checkpoint.Checkpoint{Origin: c.Origin, Size: c.Size, Root: storage.Hash(c.Hash)}, nil
}

// current is the stored checkpoint of origin, nil if none.
func (w *Witness) current(ctx context.Context, origin string) (*storage.WitnessCheckpoint, error) {
	cp, err := w.state.WitnessCheckpoint(ctx, origin)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("witness: reading the state of %s: %w", origin, err)
	}
	return &cp, nil
}

// cosign returns the cosignature line of text, "— <name> <base64(key hint ||
// timestamp || signature)>\n".
func (w *Witness) cosign(text string) ([]byte, error) {
	sig, err := w.signer.Sign([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("witness: cosigning: %w", err)
	}
	b := make([]byte, 4, 4+len(sig))
	binary.BigEndian.PutUint32(b, w.signer.KeyHash())
	b = append(b, sig...)
	return []byte("— " + w.signer.Name() + " " + base64.StdEncoding.EncodeToString(b) + "\n"), nil
}

// storedNote is n's text, its verified signatures (the log's) and line.
func storedNote(n *note.Note, line []byte) []byte {
	var b bytes.Buffer
	b.WriteString(n.Text)
	b.WriteByte('\n')
	for _, s := range n.Sigs {
		b.WriteString("— " + s.Name + " " + s.Base64 + "\n")
	}
	b.Write(line)
	return b.Bytes()
}

// Latest returns the stored cosigned checkpoint of origin, or an error
// matching storage.ErrNotFound if the witness never cosigned one (or the
// origin is not configured).
func (w *Witness) Latest(ctx context.Context, origin string) ([]byte, error) {
	if _, ok := w.logs[origin]; !ok {
		return nil, fmt.Errorf("witness: log %q is not configured: %w", origin, storage.ErrNotFound)
	}
	cp, err := w.state.WitnessCheckpoint(ctx, origin)
	if err != nil {
		return nil, fmt.Errorf("witness: latest checkpoint of %s: %w", origin, err)
	}
	return cp.Note, nil
}

// Size returns the witness's size of origin: 0 if it never cosigned one.
func (w *Witness) Size(ctx context.Context, origin string) (uint64, error) {
	cp, err := w.current(ctx, origin)
	if err != nil || cp == nil {
		return 0, err
	}
	return cp.Size, nil
}

// ParseAddCheckpoint parses an add-checkpoint request body: "old <size>\n",
// up to 63 lines of base64 SHA-256 hashes, a blank line, and the signed
// checkpoint (returned unparsed, aliasing body). The size is decimal
// without leading zeros.
func ParseAddCheckpoint(body []byte) (oldSize uint64, proof [][]byte, signed []byte, err error) {
	line, rest, ok := bytes.Cut(body, []byte{'\n'})
	if !ok {
		return 0, nil, nil, errors.New("no old line")
	}
	num, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return 0, nil, nil, errors.New("the first line is not old <size>")
	}
	oldSize, err = parseSize(num)
	if err != nil {
		return 0, nil, nil, err
	}
	for {
		line, rest, ok = bytes.Cut(rest, []byte{'\n'})
		if !ok {
			return 0, nil, nil, errors.New("no blank line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(proof) == MaxProofLines {
			return 0, nil, nil, fmt.Errorf("more than %d proof lines", MaxProofLines)
		}
		if len(line) != base64.StdEncoding.EncodedLen(sha256.Size) {
			return 0, nil, nil, fmt.Errorf("proof line %d is not a base64 SHA-256 hash", len(proof)+1)
		}
		h := make([]byte, sha256.Size+2)
		n, err := base64.StdEncoding.Strict().Decode(h, line)
		if err != nil || n != sha256.Size {
			return 0, nil, nil, fmt.Errorf("proof line %d is not a base64 SHA-256 hash", len(proof)+1)
		}
		proof = append(proof, h[:sha256.Size:sha256.Size])
	}
	if len(rest) == 0 {
		return 0, nil, nil, errors.New("no checkpoint")
	}
	return oldSize, proof, rest, nil
}

// parseSize parses a decimal uint64 without sign or leading zeros.
func parseSize(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 1 && b[0] == '0' {
		return 0, fmt.Errorf("old size %q is not a decimal size", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("old size %q is not a decimal size", b)
		}
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("old size %q is not a decimal size", b)
	}
	return n, nil
}
