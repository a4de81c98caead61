// Package log is the transparency log's own logic: it batches proposed leaves,
// integrates each batch into the Merkle tree in one storage transaction,
// signs checkpoints (and, if the log's profile asks, entry timestamps), and
// answers reads (entries, proofs, tiles) from storage through an in-memory
// cache of immutable tiles.
//
// The log knows no transparency-log protocol: what its checkpoints look like
// (origin, key name, key ID form) and whether entries get a signed timestamp
// (SET) are its Profile, given at Open. The Rekor v1 profile is in package
// profile/rekorv1.
//
// The write path, top to bottom:
//
//	Add ─► size check (a body over merkle.MaxBundleEntry → EntryTooLargeError)
//	    ─► queue (bounded; full → ErrPushback)
//	    ─► integrator goroutine: take up to BatchMaxSize leaves
//	    ─► integrate: drop duplicates · assign indexes · sign entries (if the
//	       profile has SignEntry) · extend the tiles · new root · sign
//	       checkpoint · storage.Append (CAS on size)
//	    ─► every waiting Add returns its entry and the new head
//
// When storage.Append fails, what happens depends on why:
//
//   - the tree moved (storage.ErrStaleTree, another process appended first):
//     reload the head and rebuild the same batch on it;
//   - one entry's data cannot be stored (a *storage.EntryError): that leaf
//     alone gets a RejectedError, and the batch is rebuilt without it;
//   - the database refused the batch's data without saying whose
//     (storage.ErrRejected): the batch is split in halves, each integrated
//     as its own batch, down to the one leaf at fault, which alone gets a
//     RejectedError (at most two transactions per level of halving: about
//     2·log2(n) for a batch of n with one bad leaf);
//   - anything else (the database down, a commit of unknown outcome, a
//     timeout): every leaf of the batch gets the error, and the head is
//     reloaded before the next batch.
//
// Promises: nothing is acknowledged (Add returns no error) before the batch is
// committed; a leaf hash is never appended twice; one leaf's data never fails
// another leaf; every checkpoint this log signs is consistent with every
// earlier one, also when several processes share one database (the storage's
// compare-and-swap on the tree size serialises them; a process that lost the
// race reloads and retries).
package log

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/log/diskcache"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

// Defaults for Config.
const (
	// DefaultBatchMaxSize is the most leaves integrated in one transaction.
	DefaultBatchMaxSize = 1024
	// DefaultBatchMaxKeys is the most search keys integrated in one
	// transaction: a batch closes before a leaf that would take it over
	// (a leaf alone is always taken). Each key is an index row; with an
	// entry indexed under up to 1,024 keys, a batch of 1,024 such entries
	// would write a million rows in one transaction (seconds), while a
	// typical entry has 2 to 5 keys.
	DefaultBatchMaxKeys = 64 * 1024
	// DefaultBatchMaxAge is how long the integrator, when idle, waits for a
	// batch to fill before it integrates what it has. Zero means group commit:
	// a batch starts as soon as the previous one is appended (and is prepared
	// while it is), so a lone writer waits for one transaction and heavy load
	// makes large batches.
	DefaultBatchMaxAge = time.Duration(0)
	// DefaultMaxPending is the most leaves waiting in the queue; beyond it
	// Add fails with ErrPushback. The batch being appended and the one
	// prepared meanwhile (see the integrator) are off the queue.
	DefaultMaxPending = 4 * DefaultBatchMaxSize
	// DefaultTileCacheSize is how many full (immutable) tiles are cached:
	// 8 KiB each, 16 KiB with the inner nodes a proof computes, so 128 MiB:
	// every tile of a log of two million entries.
	DefaultTileCacheSize = 8192
	// DefaultBundleCacheSize is how many full entry bundles are cached.
	DefaultBundleCacheSize = 256
	// DefaultBundleCacheBytes bounds the memory of the cached entry
	// bundles (256 entries of up to 64 KiB each: up to 16 MiB a bundle;
	// hashedrekord bundles take about 170 KiB).
	DefaultBundleCacheBytes = 64 << 20
	// DefaultEntryCacheSize is the most entries (body, integrated time, SET,
	// attestation: immutable once integrated) cached for entry reads by
	// index or leaf hash, and as they are integrated.
	DefaultEntryCacheSize = 256 << 10
	// DefaultEntryCacheBytes bounds the memory of the cached entries: their
	// leaf hashes, bodies (encoded as the storage keeps them when they come
	// so: those this process integrates or reads from storage), SETs and
	// attestations, plus an estimated overhead per entry. A hashedrekord
	// entry with an ECDSA key takes about 540 bytes in all encoded, 840
	// raw (BenchmarkEntryCacheMemory), so the cache holds about 250,000 of
	// them in 128 MiB.
	DefaultEntryCacheBytes = 128 << 20
	// DefaultHeadMaxAge bounds how stale the cached head may be before a read
	// reloads it from storage (other processes may have grown the tree).
	DefaultHeadMaxAge = 250 * time.Millisecond
	// DefaultIntegrationTimeout bounds one integration transaction.
	DefaultIntegrationTimeout = 30 * time.Second
)

// Errors callers branch on.
var (
	// ErrPushback: too many leaves are waiting; retry later (HTTP 503).
	ErrPushback = errors.New("log: too many pending entries")
	// ErrClosed: the log is shutting down.
	ErrClosed = errors.New("log: closed")
	// ErrFrozen: the log is frozen (storage.ErrFrozen): it takes no more
	// leaves. Nothing of the leaf was written; it belongs in the log that
	// replaced this one.
	ErrFrozen = errors.New("log: frozen")
)

// EntryTooLargeError reports a leaf whose body is larger than the log can
// serve: every entry is also served in a C2SP entry bundle, which holds
// entries of at most merkle.MaxBundleEntry bytes. Add refuses such a leaf
// before queueing it.
type EntryTooLargeError struct {
	Size  int // the body's size in bytes
	Limit int // merkle.MaxBundleEntry
}

func (e *EntryTooLargeError) Error() string {
	return fmt.Sprintf("log: the canonical entry is %d bytes; this log holds entries of at most %d bytes (the C2SP entry bundle limit)", e.Size, e.Limit)
}

// RejectedError reports that the storage cannot hold a leaf's data (see
// storage.EntryError and storage.ErrRejected): the leaf alone was refused,
// and nothing of it was written; the other leaves of its batch were
// integrated without it. Sending it again gets the same answer.
type RejectedError struct {
	// Reason says what the storage could not hold.
	Reason string
	// Err is the storage's error.
	Err error
}

func (e *RejectedError) Error() string {
	return "log: the entry cannot be stored: " + e.Reason
}

func (e *RejectedError) Unwrap() error { return e.Err }

// DuplicateError reports that a leaf is already stored: in this log or,
// with Config.Locate, in another log of its set.
type DuplicateError struct {
	LeafHash merkle.Hash
	// TreeID is the tree ID of the log holding the leaf.
	TreeID int64
	// Index is the leaf's index in that log.
	Index uint64
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("log: duplicate of entry %d of tree %d", e.Index, e.TreeID)
}

// Locator finds leaves stored in any log of a set (storage.LogSet's
// LocateLeafHashes): their log and their index in it.
type Locator func(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]storage.LeafLocation, error)

// Config configures a Log. Zero values take the defaults above.
type Config struct {
	// Storage holds the tree. Required.
	Storage storage.Storage
	// Signer signs checkpoints and, with the profile's SignEntry, entries.
	// Required.
	Signer signer.Signer
	// Profile is the checkpoint form and entry signing of the protocol the
	// log speaks (see Profile). Required.
	Profile Profile
	// Frozen opens a log that takes no more leaves: Open neither creates
	// nor integrates, Add fails with ErrFrozen, and Signer is only asked
	// for its public key (signer.PublicOnly will do). The storage must hold
	// the tree.
	Frozen bool
	// Locate, if not nil, looks up the leaves of each batch in every log of
	// the set instead of this log alone, so a leaf stored in another log
	// is answered with a DuplicateError naming that log. Nil: this log's
	// storage alone.
	Locate Locator

	BatchMaxSize  int
	BatchMaxKeys  int
	BatchMaxAge   time.Duration
	MaxPending    int
	TileCacheSize int
	// BundleCacheSize and BundleCacheBytes bound the cache of full entry
	// bundles by count and by bytes (0: the defaults).
	BundleCacheSize    int
	BundleCacheBytes   int64
	HeadMaxAge         time.Duration
	IntegrationTimeout time.Duration

	// EntryCacheSize and EntryCacheBytes bound the cache of entries read by
	// index or leaf hash (0: the defaults; negative EntryCacheSize: no cache).
	EntryCacheSize  int
	EntryCacheBytes int64
	// DiskCache, if not nil, keeps full level-0 tiles with their entries in
	// local files, read for an entry missing from the entry cache before
	// the storage is (see entryFromDisk; docs/ARCHITECTURE.md). It may be
	// shared by logs (its keys carry the tree ID).
	DiskCache *diskcache.Cache
	// Caches, if not nil, are caches shared with other logs (NewCaches);
	// the cache sizes above and DiskCache are then unused.
	Caches *Caches

	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the log's metrics, each with the constant label
	// log="<origin>", so that several logs share one registry; nil
	// registers nowhere.
	Registerer prometheus.Registerer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	if c.Storage == nil || c.Signer == nil {
		return errors.New("log: Storage and Signer are required")
	}
	if err := c.Profile.check(); err != nil {
		return err
	}
	if c.BatchMaxSize <= 0 {
		c.BatchMaxSize = DefaultBatchMaxSize
	}
	if c.BatchMaxKeys <= 0 {
		c.BatchMaxKeys = DefaultBatchMaxKeys
	}
	if c.BatchMaxAge < 0 {
		return errors.New("log: BatchMaxAge must not be negative")
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 4 * c.BatchMaxSize
	}
	c.setCacheDefaults()
	if c.HeadMaxAge <= 0 {
		c.HeadMaxAge = DefaultHeadMaxAge
	}
	if c.IntegrationTimeout <= 0 {
		c.IntegrationTimeout = DefaultIntegrationTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// setCacheDefaults gives the cache sizes their defaults.
func (c *Config) setCacheDefaults() {
	if c.TileCacheSize <= 0 {
		c.TileCacheSize = DefaultTileCacheSize
	}
	if c.BundleCacheSize <= 0 {
		c.BundleCacheSize = DefaultBundleCacheSize
	}
	if c.BundleCacheBytes <= 0 {
		c.BundleCacheBytes = DefaultBundleCacheBytes
	}
	if c.EntryCacheSize == 0 {
		c.EntryCacheSize = DefaultEntryCacheSize
	}
	if c.EntryCacheBytes <= 0 {
		c.EntryCacheBytes = DefaultEntryCacheBytes
	}
}

// Log is one transparency log.
type Log struct {
	cfg     Config
	store   storage.Storage
	signer  signer.Signer
	profile Profile
	logID   [32]byte
	treeID  int64
	origin  string
	metrics *metrics

	caches *Caches

	headMu     sync.Mutex
	head       storage.TreeState
	headLoaded time.Time
	headValid  bool
	// edge holds the right-edge tiles written by this process's last
	// integration, valid for the tree of head.Size while headValid.
	// Their inner nodes are computed on first use.
	edge map[tileKey]*edgeTile

	// The queue of leaves waiting for integration.
	qMu     sync.Mutex
	queue   []*pending
	closed  bool
	frozen  bool // the storage refused an append: ErrFrozen from now on
	wake    chan struct{}
	stopped chan struct{}

	// lookupUntil is when batches stop looking their leaves up before
	// appending (see integrateOnce); only the integrator uses it.
	lookupUntil time.Time

	// fills are the full tiles waiting to be written to the disk cache
	// (nil: no disk cache), queued holds them (see queueFill); fillsDone
	// is closed when the filler has stopped.
	fills     chan fill
	fillMu    sync.Mutex
	queued    map[uint64]bool
	fillsDone chan struct{}
}

type tileKey struct {
	level uint8
	index uint64
}

// Open loads the log from storage, creating an empty tree with a fresh random
// tree ID on first use (unless Frozen), checks that the stored checkpoint was signed by this
// key for the profile's origin and key name and that the stored tiles
// reproduce its root, registers the metrics, and starts the integrator.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	caches := cfg.Caches
	if caches == nil {
		var err error
		if caches, err = NewCaches(cfg); err != nil {
			return nil, err
		}
	}
	l := &Log{
		cfg:     cfg,
		store:   cfg.Storage,
		signer:  cfg.Signer,
		profile: cfg.Profile,
		logID:   cfg.Signer.LogID(),
		caches:  caches,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	head, err := l.store.LatestTreeState(ctx)
	if errors.Is(err, storage.ErrNotFound) && !cfg.Frozen {
		head, err = l.create(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("log: loading tree state: %w", err)
	}
	l.treeID = head.TreeID
	l.origin = cfg.Profile.Origin(head.TreeID)
	if err := l.checkHead(ctx, head); err != nil {
		return nil, err
	}
	if l.metrics, err = newMetrics(cfg.Registerer, l.origin); err != nil {
		return nil, err
	}
	l.setHead(head, nil, nil)
	l.metrics.treeSize.Set(float64(head.Size))
	l.frozen = cfg.Frozen
	go l.integrator()
	if caches.files != nil {
		l.fills, l.queued, l.fillsDone = make(chan fill, maxQueuedFills), map[uint64]bool{}, make(chan struct{})
		go l.filler()
	}
	return l, nil
}

// create stores a new empty tree; if another process won the race it loads theirs.
func (l *Log) create(ctx context.Context) (storage.TreeState, error) {
	st, err := NewTree(l.profile, l.signer)
	if err != nil {
		return storage.TreeState{}, err
	}
	err = l.store.CreateTree(ctx, st)
	if errors.Is(err, storage.ErrTreeExists) {
		return l.store.LatestTreeState(ctx)
	}
	if err != nil {
		return storage.TreeState{}, err
	}
	l.cfg.Logger.Info("created new log", "treeID", st.TreeID, "profile", l.profile.Name, "origin", l.profile.Origin(st.TreeID))
	return st, nil
}

// NewTree returns the head of a new, empty tree with a fresh random positive
// 63-bit tree ID, its checkpoint signed by s for the profile, to store with
// storage.LogSet.CreateLog or Rotate.
func NewTree(profile Profile, s signer.Signer) (storage.TreeState, error) {
	if err := profile.check(); err != nil {
		return storage.TreeState{}, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return storage.TreeState{}, err
	}
	treeID := int64(binary.BigEndian.Uint64(b[:]) >> 1)
	if treeID == 0 {
		treeID = 1
	}
	root := sha256.Sum256(nil)
	cp, err := SignCheckpoint(profile, s, profile.Origin(treeID), 0, root)
	if err != nil {
		return storage.TreeState{}, err
	}
	return storage.TreeState{TreeID: treeID, Size: 0, Root: root, Checkpoint: cp}, nil
}

// checkHead refuses a stored state this process must not continue: a
// checkpoint signed by another key or for another origin, or tiles that do not
// reproduce the stored root.
func (l *Log) checkHead(ctx context.Context, head storage.TreeState) error {
	cp, err := checkpoint.Verify(head.Checkpoint, l.origin, l.profile.KeyName, l.profile.KeyIDForm, l.signer.Public())
	if err != nil {
		return fmt.Errorf("log: the stored checkpoint does not verify with the configured key and origin %q "+
			"(was the key or --hostname changed?): %w", l.origin, err)
	}
	if cp.Size != head.Size || cp.Root != head.Root {
		return fmt.Errorf("log: the stored checkpoint (size %d) disagrees with the stored tree state (size %d)", cp.Size, head.Size)
	}
	root, err := merkle.RootHash(ctx, l.tileReader(), head.Size)
	if err != nil {
		return fmt.Errorf("log: recomputing the root from the stored tiles: %w", err)
	}
	if root != head.Root {
		return fmt.Errorf("log: the stored tiles give root %x at size %d, but the tree state says %x", root, head.Size, head.Root)
	}
	return nil
}

// TreeID is the log's tree ID.
func (l *Log) TreeID() int64 { return l.treeID }

// Origin is the log's checkpoint origin.
func (l *Log) Origin() string { return l.origin }

// LogID is SHA-256 of the log's DER public key.
func (l *Log) LogID() [32]byte { return l.logID }

// Signer is the log's signer.
func (l *Log) Signer() signer.Signer { return l.signer }

// Profile is the log's profile.
func (l *Log) Profile() Profile { return l.profile }

// KeyName is the key name on the checkpoint's signature line.
func (l *Log) KeyName() string { return l.profile.KeyName }

// Frozen reports whether the log takes no more leaves: it was opened Frozen,
// or the storage refused an append because the log was frozen.
func (l *Log) Frozen() bool {
	l.qMu.Lock()
	defer l.qMu.Unlock()
	return l.frozen
}
