package submit

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/witness/policy"
)

// DefaultCosignedCacheAge bounds how stale Manager.Cosigned's answer may
// be: a replica serves the cosignatures another one gathered within it.
const DefaultCosignedCacheAge = 500 * time.Millisecond

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// Policies are the witness policies. A policy with log lines applies to
	// the logs whose key (key name and key hash) it lists; one without
	// applies to every log. A log takes the first policy that applies.
	Policies []*policy.Policy
	// Sets are the server's log sets (Rekor v1's, Rekor v2's): each one's
	// active log, when a policy applies, gets a Submitter. Required.
	Sets []*logset.Set
	// Store is the database of the sets. Required.
	Store storage.LogSet
	// Submitter is the configuration of every Submitter; its Policy, log
	// (SetLog) and Store are set per log, its Holder defaults to a random
	// name.
	Submitter Config
	// Refresh is how often the active logs are listed (0: a second).
	Refresh time.Duration
	// CacheAge bounds the age of Cosigned's answers (0:
	// DefaultCosignedCacheAge).
	CacheAge time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// Manager runs a Submitter for the active log of every log set a policy
// applies to, following rotation: a new active log gets one, a frozen one
// keeps its own until its final checkpoint is cosigned. It also serves the API the stored cosigned checkpoints.
// It is safe for concurrent use.
type Manager struct {
	cfg ManagerConfig
	log *slog.Logger

	mu     sync.Mutex
	subs   map[int64]*running
	cache  map[int64]cachedCosigned
	policy map[int64]*policy.Policy // by tree ID; nil: none applies
	done   map[int64]bool           // frozen logs whose final checkpoint is cosigned
}

type running struct {
	s      *Submitter
	cancel context.CancelFunc
	done   chan struct{}
}

type cachedCosigned struct {
	head   storage.TreeState
	found  bool
	loaded time.Time
}

// NewManager checks cfg and returns a Manager; Run runs it.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if len(cfg.Sets) == 0 || cfg.Store == nil {
		return nil, errors.New("submit: a manager needs Sets and Store")
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	if cfg.CacheAge <= 0 {
		cfg.CacheAge = DefaultCosignedCacheAge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Submitter.Holder == "" {
		cfg.Submitter.Holder = fmt.Sprintf("tabula-%d", time.Now().UnixNano())
	}
	if cfg.Submitter.Logger == nil {
		cfg.Submitter.Logger = cfg.Logger
	}
	return &Manager{
		cfg: cfg, log: cfg.Logger,
		subs:   map[int64]*running{},
		cache:  map[int64]cachedCosigned{},
		policy: map[int64]*policy.Policy{},
		done:   map[int64]bool{},
	}, nil
}

// Policy returns the policy that applies to sh, or nil.
func (m *Manager) Policy(sh *logset.Shard) *policy.Policy {
	id := sh.TreeID()
	m.mu.Lock()
	p, ok := m.policy[id]
	m.mu.Unlock()
	if ok {
		return p
	}
	p = m.match(sh)
	m.mu.Lock()
	m.policy[id] = p
	m.mu.Unlock()
	return p
}

// match finds the first policy that applies to sh.
func (m *Manager) match(sh *logset.Shard) *policy.Policy {
	var name string
	var hash uint32
	keyed := false
	if pub, err := x509.ParsePKIXPublicKey(sh.Info.PublicKey); err == nil {
		p := sh.Log.Profile()
		if v, err := checkpoint.NewVerifier(p.KeyName, p.KeyIDForm, pub); err == nil {
			name, hash, keyed = v.Name(), v.KeyHash(), true
		}
	}
	for _, p := range m.cfg.Policies {
		if len(p.Logs) == 0 {
			return p
		}
		if keyed && slices.ContainsFunc(p.Logs, func(l policy.Log) bool {
			return l.Verifier.Name() == name && l.Verifier.KeyHash() == hash
		}) {
			return p
		}
	}
	return nil
}

// Run starts and stops submitters until ctx is done, then stops them all.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Refresh)
	defer t.Stop()
	for {
		m.sync(ctx)
		select {
		case <-ctx.Done():
			m.mu.Lock()
			subs := m.subs
			m.subs = map[int64]*running{}
			m.mu.Unlock()
			for _, r := range subs {
				r.cancel()
				<-r.done
			}
			return
		case <-t.C:
		}
	}
}

// sync starts a submitter for each witnessed active log, and for each
// witnessed frozen log whose final checkpoint is not cosigned yet (a log
// frozen with its last entries uncosigned, by this process or before it
// started), and stops the others: a frozen log's once its final
// checkpoint is cosigned.
func (m *Manager) sync(ctx context.Context) {
	want := map[int64]bool{}
	for _, set := range m.cfg.Sets {
		shards, err := set.Shards(ctx)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("witness submission: listing the logs", "err", err)
			}
			continue
		}
		for _, sh := range shards {
			p := m.Policy(sh)
			if p == nil || sh.Log.Signer() == nil || (!sh.Active() && m.finished(ctx, sh)) {
				continue
			}
			want[sh.TreeID()] = true
			m.start(ctx, sh, p)
		}
	}
	m.mu.Lock()
	var stop []*running
	for id, r := range m.subs {
		if !want[id] {
			stop = append(stop, r)
			delete(m.subs, id)
		}
	}
	m.mu.Unlock()
	for _, r := range stop {
		r.cancel()
		<-r.done
		m.log.Info("witness submission stopped: the log is frozen and its final checkpoint cosigned", "tree_id", r.s.TreeID())
	}
}

// start starts the submitter of sh under p unless one runs.
func (m *Manager) start(ctx context.Context, sh *logset.Shard, p *policy.Policy) {
	if m.submitter(sh.TreeID()) != nil {
		return
	}
	cfg := m.cfg.Submitter
	cfg.Policy, cfg.Store = p, m.cfg.Store
	if err := cfg.SetLog(sh.Log); err != nil {
		m.log.Error("witness submission: cannot submit the log", "tree_id", sh.TreeID(), "err", err)
		return
	}
	s, err := New(cfg)
	if err != nil {
		m.log.Error("witness submission: cannot submit the log", "tree_id", sh.TreeID(), "err", err)
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	r := &running{s: s, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); s.Run(sctx) }()
	m.mu.Lock()
	m.subs[sh.TreeID()] = r
	m.mu.Unlock()
	m.log.Info("witness submission started", "tree_id", sh.TreeID(), "origin", sh.Log.Origin(), "state", sh.Info.State, "witnesses", len(p.Witnesses))
}

// finished reports whether the frozen log sh has a cosigned checkpoint of
// its final size, remembering a yes (a frozen log never grows). On a
// failure to read it says yes for now, to try again next time.
func (m *Manager) finished(ctx context.Context, sh *logset.Shard) bool {
	id := sh.TreeID()
	m.mu.Lock()
	done := m.done[id]
	m.mu.Unlock()
	if done {
		return true
	}
	var size uint64
	if s := m.submitter(id); s != nil {
		size = s.Status().CosignedSize
	} else {
		cp, err := m.cfg.Store.LatestCosigned(ctx, id)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			if ctx.Err() == nil {
				m.log.Warn("witness submission: reading a frozen log's cosigned checkpoint", "tree_id", id, "err", err)
			}
			return true
		default:
			size = cp.Size
		}
	}
	if size < sh.Info.FinalSize {
		return false
	}
	m.mu.Lock()
	m.done[id] = true
	m.mu.Unlock()
	return true
}

// submitter returns the running submitter of the log, or nil.
func (m *Manager) submitter(treeID int64) *Submitter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.subs[treeID]; r != nil {
		return r.s
	}
	return nil
}

// Kick makes the log's submitter, if one runs here, look at its head now.
func (m *Manager) Kick(treeID int64) {
	if s := m.submitter(treeID); s != nil {
		s.Kick()
	}
}

// Cosigned returns the newest stored cosigned checkpoint of sh as a tree
// state (Checkpoint the cosigned note), and whether there is one; sh must
// be witnessed (Policy). The answer is at most CacheAge old.
func (m *Manager) Cosigned(ctx context.Context, sh *logset.Shard) (storage.TreeState, bool, error) {
	id := sh.TreeID()
	m.mu.Lock()
	c, ok := m.cache[id]
	m.mu.Unlock()
	if ok && time.Since(c.loaded) < m.cfg.CacheAge {
		return c.head, c.found, nil
	}
	cp, err := m.cfg.Store.LatestCosigned(ctx, id)
	c = cachedCosigned{loaded: time.Now()}
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return storage.TreeState{}, false, err
	default:
		if c.head, err = TreeState(id, cp); err != nil {
			return storage.TreeState{}, false, err
		}
		c.found = true
	}
	m.mu.Lock()
	if old, ok := m.cache[id]; !ok || !old.found || c.found && c.head.Size >= old.head.Size {
		m.cache[id] = c
	} else {
		c = old // a newer one came from Wait meanwhile
	}
	m.mu.Unlock()
	return c.head, c.found, nil
}

// ErrNotSubmitted: Wait was asked about a log no submitter of this process
// serves.
var ErrNotSubmitted = errors.New("submit: the log is not submitted to witnesses here")

// Wait returns the newest cosigned checkpoint of sh of size at least size,
// as a tree state, waiting until ctx is done.
func (m *Manager) Wait(ctx context.Context, sh *logset.Shard, size uint64) (storage.TreeState, error) {
	s := m.submitter(sh.TreeID())
	if s == nil {
		return storage.TreeState{}, ErrNotSubmitted
	}
	cp, err := s.Wait(ctx, size)
	if err != nil {
		return storage.TreeState{}, err
	}
	return TreeState(sh.TreeID(), cp)
}

// Status is the status of every submitter, by tree ID.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	subs := make([]*Submitter, 0, len(m.subs))
	for _, r := range m.subs {
		subs = append(subs, r.s)
	}
	m.mu.Unlock()
	out := make([]Status, len(subs))
	for i, s := range subs {
		out[i] = s.Status()
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.TreeID, b.TreeID) })
	return out
}

// TreeState is cp as the tree state it commits to: its size, the root of
// its note and the note as Checkpoint.
func TreeState(treeID int64, cp storage.CosignedCheckpoint) (storage.TreeState, error) {
	lines := strings.SplitN(string(cp.Note), "\n", 4)
	if len(lines) < 4 {
		return storage.TreeState{}, fmt.Errorf("submit: the cosigned checkpoint of tree %d is malformed", treeID)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	root, err2 := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || err2 != nil || len(root) != 32 || size != cp.Size {
		return storage.TreeState{}, fmt.Errorf("submit: the cosigned checkpoint of tree %d is malformed", treeID)
	}
	st := storage.TreeState{TreeID: treeID, Size: size, Checkpoint: cp.Note}
	copy(st.Root[:], root)
	return st, nil
}
