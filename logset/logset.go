// Package logset serves the logs of one profile held in a storage.LogSet,
// the shards of a rotated log: the frozen logs, oldest first, which serve
// reads forever and never grow, and the active log, which takes every new
// entry. It follows rotation while it runs: when the active log is frozen
// (by `tabula log rotate`, in this process or any other sharing the
// database), the entries that were on their way into it are added to its
// successor, and the list of logs is reloaded at least every RefreshAge, so
// every replica switches without a restart.
//
// Every log of the set is a *log.Log. A log's entries also have a virtual
// index, StartIndex + their index in the log, which runs on across the
// logs of the set (Rekor v1's virtual log index).
package logset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

// DefaultRefreshAge bounds how stale the list of logs may be: a replica that
// did not rotate the log itself sees the new active log within it.
const DefaultRefreshAge = time.Second

// lookupReloadAge is how old the list of logs must be before a lookup of a
// log the list lacks (an unknown tree ID, an index past the active log)
// reloads it: such lookups may come from anyone, so they reload the list at
// most 10 times a second, however many there are.
const lookupReloadAge = 100 * time.Millisecond

// maxAddAttempts bounds how often Add follows a rotation for one leaf.
const maxAddAttempts = 4

// ErrNoLog: the set has no active log (yet: see Config.NoCreate).
var ErrNoLog = errors.New("logset: no active log")

// ErrNoKey: no configured key is the active log's; the server cannot write.
var ErrNoKey = errors.New("logset: no configured key signs for the active log")

// Signer is a log key: a signer.Signer that also gives its public key's DER
// SubjectPublicKeyInfo (which the log set stores), as *signer.Local does.
type Signer interface {
	signer.Signer
	PublicKeyDER() []byte
}

// Config configures a Set.
type Config struct {
	// Store is the database. Required.
	Store storage.LogSet
	// Name is the profile of the logs served (storage.LogInfo.Profile,
	// log.Profile.Name). Required.
	Name string
	// Profile gives the profile of one log of the set (its origin, key
	// name and entry signing, from what the set stores of it). Required.
	Profile func(info storage.LogInfo) log.Profile
	// Base is the virtual index of the profile's first log: the logs of a
	// profile share an index space of their own (see storage.LogInfo).
	Base uint64
	// Keys are the private keys this server holds. The active log is
	// served with the one whose public key it stores (the first key
	// creates the first log of an empty database); frozen logs need no
	// private key (their public key is stored). Required.
	Keys []Signer
	// Log is the configuration every log is opened with; its Storage,
	// Signer, Profile, Frozen and Locate are set per log. The logs share
	// one set of caches (Log.Caches, made from Log's cache sizes if nil),
	// so the cache bounds hold for all logs together.
	Log log.Config
	// NoCreate keeps Open from creating the profile's first log when the
	// database has none: the set then serves no log (Active fails with
	// ErrNoLog) until one is created elsewhere (`tabula log create`),
	// which it finds when it reloads the list of logs.
	NoCreate bool
	// RefreshAge bounds how stale the list of logs may be (0: DefaultRefreshAge).
	RefreshAge time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// Shard is one log of the set.
type Shard struct {
	// Info is the log as the set lists it. A frozen log's FinalSize and
	// FinalCheckpoint are set.
	Info storage.LogInfo
	// Log serves the log. A frozen log's takes no leaves.
	Log *log.Log
}

// Active reports whether the shard is the set's active log.
func (s *Shard) Active() bool { return s.Info.State == storage.LogActive }

// TreeID is the log's tree ID.
func (s *Shard) TreeID() int64 { return s.Info.TreeID }

// Virtual is the virtual index of the log's entry at index.
func (s *Shard) Virtual(index uint64) uint64 { return s.Info.StartIndex + index }

// view is one listing of the set's logs.
type view struct {
	shards []*Shard // oldest first; the active log, if any, last
	loaded time.Time
}

// Set serves the logs of one profile. It is safe for concurrent use.
type Set struct {
	cfg    Config
	logger *slog.Logger

	view atomic.Pointer[view]

	mu     sync.Mutex         // held while refreshing
	opened map[int64]*log.Log // every log opened, by tree ID
	keys   map[string]Signer  // configured keys by public key DER
	closed bool
}

// Open opens every log of the profile in cfg.Store, creating the first one
// (with the first key) if there is none. It refuses to start when the
// active log's stored public key is none of the configured keys'.
func Open(ctx context.Context, cfg Config) (*Set, error) {
	if cfg.Store == nil || cfg.Name == "" || cfg.Profile == nil || len(cfg.Keys) == 0 {
		return nil, errors.New("logset: Store, Name, Profile and Keys are required")
	}
	if cfg.RefreshAge <= 0 {
		cfg.RefreshAge = DefaultRefreshAge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Log.Caches == nil {
		caches, err := log.NewCaches(cfg.Log)
		if err != nil {
			return nil, err
		}
		cfg.Log.Caches = caches
	}
	s := &Set{
		cfg:    cfg,
		logger: cfg.Logger,
		opened: map[int64]*log.Log{},
		keys:   map[string]Signer{},
	}
	for _, k := range cfg.Keys {
		s.keys[string(k.PublicKeyDER())] = k
	}
	logs, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case !hasActive(logs) && !cfg.NoCreate:
		if err := s.create(ctx, logs); err != nil {
			return nil, err
		}
	case hasActive(logs):
		if a := logs[len(logs)-1]; a.PublicKey != nil && s.keys[string(a.PublicKey)] == nil {
			return nil, fmt.Errorf("logset: the active %s log (tree %d) was created with a public key that is "+
				"none of the configured keys': start it with its own key", cfg.Name, a.TreeID)
		}
	}
	if _, err := s.refresh(ctx, nil, 0); err != nil {
		s.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the first error is the one returned
		return nil, err
	}
	return s, nil
}

// list returns the logs of the profile, oldest first, the active one last.
func (s *Set) list(ctx context.Context) ([]storage.LogInfo, error) {
	all, err := s.cfg.Store.Logs(ctx)
	if err != nil {
		return nil, fmt.Errorf("logset: listing logs: %w", err)
	}
	var logs []storage.LogInfo
	var active *storage.LogInfo
	for i := range all {
		switch {
		case all[i].Profile != s.cfg.Name:
		case all[i].State == storage.LogActive:
			active = &all[i]
		default:
			logs = append(logs, all[i])
		}
	}
	if active != nil {
		logs = append(logs, *active)
	}
	return logs, nil
}

func hasActive(logs []storage.LogInfo) bool {
	return len(logs) > 0 && logs[len(logs)-1].State == storage.LogActive
}

// create makes the first active log of the profile, with the first key, at
// the profile's base or after its other logs (log.Open creates it through
// storage.Active). If another process creates it first, that one is used.
func (s *Set) create(ctx context.Context, logs []storage.LogInfo) error {
	key := s.cfg.Keys[0]
	start := s.cfg.Base
	for _, l := range logs {
		start = max(start, l.StartIndex+l.FinalSize)
	}
	info := storage.LogInfo{Profile: s.cfg.Name, StartIndex: start}
	profile := s.cfg.Profile(info)
	store := storage.Active(s.cfg.Store, s.cfg.Name, func(st storage.TreeState) storage.LogInfo {
		return storage.LogInfo{Origin: profile.Origin(st.TreeID), PublicKey: key.PublicKeyDER(), StartIndex: start}
	})
	cfg := s.cfg.Log
	cfg.Storage, cfg.Signer, cfg.Profile, cfg.Frozen, cfg.Locate = store, key, profile, false, s.cfg.Store.LocateLeafHashes
	lg, err := log.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("logset: creating the first %s log: %w", s.cfg.Name, err)
	}
	// Opened again, with the start index the set stored, by refresh.
	return lg.Close(ctx)
}

// refresh reloads the list of logs, if the current view is older than
// maxAge, and opens the logs not open yet. With frozen set (a log that
// refused an append as frozen), it reloads whatever the view's age, but
// only if that log is still the view's active one (another caller may have
// reloaded since). It returns the view.
func (s *Set) refresh(ctx context.Context, frozen *Shard, maxAge time.Duration) (*view, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.view.Load(); v != nil {
		if a := v.active(); frozen != nil && (a == nil || a.TreeID() != frozen.TreeID()) {
			return v, nil
		}
		if frozen == nil && time.Since(v.loaded) < maxAge {
			return v, nil
		}
	}
	if s.closed {
		return nil, log.ErrClosed
	}
	logs, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	old := s.view.Load()
	v := &view{loaded: time.Now(), shards: make([]*Shard, 0, len(logs))}
	for _, info := range logs {
		lg, err := s.open(ctx, info)
		if err != nil {
			return nil, err
		}
		if info.State == storage.LogFrozen && !lg.Frozen() {
			lg.Freeze() // rotated by another process, and not yet met here
		}
		v.shards = append(v.shards, &Shard{Info: info, Log: lg})
	}
	if old != nil && old.active() != nil && v.active() != nil && old.active().TreeID() != v.active().TreeID() {
		s.logger.Info("the active log changed", "profile", s.cfg.Name,
			"from", old.active().Log.Origin(), "to", v.active().Log.Origin(),
			"startIndex", v.active().Info.StartIndex)
	}
	s.view.Store(v)
	return v, nil
}

// open returns the log.Log of info, opening it on first use. An active log
// gets the configured key whose public key it stores; a frozen one, or an
// active one no configured key signs for, is opened frozen with its stored
// public key. The caller holds mu.
func (s *Set) open(ctx context.Context, info storage.LogInfo) (*log.Log, error) {
	if lg, ok := s.opened[info.TreeID]; ok {
		return lg, nil
	}
	var sgn signer.Signer
	frozen := info.State != storage.LogActive
	switch k := s.keys[string(info.PublicKey)]; {
	case info.PublicKey == nil && !frozen:
		sgn = s.cfg.Keys[0] // a log migrated from a one-tree database
	case info.PublicKey == nil:
		return nil, fmt.Errorf("logset: the frozen log %d has no public key", info.TreeID)
	case k != nil && !frozen:
		sgn = k
	default:
		if !frozen {
			s.logger.Error("no configured key is the active log's: it serves reads only", "treeID", info.TreeID)
		}
		pub, err := signer.NewPublicOnly(info.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("logset: log %d: %w", info.TreeID, err)
		}
		sgn, frozen = pub, true
	}
	store, err := s.cfg.Store.OpenLog(ctx, info.TreeID)
	if err != nil {
		return nil, fmt.Errorf("logset: %w", err)
	}
	cfg := s.cfg.Log
	cfg.Storage, cfg.Signer, cfg.Profile, cfg.Frozen, cfg.Locate = store, sgn, s.cfg.Profile(info), frozen, s.cfg.Store.LocateLeafHashes
	lg, err := log.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("logset: opening log %d: %w", info.TreeID, err)
	}
	if info.PublicKey == nil {
		if l, ok := sgn.(Signer); ok {
			if err := s.cfg.Store.SetPublicKey(ctx, info.TreeID, lg.Origin(), l.PublicKeyDER()); err != nil {
				lg.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the first error is the one returned
				return nil, fmt.Errorf("logset: recording the public key of log %d: %w", info.TreeID, err)
			}
		}
	}
	s.opened[info.TreeID] = lg
	return lg, nil
}

// active is the view's active log, or nil.
func (v *view) active() *Shard {
	if n := len(v.shards); n > 0 && v.shards[n-1].Active() {
		return v.shards[n-1]
	}
	return nil
}

// current returns the view, refreshed when older than RefreshAge. When the
// refresh fails (the database unreachable), the last view is returned:
// frozen logs and cached reads keep being served.
func (s *Set) current(ctx context.Context) (*view, error) {
	v := s.view.Load()
	if v != nil && time.Since(v.loaded) < s.cfg.RefreshAge {
		return v, nil
	}
	nv, err := s.refresh(ctx, nil, s.cfg.RefreshAge)
	if err != nil {
		if v != nil && !errors.Is(err, log.ErrClosed) {
			s.logger.Warn("reloading the list of logs", "err", err)
			return v, nil
		}
		return nil, err
	}
	return nv, nil
}

// Shards returns the logs, oldest first; the active log, if any, is last.
func (s *Set) Shards(ctx context.Context) ([]*Shard, error) {
	v, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return v.shards, nil
}

// Active returns the active log.
func (s *Set) Active(ctx context.Context) (*Shard, error) {
	v, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	a := v.active()
	if a == nil {
		return nil, fmt.Errorf("%w of profile %s", ErrNoLog, s.cfg.Name)
	}
	return a, nil
}

// Shard returns the log of treeID, or storage.ErrNotFound.
func (s *Set) Shard(ctx context.Context, treeID int64) (*Shard, error) {
	v, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	for _, sh := range v.shards {
		if sh.TreeID() == treeID {
			return sh, nil
		}
	}
	if v, err = s.refresh(ctx, nil, lookupReloadAge); err != nil { // perhaps a log newer than the view
		return nil, err
	}
	for _, sh := range v.shards {
		if sh.TreeID() == treeID {
			return sh, nil
		}
	}
	return nil, fmt.Errorf("logset: tree %d: %w", treeID, storage.ErrNotFound)
}

// ByVirtualIndex returns the log holding the entry of virtual index vi and
// the entry's index in that log, or storage.ErrNotFound when no log holds
// it. An index past the active log's head is looked up once more in a fresh
// list of logs (it may be in a log newer than the list); if it is still the
// active log's, that log is returned, and the caller checks the index
// against its head.
func (s *Set) ByVirtualIndex(ctx context.Context, vi uint64) (*Shard, uint64, error) {
	v, err := s.current(ctx)
	if err != nil {
		return nil, 0, err
	}
	sh, local, ok := v.byVirtualIndex(vi)
	if ok && sh.Active() {
		if _, err := sh.Log.HeadCovering(ctx, local); errors.Is(err, log.ErrOutOfRange) {
			if v, err = s.refresh(ctx, nil, lookupReloadAge); err != nil {
				return nil, 0, err
			}
			sh, local, ok = v.byVirtualIndex(vi)
		}
	}
	if !ok {
		return nil, 0, fmt.Errorf("logset: virtual index %d: %w", vi, storage.ErrNotFound)
	}
	return sh, local, nil
}

func (v *view) byVirtualIndex(vi uint64) (*Shard, uint64, bool) {
	for _, sh := range v.shards {
		if vi < sh.Info.StartIndex {
			continue
		}
		if !sh.Active() && vi >= sh.Info.StartIndex+sh.Info.FinalSize {
			continue
		}
		return sh, vi - sh.Info.StartIndex, true
	}
	return nil, 0, false
}

// Locate returns the log holding the leaf and its index there, or
// storage.ErrNotFound.
func (s *Set) Locate(ctx context.Context, leafHash merkle.Hash) (*Shard, uint64, error) {
	found, err := s.cfg.Store.LocateLeafHashes(ctx, []storage.Hash{leafHash})
	if err != nil {
		return nil, 0, fmt.Errorf("logset: locating leaf: %w", err)
	}
	at, ok := found[leafHash]
	if !ok {
		return nil, 0, fmt.Errorf("logset: leaf %x: %w", leafHash, storage.ErrNotFound)
	}
	sh, err := s.Shard(ctx, at.TreeID)
	if err != nil {
		return nil, 0, err
	}
	return sh, at.Index, nil
}

// Add adds a leaf to the active log and waits until it is committed, as
// log.Log.Add does. When the active log is frozen under it, the leaf
// (of which nothing was written) is added to the log that replaced it. A
// *log.DuplicateError names the log holding the leaf, which may be any log
// of the set. It returns the log the leaf went into.
func (s *Set) Add(ctx context.Context, leaf log.Leaf) (*Shard, log.Result, error) {
	var last error
	for range maxAddAttempts {
		sh, err := s.Active(ctx)
		if err != nil {
			return nil, log.Result{}, err
		}
		res, err := sh.Log.Add(ctx, leaf)
		if !errors.Is(err, log.ErrFrozen) {
			return sh, res, err
		}
		last = err
		if _, err := s.refresh(ctx, sh, 0); err != nil {
			return nil, log.Result{}, err
		}
		if a, err := s.Active(ctx); err == nil && a.TreeID() == sh.TreeID() {
			// Frozen in this process only: no key signs for the log
			// that is active now, or it was frozen with no successor.
			return nil, log.Result{}, fmt.Errorf("%w (tree %d is frozen here)", ErrNoKey, sh.TreeID())
		}
	}
	return nil, log.Result{}, fmt.Errorf("logset: the active log changed %d times while adding one entry: %w", maxAddAttempts, last)
}

// Close closes every log: the active one integrates what is queued.
func (s *Set) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	logs := make([]*log.Log, 0, len(s.opened))
	for _, lg := range s.opened {
		logs = append(logs, lg)
	}
	s.mu.Unlock()
	var errs []error
	for _, lg := range logs {
		errs = append(errs, lg.Close(ctx))
	}
	return errors.Join(errs...)
}

// Ping checks the database is reachable.
func (s *Set) Ping(ctx context.Context) error { return s.cfg.Store.Ping(ctx) }
