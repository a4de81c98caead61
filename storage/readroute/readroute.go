// Package readroute sends a log set's reads to a read replica when the
// replica has what they need, and everything else to the primary.
//
// A Set wraps two storage.LogSets on one database: the primary, which takes
// every write, and a read-only replica of it (a PostgreSQL hot standby) that
// lags behind by however much it has not replayed yet. What goes where:
//
//   - Writes (Append, CreateTree, CreateLog, Rotate, SetPublicKey,
//     StoreCosigned, TryLease), the tree state (LatestTreeState), the
//     duplicate lookups of the write path (LookupLeafHashes,
//     LocateLeafHashes) and the cosigned checkpoints go to the primary,
//     always.
//   - ReadEntries goes to the replica when the replica's tree holds every
//     entry asked for, else to the primary. Entries never change once
//     stored, so the replica's copy is the primary's.
//   - ReadEntryByLeafHash goes to the replica; a leaf the replica does not
//     hold (yet) is looked up on the primary.
//   - ReadTile goes to the replica when the replica's tree is at least as
//     large as the tile's part of the largest head the primary has given
//     this process: a full tile never changes, and a right-edge tile of a
//     larger tree is a valid prefix for a smaller one. A tile shorter than
//     that head needs (a partial tile of a lagging replica) is read again
//     from the primary, so a proof is never built from a tile of a tree
//     smaller than the checkpoint it is made against.
//   - Search goes to the replica only when the replica's tree is at least
//     the largest head the primary has given this process, so that a
//     search made after a write finds it.
//
// The replica's size of each log is its own tree state, polled every
// PollInterval and sooner when a read finds it too small. Any failure of
// the replica (stopped, unreachable, a query cancelled by a recovery
// conflict, slower than Timeout) sends that read to the primary and marks
// the replica down for Backoff, during which every read goes to the
// primary; the poller brings it back once it answers. A caller never sees
// an error of the replica's.
package readroute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// Defaults of Config.
const (
	DefaultPollInterval = 100 * time.Millisecond
	DefaultBackoff      = 2 * time.Second
	DefaultTimeout      = 2 * time.Second
)

// minPollSpacing bounds how often reads that find the replica too small
// make the poller read its tree states: at most 200 times a second.
const minPollSpacing = 5 * time.Millisecond

// Config configures a Set.
type Config struct {
	// Primary takes every write and every read the replica cannot serve.
	// Required.
	Primary storage.LogSet
	// Replica is a read-only replica of Primary's database. Required.
	Replica storage.LogSet
	// PollInterval is how often the replica's tree sizes are read
	// (0: DefaultPollInterval).
	PollInterval time.Duration
	// Backoff is how long a failed replica is left alone before the poller
	// tries it again (0: DefaultBackoff).
	Backoff time.Duration
	// Timeout bounds one read on the replica; a slower one is made again
	// on the primary (0: DefaultTimeout).
	Timeout time.Duration
	// Logger receives the replica's changes of state; nil discards them.
	Logger *slog.Logger
	// Registerer, if not nil, gets the metrics: reads by target and the
	// replica's lag.
	Registerer prometheus.Registerer
}

// Set is a storage.LogSet whose reads go to a replica when it has what they
// need. It is safe for concurrent use.
type Set struct {
	cfg     Config
	primary storage.LogSet
	replica storage.LogSet
	logger  *slog.Logger

	down      atomic.Bool  // the replica failed and its back-off is running
	downUntil atomic.Int64 // unix nanoseconds: when the poller tries it again

	mu   sync.Mutex
	logs map[int64]*logRoute

	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	closeErr error
	once     sync.Once

	reads   *prometheus.CounterVec
	lag     *prometheus.GaugeVec
	upGauge prometheus.Gauge
	unreg   func()
}

var _ storage.LogSet = (*Set)(nil)

// New returns the Set and starts its poller; Close stops it and closes both
// stores.
func New(cfg Config) (*Set, error) {
	if cfg.Primary == nil || cfg.Replica == nil {
		return nil, errors.New("readroute: Primary and Replica are required")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Set{
		cfg:     cfg,
		primary: cfg.Primary,
		replica: cfg.Replica,
		logger:  cfg.Logger,
		logs:    map[int64]*logRoute{},
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabula_storage_reads_total",
			Help: "Reads of entries, tiles and search keys by the database that served them (replica, primary) and operation.",
		}, []string{"target", "op"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tabula_read_replica_lag_entries",
			Help: "Entries of the log's largest head seen on the primary that the read replica has not replayed (as last polled).",
		}, []string{"tree_id"}),
		upGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tabula_read_replica_up",
			Help: "1 while the read replica answers, 0 during its back-off after a failure.",
		}),
		unreg: func() {},
	}
	if r := cfg.Registerer; r != nil {
		cs := []prometheus.Collector{s.reads, s.lag, s.upGauge}
		for i, c := range cs {
			if err := r.Register(c); err != nil {
				for _, c := range cs[:i] {
					r.Unregister(c)
				}
				return nil, fmt.Errorf("readroute: registering metrics: %w", err)
			}
		}
		s.unreg = func() {
			for _, c := range cs {
				r.Unregister(c)
			}
		}
	}
	s.upGauge.Set(1)
	go s.poll()
	return s, nil
}

// ReplicaUp reports whether the replica is in use (not in its back-off
// after a failure).
func (s *Set) ReplicaUp() bool { return !s.down.Load() }

// useReplica reports whether reads may try the replica now.
func (s *Set) useReplica() bool { return !s.down.Load() }

// markDown records a failure of the replica: reads go to the primary for
// the back-off. Only the change of state is logged.
func (s *Set) markDown(err error) {
	s.downUntil.Store(time.Now().Add(s.cfg.Backoff).UnixNano())
	if s.down.CompareAndSwap(false, true) {
		s.upGauge.Set(0)
		s.logger.Warn("read replica down: reading from the primary", "err", err, "retryIn", s.cfg.Backoff)
	}
}

// markUp records that the replica answered again.
func (s *Set) markUp() {
	if s.down.CompareAndSwap(true, false) {
		s.upGauge.Set(1)
		s.logger.Info("read replica up again: reads go to it when it has caught up")
	}
}

// wake asks the poller to read the replica's tree sizes soon.
func (s *Set) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// poll reads the replica's tree sizes every PollInterval, or sooner when
// woken, until Close.
func (s *Set) poll() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.kick:
			if d := minPollSpacing - time.Since(last); d > 0 {
				select {
				case <-s.stop:
					return
				case <-time.After(d):
				}
			}
		}
		last = time.Now()
		if s.down.Load() && time.Now().UnixNano() < s.downUntil.Load() {
			continue
		}
		s.pollOnce()
	}
}

// pollOnce reads the replica's tree size of every routed log.
func (s *Set) pollOnce() {
	s.mu.Lock()
	logs := make([]*logRoute, 0, len(s.logs))
	for _, l := range s.logs {
		logs = append(logs, l)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if len(logs) == 0 {
		if err := s.replica.Ping(ctx); err != nil {
			s.markDown(err)
			return
		}
		s.markUp()
		return
	}
	for _, l := range logs {
		if err := l.pollReplica(ctx); err != nil {
			s.markDown(err)
			return
		}
	}
	s.markUp()
}

// count records one read served by target.
func (s *Set) count(target, op string) { s.reads.WithLabelValues(target, op).Inc() }

// Logs lists the logs (primary).
func (s *Set) Logs(ctx context.Context) ([]storage.LogInfo, error) { return s.primary.Logs(ctx) }

// CreateLog creates a log (primary).
func (s *Set) CreateLog(ctx context.Context, info storage.LogInfo, state storage.TreeState) error {
	return s.primary.CreateLog(ctx, info, state)
}

// SetPublicKey records a log's public key (primary).
func (s *Set) SetPublicKey(ctx context.Context, treeID int64, origin string, publicKey []byte) error {
	return s.primary.SetPublicKey(ctx, treeID, origin, publicKey)
}

// Rotate freezes a log and starts its successor (primary).
func (s *Set) Rotate(ctx context.Context, oldTreeID int64, next storage.LogInfo, state storage.TreeState) (storage.LogInfo, error) {
	return s.primary.Rotate(ctx, oldTreeID, next, state)
}

// LocateLeafHashes finds leaves in every log (primary: the write path's
// duplicate check uses it).
func (s *Set) LocateLeafHashes(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]storage.LeafLocation, error) {
	return s.primary.LocateLeafHashes(ctx, hashes)
}

// LatestCosigned returns the log's newest cosigned checkpoint (primary).
func (s *Set) LatestCosigned(ctx context.Context, treeID int64) (storage.CosignedCheckpoint, error) {
	return s.primary.LatestCosigned(ctx, treeID)
}

// StoreCosigned stores a cosigned checkpoint (primary).
func (s *Set) StoreCosigned(ctx context.Context, treeID int64, cp storage.CosignedCheckpoint) (bool, error) {
	return s.primary.StoreCosigned(ctx, treeID, cp)
}

// TryLease takes or renews a lease (primary).
func (s *Set) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	return s.primary.TryLease(ctx, name, holder, ttl)
}

// Ping checks the primary: a server whose replica is down still serves
// everything.
func (s *Set) Ping(ctx context.Context) error { return s.primary.Ping(ctx) }

// Close stops the poller and closes both stores. Calling it more than once
// is harmless.
func (s *Set) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.unreg()
		s.closeErr = errors.Join(s.replica.Close(), s.primary.Close())
	})
	return s.closeErr
}

// OpenLog returns the log's Storage, routing its reads. The handles of one
// log share what is known of its heads.
func (s *Set) OpenLog(ctx context.Context, treeID int64) (storage.Storage, error) {
	s.mu.Lock()
	l, ok := s.logs[treeID]
	s.mu.Unlock()
	if ok {
		return l, nil
	}
	p, err := s.primary.OpenLog(ctx, treeID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.logs[treeID]; ok {
		return l, nil
	}
	l = &logRoute{set: s, treeID: treeID, primary: p, lag: s.lag.WithLabelValues(strconv.FormatInt(treeID, 10))}
	s.logs[treeID] = l
	s.wake()
	return l, nil
}

// logRoute is one log's storage.Storage.
type logRoute struct {
	set     *Set
	treeID  int64
	primary storage.Storage
	lag     prometheus.Gauge

	head        atomic.Uint64 // the largest size the primary gave (read or committed)
	replicaSize atomic.Uint64 // the replica's size as last polled: a lower bound

	mu      sync.Mutex      // held while opening the replica's handle
	replica storage.Storage // nil until the replica holds the log
}

var _ storage.Storage = (*logRoute)(nil)

// sawHead records a head of the primary.
func (l *logRoute) sawHead(size uint64) {
	for {
		h := l.head.Load()
		if size <= h || l.head.CompareAndSwap(h, size) {
			break
		}
	}
	l.updateLag()
}

func (l *logRoute) updateLag() {
	h, r := l.head.Load(), l.replicaSize.Load()
	if r >= h {
		l.lag.Set(0)
	} else {
		l.lag.Set(float64(h - r))
	}
}

// replicaLog returns the replica's handle of the log, nil if the replica
// does not hold it yet.
func (l *logRoute) replicaLog() storage.Storage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.replica
}

// pollReplica reads the replica's size of the log, opening the replica's
// handle first if needed. A log the replica does not hold yet is no
// failure.
func (l *logRoute) pollReplica(ctx context.Context) error {
	l.mu.Lock()
	r := l.replica
	if r == nil {
		var err error
		r, err = l.set.replica.OpenLog(ctx, l.treeID)
		if errors.Is(err, storage.ErrNotFound) {
			l.mu.Unlock()
			return nil
		}
		if err != nil {
			l.mu.Unlock()
			return err
		}
		l.replica = r
	}
	l.mu.Unlock()
	st, err := r.LatestTreeState(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for {
		old := l.replicaSize.Load()
		if st.Size <= old || l.replicaSize.CompareAndSwap(old, st.Size) {
			break
		}
	}
	l.updateLag()
	return nil
}

// replicaFor returns the replica's handle if reads needing a tree of size
// need may go to it, nil otherwise (waking the poller when the replica is
// only too small).
func (l *logRoute) replicaFor(need uint64) storage.Storage {
	if !l.set.useReplica() {
		return nil
	}
	r := l.replicaLog()
	if r == nil {
		return nil
	}
	if l.replicaSize.Load() < need {
		l.set.wake()
		return nil
	}
	return r
}

// replicaErr handles an error of the replica: it reports whether the read
// should be made on the primary (always, unless the caller's context
// ended), marking the replica down unless it only lacks what was asked.
func (l *logRoute) replicaErr(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if !errors.Is(err, storage.ErrNotFound) {
		l.set.markDown(err)
	}
	return true
}

// onReplica runs read on the replica r, bounded by the replica timeout.
func onReplica[T any](ctx context.Context, l *logRoute, r storage.Storage, read func(context.Context, storage.Storage) (T, error)) (T, error) {
	rctx, cancel := context.WithTimeout(ctx, l.set.cfg.Timeout)
	defer cancel()
	return read(rctx, r)
}

// CreateTree stores the log's initial head (primary).
func (l *logRoute) CreateTree(ctx context.Context, state storage.TreeState) error {
	return l.primary.CreateTree(ctx, state)
}

// LatestTreeState returns the log's head (primary), recording its size.
func (l *logRoute) LatestTreeState(ctx context.Context) (storage.TreeState, error) {
	st, err := l.primary.LatestTreeState(ctx)
	if err == nil {
		l.sawHead(st.Size)
	}
	return st, err
}

// Append commits a batch (primary), recording the new head's size.
func (l *logRoute) Append(ctx context.Context, req storage.AppendRequest) error {
	err := l.primary.Append(ctx, req)
	if err == nil {
		l.sawHead(req.State.Size)
	}
	return err
}

// LookupLeafHashes looks leaves up (primary: the write path's duplicate
// check).
func (l *logRoute) LookupLeafHashes(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]uint64, error) {
	return l.primary.LookupLeafHashes(ctx, hashes)
}

// ReadEntries reads from the replica when its tree holds all of [start,
// end), else from the primary.
func (l *logRoute) ReadEntries(ctx context.Context, start, end uint64) ([]storage.Entry, error) {
	if r := l.replicaFor(end); r != nil && start < end {
		es, err := onReplica(ctx, l, r, func(ctx context.Context, r storage.Storage) ([]storage.Entry, error) {
			return r.ReadEntries(ctx, start, end)
		})
		switch {
		case err == nil && uint64(len(es)) == end-start:
			l.set.count("replica", "entries")
			return es, nil
		case err != nil && !l.replicaErr(ctx, err):
			return nil, err
		}
	}
	l.set.count("primary", "entries")
	return l.primary.ReadEntries(ctx, start, end)
}

// ReadEntryByLeafHash reads from the replica, and from the primary a leaf
// the replica does not hold.
func (l *logRoute) ReadEntryByLeafHash(ctx context.Context, hash storage.Hash) (storage.Entry, error) {
	if r := l.replicaFor(0); r != nil {
		e, err := onReplica(ctx, l, r, func(ctx context.Context, r storage.Storage) (storage.Entry, error) {
			return r.ReadEntryByLeafHash(ctx, hash)
		})
		if err == nil {
			l.set.count("replica", "entry_by_leaf")
			return e, nil
		}
		if !l.replicaErr(ctx, err) {
			return storage.Entry{}, err
		}
	}
	l.set.count("primary", "entry_by_leaf")
	return l.primary.ReadEntryByLeafHash(ctx, hash)
}

// ReadEntryAndTile reads the entry at index with its level-0 tile's part
// (storage.EntryTileReader) from the replica when its tree holds the whole
// tile, else from the primary. A store that cannot read both in one query
// reads the entry alone, with no tile.
func (l *logRoute) ReadEntryAndTile(ctx context.Context, index uint64) (storage.Entry, storage.EntryTile, error) {
	type entryTile struct {
		e    storage.Entry
		tile storage.EntryTile
	}
	read := func(ctx context.Context, s storage.Storage) (entryTile, error) {
		e, tile, err := storage.ReadEntryAndTile(ctx, s, index)
		return entryTile{e, tile}, err
	}
	need := uint64(math.MaxUint64) // the tile's whole tree, and the entry
	if index < math.MaxUint64-merkle.TileWidth {
		need = (index/merkle.TileWidth + 1) * merkle.TileWidth
	}
	if r := l.replicaFor(need); r != nil {
		got, err := onReplica(ctx, l, r, read)
		switch {
		case err == nil:
			l.set.count("replica", "entries")
			return got.e, got.tile, nil
		case !l.replicaErr(ctx, err):
			return storage.Entry{}, storage.EntryTile{}, err
		}
	}
	l.set.count("primary", "entries")
	got, err := read(ctx, l.primary)
	return got.e, got.tile, err
}

// tileNeed returns how many hashes of tile (level, index) the tree of size
// holds, and the size of the tree that holds them all; 0, 0 when it holds
// none.
func tileNeed(level uint8, index, size uint64) (width int, need uint64) {
	if uint(level) >= 64/merkle.TileHeight {
		return 0, 0
	}
	shift := merkle.TileHeight * uint(level)
	nodes := size >> shift
	if index >= (nodes+merkle.TileWidth-1)/merkle.TileWidth {
		return 0, 0
	}
	width = int(min(nodes-index*merkle.TileWidth, merkle.TileWidth))
	// The tree of size holds width nodes of the tile from
	// (index*256 + width) << shift leaves on.
	return width, (index*merkle.TileWidth + uint64(width)) << shift
}

// ReadTile reads from the replica when its tree holds as much of the tile
// as the largest head seen, and the tile it returns is that wide; else
// from the primary.
func (l *logRoute) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	if width, need := tileNeed(level, index, l.head.Load()); width > 0 {
		if r := l.replicaFor(need); r != nil {
			t, err := onReplica(ctx, l, r, func(ctx context.Context, r storage.Storage) ([]byte, error) {
				return r.ReadTile(ctx, level, index)
			})
			switch {
			case err == nil && len(t) >= width*merkle.HashSize:
				l.set.count("replica", "tile")
				return t, nil
			case err != nil && !l.replicaErr(ctx, err):
				return nil, err
			}
		}
	}
	l.set.count("primary", "tile")
	return l.primary.ReadTile(ctx, level, index)
}

// Search reads from the replica when its tree is at least the largest head
// seen, else from the primary.
func (l *logRoute) Search(ctx context.Context, key storage.Hash) ([]uint64, error) {
	if h := l.head.Load(); h > 0 {
		if r := l.replicaFor(h); r != nil {
			idx, err := onReplica(ctx, l, r, func(ctx context.Context, r storage.Storage) ([]uint64, error) {
				return r.Search(ctx, key)
			})
			if err == nil {
				l.set.count("replica", "search")
				return idx, nil
			}
			if !l.replicaErr(ctx, err) {
				return nil, err
			}
		}
	}
	l.set.count("primary", "search")
	return l.primary.Search(ctx, key)
}

// Ping checks the primary.
func (l *logRoute) Ping(ctx context.Context) error { return l.set.Ping(ctx) }

// Close closes the set.
func (l *logRoute) Close() error { return l.set.Close() }
