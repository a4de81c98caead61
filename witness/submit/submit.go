// Package submit gets a log's checkpoints cosigned by the witnesses of a
// witness policy (c2sp.org/tlog-witness, c2sp.org/tlog-policy).
//
// A Submitter serves one log. While it holds the log's lease in the
// database (storage.LogSet.TryLease, so one process at a time submits a
// log's checkpoints however many replicas run), it reads the log's head
// and posts it to every witness of the policy that has not cosigned it, in
// parallel: `POST <witness URL>/add-checkpoint` with a consistency proof
// from the size the witness last cosigned. It learns that size from the
// witness's 409 answer (text/x.tlog.size) and refuses sizes larger than the
// head. Each request has a timeout; a witness that fails is retried after
// an exponential back-off, and no witness gets more than one submission per
// MinInterval (a submission answered 409 is retried at once with the proof
// from the size the witness gave: that is one submission).
//
// Every cosignature line a witness returns is verified with the policy's
// key for that witness before it is used; others are ignored. Once the
// verified cosignatures of the head meet the policy's quorum, the
// checkpoint with them (the log's signed note, its signature line and the
// cosignature lines) is checked once more and stored with
// storage.LogSet.StoreCosigned, where every replica finds it.
//
// One process submits a log at a time as long as a round (at most two
// requests of Timeout to each witness, in parallel) fits in the lease; if
// one outlasts it, another process may submit meanwhile, which is harmless:
// witnesses answer the late one 409, and a stored cosigned checkpoint
// never goes back.
//
// Witness failures never stop the log (fail-open): submission runs on its
// own goroutine, off the write path. Wait lets a caller who asks for it
// wait, bounded by its context, for a cosigned checkpoint covering a size.
package submit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/witness/policy"
)

// Defaults of Config.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMinInterval = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	DefaultLeaseTTL    = 10 * time.Second
	DefaultPoll        = 500 * time.Millisecond
)

// maxResponse bounds a witness's answer: a few cosignature lines or a size.
const maxResponse = 64 << 10

// SizeContentType is the content type of a witness's 409 answer.
const SizeContentType = "text/x.tlog.size"

// Config configures a Submitter.
type Config struct {
	// Policy names the witnesses, their keys and URLs, and the quorum.
	// Witnesses without a URL are not submitted to. Required.
	Policy *policy.Policy
	// TreeID and Origin are the log's.
	TreeID int64
	Origin string
	// LogVerifier verifies the log's signature on its checkpoints.
	// Required.
	LogVerifier note.Verifier
	// Store holds the cosigned checkpoints and the lease. Required.
	Store storage.LogSet
	// Head returns the log's latest signed checkpoint. Required.
	Head func(ctx context.Context) (storage.TreeState, error)
	// Proof returns the consistency proof from size from to size to (not
	// called for from 0 or from == to). Required.
	Proof func(ctx context.Context, from, to uint64) ([][]byte, error)
	// Holder is this process's identity for the lease. Required.
	Holder string
	// Client sends the submissions; nil: a new http.Client.
	Client *http.Client
	// Timeout bounds one request to a witness (0: DefaultTimeout).
	Timeout time.Duration
	// MinInterval is the least time between two submissions to a witness
	// (0: DefaultMinInterval).
	MinInterval time.Duration
	// MaxBackoff bounds the back-off after failures (0: DefaultMaxBackoff).
	MaxBackoff time.Duration
	// LeaseTTL is how long the lease lasts unless renewed (0:
	// DefaultLeaseTTL). Another process takes over at most about
	// LeaseTTL after this one stopped.
	LeaseTTL time.Duration
	// Poll is how often the head is read while the lease is held (0:
	// DefaultPoll); Kick makes it look at once.
	Poll time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Metrics, shared by the submitters of a process; nil: none.
	Metrics *Metrics
}

// Status is a Submitter's state, for /readyz.
type Status struct {
	TreeID int64  `json:"treeID"`
	Origin string `json:"origin"`
	// Leader reports whether this process holds the log's lease (only the
	// leader submits; the others' witness states are not updated).
	Leader bool `json:"leader"`
	// HeadSize is the size of the head last read; CosignedSize the size of
	// the newest cosigned checkpoint known.
	HeadSize     uint64          `json:"headSize"`
	CosignedSize uint64          `json:"cosignedSize"`
	LastCosigned time.Time       `json:"lastCosigned,omitzero"`
	Witnesses    []WitnessStatus `json:"witnesses"`
}

// WitnessStatus is what a Submitter knows of one witness.
type WitnessStatus struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Size is the last size it cosigned (or told in a 409).
	Size        uint64    `json:"size"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	// Failures counts the failures since the last success.
	Failures int `json:"failures"`
}

// witnessState is a witness's state, guarded by Submitter.mu.
type witnessState struct {
	url         string // the add-checkpoint URL; "" when the policy gives none
	size        uint64 // what the witness is known to hold
	sizeKnown   bool
	next        time.Time // no submission before
	failures    int
	lastSuccess time.Time
	lastErr     string
	// line is its verified cosignature line of (lineSize, lineRoot).
	line     []byte
	lineSize uint64
	lineRoot storage.Hash
}

// Submitter submits one log's checkpoints to its witnesses. It is safe for
// concurrent use.
type Submitter struct {
	cfg   Config
	log   *slog.Logger
	lease string
	kick  chan struct{}

	mu       sync.Mutex
	w        []*witnessState
	leader   bool
	head     uint64
	cosigned storage.CosignedCheckpoint // newest known
	changed  chan struct{}              // closed and replaced when cosigned grows
}

// New checks cfg and returns a Submitter; Run runs it.
func New(cfg Config) (*Submitter, error) {
	switch {
	case cfg.Policy == nil || cfg.LogVerifier == nil || cfg.Store == nil || cfg.Head == nil || cfg.Proof == nil:
		return nil, errors.New("submit: Policy, LogVerifier, Store, Head and Proof are required")
	case cfg.Holder == "":
		return nil, errors.New("submit: no lease holder name")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Submitter{
		cfg:     cfg,
		log:     cfg.Logger.With("tree_id", cfg.TreeID, "origin", cfg.Origin),
		lease:   fmt.Sprintf("witness-submit/%d", cfg.TreeID),
		kick:    make(chan struct{}, 1),
		changed: make(chan struct{}),
	}
	for _, w := range cfg.Policy.Witnesses {
		st := &witnessState{}
		if w.URL != "" {
			u, err := url.Parse(w.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("submit: witness %s: bad URL %q", w.Name, w.URL)
			}
			st.url = u.JoinPath("add-checkpoint").String()
		}
		s.w = append(s.w, st)
	}
	return s, nil
}

// TreeID is the log's tree ID.
func (s *Submitter) TreeID() int64 { return s.cfg.TreeID }

// Kick makes Run look at the head at once (after a write); it never blocks.
func (s *Submitter) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run submits until ctx is done, then gives the lease up.
func (s *Submitter) Run(ctx context.Context) {
	var renewed time.Time // when the lease was last taken or renewed
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		s.mu.Lock()
		leader := s.leader
		s.mu.Unlock()
		// The lease is renewed (or tried for) every third of its TTL.
		if time.Since(renewed) >= s.cfg.LeaseTTL/3 {
			held, err := s.cfg.Store.TryLease(ctx, s.lease, s.cfg.Holder, s.cfg.LeaseTTL)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				s.log.Warn("witness submission: lease", "err", err)
				held = false
			}
			renewed = time.Now() // held or not, try again in a third of the TTL
			if held != leader {
				s.log.Info("witness submission: lease", "held", held)
			}
			s.mu.Lock()
			s.leader, leader = held, held
			s.mu.Unlock()
		}
		if leader {
			s.round(ctx)
		} else {
			s.refresh(ctx)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-s.kick:
		}
		if ctx.Err() != nil {
			break
		}
	}
	s.mu.Lock()
	leader := s.leader
	s.leader = false
	s.mu.Unlock()
	if leader {
		rctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		if _, err := s.cfg.Store.TryLease(rctx, s.lease, s.cfg.Holder, 0); err != nil {
			s.log.Warn("witness submission: giving the lease up", "err", err)
		}
	}
}

// refresh reads the stored cosigned checkpoint (another process's).
func (s *Submitter) refresh(ctx context.Context) storage.CosignedCheckpoint {
	cp, err := s.cfg.Store.LatestCosigned(ctx, s.cfg.TreeID)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) && ctx.Err() == nil {
			s.log.Warn("witness submission: reading the cosigned checkpoint", "err", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cosigned
	}
	s.noteCosigned(cp)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cosigned
}

// noteCosigned records cp as the newest cosigned checkpoint if it is.
func (s *Submitter) noteCosigned(cp storage.CosignedCheckpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cosigned.Note != nil && cp.Size < s.cosigned.Size ||
		cp.Size == s.cosigned.Size && bytes.Equal(cp.Note, s.cosigned.Note) {
		return
	}
	s.cosigned = cp
	close(s.changed)
	s.changed = make(chan struct{})
	if m := s.cfg.Metrics; m != nil {
		id := strconv.FormatInt(s.cfg.TreeID, 10)
		m.cosignedSize.WithLabelValues(id).Set(float64(cp.Size))
		if !cp.Stored.IsZero() {
			m.lastCosigned.WithLabelValues(id).Set(float64(cp.Stored.Unix()))
		}
	}
}

// round submits the head to the witnesses that lack it, and stores the
// cosigned checkpoint once the quorum is met.
func (s *Submitter) round(ctx context.Context) {
	head, err := s.cfg.Head(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("witness submission: reading the head", "err", err)
		}
		return
	}
	cosigned := s.refresh(ctx)
	s.mu.Lock()
	s.head = head.Size
	s.mu.Unlock()
	if m := s.cfg.Metrics; m != nil {
		lag := float64(0)
		if head.Size > cosigned.Size {
			lag = float64(head.Size - cosigned.Size)
		}
		m.lag.WithLabelValues(strconv.FormatInt(s.cfg.TreeID, 10)).Set(lag)
	}
	if head.Size == 0 || (cosigned.Note != nil && cosigned.Size >= head.Size) {
		return
	}
	now := time.Now()
	var wg sync.WaitGroup
	s.mu.Lock()
	for i, st := range s.w {
		if st.url == "" || st.has(head) || now.Before(st.next) {
			continue
		}
		if st.sizeKnown && st.size > head.Size {
			continue // our head is older than what the witness saw: it will grow
		}
		st.next = now.Add(s.cfg.MinInterval)
		old := cosigned.Size
		if st.sizeKnown {
			old = st.size
		}
		wg.Go(func() { s.submit(ctx, i, head, old) })
	}
	s.mu.Unlock()
	wg.Wait()
	s.assemble(ctx, head)
}

// has reports whether st holds a cosignature of head.
func (st *witnessState) has(head storage.TreeState) bool {
	return st.line != nil && st.lineSize == head.Size && st.lineRoot == head.Root
}

// assemble stores head with the cosignatures gathered when they meet the
// quorum.
func (s *Submitter) assemble(ctx context.Context, head storage.TreeState) {
	cosigned := map[int]bool{}
	signed := bytes.Clone(head.Checkpoint)
	s.mu.Lock()
	for i, st := range s.w {
		if st.has(head) {
			cosigned[i] = true
			signed = append(signed, st.line...)
		}
	}
	s.mu.Unlock()
	if !s.cfg.Policy.Quorum(cosigned) {
		return
	}
	if err := s.check(signed); err != nil {
		s.log.Error("witness submission: the assembled checkpoint does not verify", "size", head.Size, "err", err)
		return
	}
	cp := storage.CosignedCheckpoint{Size: head.Size, Note: signed}
	ok, err := s.cfg.Store.StoreCosigned(ctx, s.cfg.TreeID, cp)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("witness submission: storing the cosigned checkpoint", "size", head.Size, "err", err)
		}
		return
	}
	if ok {
		s.log.Debug("witness submission: cosigned", "size", head.Size, "witnesses", len(cosigned))
		cp.Stored = time.Now()
		s.noteCosigned(cp)
	}
}

// check verifies signed, an assembled checkpoint: the log's signature, and
// a quorum of the policy's witnesses' cosignatures; with policy.Verify too
// when the policy lists logs (a policy without log lines cannot verify a
// log's signature; the Manager applies a policy with them only to the logs
// it lists) and the origin is one of the log's key (policy.OriginOfKey).
func (s *Submitter) check(signed []byte) error {
	n, err := note.Open(signed, note.VerifierList(s.cfg.LogVerifier))
	if err != nil {
		return fmt.Errorf("the log's signature: %w", err)
	}
	cosigned := map[int]bool{}
	for _, sig := range n.UnverifiedSigs {
		for i, w := range s.cfg.Policy.Witnesses {
			if verifyLine(w.Verifier, []byte(n.Text), sig) {
				cosigned[i] = true
			}
		}
	}
	if !s.cfg.Policy.Quorum(cosigned) {
		return policy.ErrNoQuorum
	}
	origin, _, _ := strings.Cut(n.Text, "\n")
	if len(s.cfg.Policy.Logs) > 0 && policy.OriginOfKey(origin, s.cfg.LogVerifier.Name()) {
		if _, err := s.cfg.Policy.Verify(signed); err != nil {
			return err
		}
	}
	return nil
}

// submit posts head to witness i with a proof from old, learning the
// witness's size from a 409 (then trying once more).
func (s *Submitter) submit(ctx context.Context, i int, head storage.TreeState, old uint64) {
	name := s.cfg.Policy.Witnesses[i].Name
	for attempt := 0; ; attempt++ {
		line, err := s.post(ctx, i, head, old)
		var conflict *conflictError
		switch {
		case err == nil:
			s.record(i, "cosigned", func(st *witnessState) {
				st.size, st.sizeKnown = head.Size, true
				st.line, st.lineSize, st.lineRoot = line, head.Size, head.Root
				st.failures, st.lastErr, st.lastSuccess = 0, "", time.Now()
			})
			return
		case errors.As(err, &conflict) && conflict.size <= head.Size:
			s.record(i, "conflict", func(st *witnessState) { st.size, st.sizeKnown = conflict.size, true })
			if attempt == 0 && conflict.size != old {
				old = conflict.size
				continue
			}
		case errors.As(err, &conflict):
			err = fmt.Errorf("the witness holds size %d, larger than the log's head %d", conflict.size, head.Size)
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("witness submission failed", "witness", name, "size", head.Size, "old", old, "err", err)
		s.record(i, "error", func(st *witnessState) {
			st.failures++
			st.lastErr = err.Error()
			st.next = time.Now().Add(s.backoff(st.failures))
		})
		return
	}
}

// record updates witness i's state and counts the outcome.
func (s *Submitter) record(i int, outcome string, update func(*witnessState)) {
	s.mu.Lock()
	update(s.w[i])
	s.mu.Unlock()
	if m := s.cfg.Metrics; m != nil {
		m.submissions.WithLabelValues(strconv.FormatInt(s.cfg.TreeID, 10), s.cfg.Policy.Witnesses[i].Name, outcome).Inc()
	}
}

// backoff is the wait after n failures in a row: MinInterval doubled n
// times, with jitter, at most MaxBackoff.
func (s *Submitter) backoff(n int) time.Duration {
	d := s.cfg.MinInterval
	for range min(n, 30) {
		d *= 2
		if d >= s.cfg.MaxBackoff {
			d = s.cfg.MaxBackoff
			break
		}
	}
	return d/2 + rand.N(d/2+1)
}

// conflictError is a witness's 409: it holds size.
type conflictError struct{ size uint64 }

func (e *conflictError) Error() string { return fmt.Sprintf("409: the witness holds size %d", e.size) }

// post sends one add-checkpoint request and returns the witness's verified
// cosignature line.
func (s *Submitter) post(ctx context.Context, i int, head storage.TreeState, old uint64) (line []byte, err error) {
	w := s.cfg.Policy.Witnesses[i]
	s.mu.Lock()
	u := s.w[i].url
	s.mu.Unlock()
	if old > head.Size {
		old = 0
	}
	var proof [][]byte
	if old > 0 && old < head.Size {
		if proof, err = s.cfg.Proof(ctx, old, head.Size); err != nil {
			return nil, fmt.Errorf("consistency proof %d→%d: %w", old, head.Size, err)
		}
	}
	body := AddCheckpointBody(old, proof, head.Checkpoint)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
		if strings.TrimSpace(ct) != SizeContentType {
			return nil, fmt.Errorf("409 of content type %q: %s", ct, snippet(b))
		}
		n, err := parseSize(b)
		if err != nil {
			return nil, fmt.Errorf("409 with a bad size %q", snippet(b))
		}
		return nil, &conflictError{size: n}
	default:
		return nil, fmt.Errorf("%s: %s", resp.Status, snippet(b))
	}
	text, _, ok := bytes.Cut(head.Checkpoint, []byte("\n\n"))
	if !ok {
		return nil, errors.New("the log's checkpoint is not a signed note")
	}
	text = append(bytes.Clone(text), '\n') // text shares head.Checkpoint's array
	if l, ok := cosignatureIn(b, w.Verifier, text); ok {
		return l, nil
	}
	return nil, fmt.Errorf("no valid cosignature by %s in the answer %q", w.Verifier.Name(), snippet(b))
}

// parseSize parses the body of a 409 answer, "<size>\n" in decimal.
func parseSize(b []byte) (uint64, error) {
	return strconv.ParseUint(strings.TrimSuffix(string(b), "\n"), 10, 64)
}

// cosignatureIn returns the line of a witness's 200 answer b that is v's
// valid cosignature of the checkpoint text, and whether there is one; the
// answer's other lines (other keys of the witness, garbage) are ignored.
func cosignatureIn(b []byte, v lineVerifier, text []byte) ([]byte, bool) {
	for l := range bytes.Lines(b) {
		sig, ok := parseLine(l)
		if ok && verifyLine(v, text, sig) {
			return bytes.Clone(l), true
		}
	}
	return nil, false
}

// snippet is a short, printable part of a witness's answer for errors.
func snippet(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.ToValidUTF8(strings.Join(strings.Fields(string(b)), " "), "?")
}

// AddCheckpointBody is the body of an add-checkpoint request: the old
// size, the proof lines and the signed checkpoint (c2sp.org/tlog-witness).
func AddCheckpointBody(old uint64, proof [][]byte, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(signed)
	return b.Bytes()
}

// parseLine parses a signature line "— <name> <base64>\n".
func parseLine(l []byte) (note.Signature, bool) {
	rest, ok := bytes.CutPrefix(l, []byte("— "))
	if !ok {
		return note.Signature{}, false
	}
	rest, ok = bytes.CutSuffix(rest, []byte("\n"))
	if !ok {
		return note.Signature{}, false
	}
	name, b64, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return note.Signature{}, false
	}
	sig, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil || len(sig) < 5 {
		return note.Signature{}, false
	}
	return note.Signature{Name: string(name), Hash: uint32(sig[0])<<24 | uint32(sig[1])<<16 | uint32(sig[2])<<8 | uint32(sig[3]), Base64: string(b64)}, true
}

// lineVerifier is a witness's cosignature verifier.
type lineVerifier interface {
	Name() string
	KeyHash() uint32
	Verify(msg, sig []byte) bool
}

// verifyLine reports whether sig is v's valid cosignature of text.
func verifyLine(v lineVerifier, text []byte, sig note.Signature) bool {
	if sig.Name != v.Name() || sig.Hash != v.KeyHash() {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(b) < 4 {
		return false
	}
	return v.Verify(text, b[4:])
}

// Status returns the submitter's state.
func (s *Submitter) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		TreeID: s.cfg.TreeID, Origin: s.cfg.Origin, Leader: s.leader,
		HeadSize: s.head, CosignedSize: s.cosigned.Size, LastCosigned: s.cosigned.Stored,
	}
	for i, w := range s.w {
		st.Witnesses = append(st.Witnesses, WitnessStatus{
			Name: s.cfg.Policy.Witnesses[i].Name, URL: s.cfg.Policy.Witnesses[i].URL,
			Size: w.size, LastSuccess: w.lastSuccess, LastError: w.lastErr, Failures: w.failures,
		})
	}
	return st
}

// waitPoll is how often Wait reads the database for a checkpoint another
// process stored.
const waitPoll = 100 * time.Millisecond

// Wait returns the newest cosigned checkpoint of size at least size,
// waiting for one until ctx is done (then it returns ctx's error).
func (s *Submitter) Wait(ctx context.Context, size uint64) (storage.CosignedCheckpoint, error) {
	t := time.NewTicker(waitPoll)
	defer t.Stop()
	for {
		s.mu.Lock()
		cp, changed := s.cosigned, s.changed
		s.mu.Unlock()
		if cp.Note != nil && cp.Size >= size {
			return cp, nil
		}
		s.Kick()
		select {
		case <-ctx.Done():
			return storage.CosignedCheckpoint{}, ctx.Err()
		case <-changed:
		case <-t.C:
			s.refresh(ctx)
		}
	}
}
