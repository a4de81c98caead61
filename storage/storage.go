// Package storage defines what the log needs from a database, and nothing more.
//
// A Storage holds one log: its tree state (size, root hash, latest signed
// checkpoint), its entries (one row each, keyed by index and by leaf hash),
// its Merkle tiles in the C2SP tlog-tiles layout, and a search index.
//
// A LogSet is one database holding several logs (see LogInfo); OpenLog gives
// each its Storage. Entries of every log share one table under virtual
// indexes (the log's StartIndex + its own index), so a leaf hash is unique
// across the set, and LocateLeafHashes finds a leaf in whichever log holds
// it. Rotate freezes a profile's active log at its head and starts its
// successor in one transaction, while other processes append: a batch lands
// in the old log before it froze or fails with ErrFrozen, never in between.
// Active gives a program that runs one log its Storage.
//
// The durability contract: when Append returns nil, the batch, its tiles and the
// new tree state are durably committed together; when it returns an error, either
// nothing of the batch was written or (for a failure after commit, which a caller
// cannot tell apart) all of it was. Append never writes part of a batch.
//
// Append is guarded by compare-and-swap on the tree size: it takes the tree-state
// row lock and fails with ErrStaleTree, writing nothing, when the stored size is
// not the size the caller built its batch on. That is what lets several
// processes share one database without forking the tree.
//
// Data the database cannot hold is reported apart from every other failure,
// so that a caller can keep one entry's data from failing the others of its
// batch. Append fails, writing nothing, with
//
//   - an *EntryError (matching ErrEntryRejected) when the driver knows which
//     entry's data it cannot hold: its own checks, made before the database
//     is touched, found it;
//   - an error matching ErrRejected when the database refused the batch for
//     its data (a value out of range or of the wrong form, a value too large
//     for a row or an index, a constraint other than the ones below) without
//     saying which entry: a smaller batch without the culprit would commit.
//
// Neither is ever returned for a failure that has nothing to do with the
// data: the database unreachable or timing out, a COMMIT of unknown outcome,
// a cancelled context (those keep their own errors), the compare-and-swap
// (ErrStaleTree) or a stored leaf hash (ErrDuplicate). A batch that breaks
// AppendRequest's invariants (indexes, sizes, tiles) is the caller's bug,
// not its data: it gets a plain error.
//
// This package imports nothing of ours; the drivers live in postgres/ and sqlite/
// and both pass the conformance suite in storagetest/.
package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Sentinel errors callers branch on. Drivers wrap them with context.
var (
	// ErrNotFound: the entry, tile or tree does not exist.
	ErrNotFound = errors.New("not found")
	// ErrStaleTree: Append's OldSize is not the stored tree size; nothing was written.
	ErrStaleTree = errors.New("stale tree size")
	// ErrTreeExists: CreateTree found a tree already there.
	ErrTreeExists = errors.New("tree already exists")
	// ErrDuplicate: an entry of the batch has a leaf hash already stored
	// (the caller should have dropped it); nothing was written.
	ErrDuplicate = errors.New("duplicate leaf hash")
	// ErrRejected: the database refused the batch because of data in it,
	// not knowing which entry's (see the package comment); nothing was
	// written. The same batch will be refused again; smaller batches
	// without the culprit will not.
	ErrRejected = errors.New("the database refused the data")
	// ErrEntryRejected is matched (errors.Is) by every *EntryError.
	ErrEntryRejected = errors.New("entry cannot be stored")
	// ErrFrozen: Append to a log whose state is not active; nothing was
	// written. A frozen log never grows again.
	ErrFrozen = errors.New("the log is frozen")
	// ErrActiveLog: CreateLog found another active log of the same profile;
	// nothing was written.
	ErrActiveLog = errors.New("another log of the profile is active")
)

// EntryError reports that one entry of a batch holds data the store cannot
// hold; nothing of the batch was written. The batch without that entry may
// commit. It matches ErrEntryRejected.
type EntryError struct {
	// Index is the entry's log index, as in the AppendRequest.
	Index uint64
	// Err says what the store cannot hold, in words fit for the entry's
	// submitter.
	Err error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("entry %d cannot be stored: %v", e.Index, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// Is makes every EntryError match ErrEntryRejected.
func (e *EntryError) Is(target error) bool { return target == ErrEntryRejected }

// Hash is a SHA-256 / RFC 6962 hash.
type Hash = [32]byte

// TreeState is the log's head: what was last committed.
type TreeState struct {
	// TreeID is the log's random positive 63-bit identifier, fixed at creation.
	TreeID int64
	// Size is the number of entries in the tree.
	Size uint64
	// Root is the RFC 6962 root hash of the tree of Size entries.
	Root Hash
	// Checkpoint is the signed note committing to (Size, Root).
	Checkpoint []byte
}

// Entry is one logged entry.
type Entry struct {
	// Index is the entry's position in the log (0-based).
	Index uint64
	// LeafHash is the RFC 6962 leaf hash of Body; unique in the log.
	LeafHash Hash
	// Body is the canonical entry, the leaf's value.
	Body []byte
	// IntegratedTime is when the entry was integrated, in Unix seconds.
	IntegratedTime int64
	// SET is the signed entry timestamp, signed at integration.
	SET []byte
	// Attestation is optional opaque data stored beside the entry (intoto/dsse).
	Attestation []byte
	// SearchKeys are written to the search index with the entry, in the same
	// transaction: opaque fixed-size hashes of the entry's typed keys (the
	// caller's encoding; see types.SearchKey), so any key fits the index.
	// Repeats are allowed and stored once. They are not read back by the
	// Read methods.
	SearchKeys []Hash
	// Stored, when not nil, is Body as the drivers keep it on disk, encoded
	// by the caller with storage/bodycodec ahead of Append, so that the
	// encoding runs off Append's path; Append stores it as it is. Nil:
	// Append encodes Body. The Read methods set it beside Body when the
	// body is stored encoded (for the log's entry cache, which keeps bodies
	// encoded).
	Stored *StoredBody
}

// StoredBody is an entry body as storage/bodycodec encodes it for the
// drivers: the bytes to store and their format (a bodycodec.Format).
type StoredBody struct {
	Data   []byte
	Format int16
}

// Tile is a Merkle tile: the hashes of tree level 8*Level, nodes
// [256*Index, 256*Index+len(Hashes)/32). A full tile holds 256 hashes.
type Tile struct {
	Level  uint8
	Index  uint64
	Hashes []byte
	// Nodes are a full tile's upper inner nodes (merkle.UpperNodes, 960
	// bytes), stored beside it for ReadEntryAndTile; nil for a partial
	// tile (and from a caller that has none to give).
	Nodes []byte
}

// AppendRequest is one sequenced batch, ready to commit.
type AppendRequest struct {
	// OldSize is the tree size the batch was built on (the CAS guard).
	OldSize uint64
	// Entries have contiguous indexes OldSize, OldSize+1, ….
	Entries []Entry
	// Tiles are the new contents of every tile the batch touched. The
	// hashes of a level-0 tile are the leaf hashes of its entries, in
	// index order (RFC 6962, as package merkle builds them): a driver may
	// drop a partial level-0 tile and derive it from the entries when read
	// (see Storage.ReadTile).
	Tiles []Tile
	// State is the new head; State.Size == OldSize + len(Entries).
	State TreeState
}

// EntryTileReader is implemented by a Storage that reads an entry and what
// an inclusion proof needs of its level-0 tile in one query. The log reads
// an entry missing from its cache that way, and caches the tile's part for
// the proof answered with the entry: on a log larger than the caches, one
// round trip per read instead of two, and 1.5 KiB read instead of 8 KiB.
// It returns storage.ErrNotFound (and no tile) for an entry it does not
// hold; an empty EntryTile for a tile that is not stored full (or, from a
// wrapper whose store cannot read both in one query, with the entry read
// alone). The entry's tile is tile index/256.
type EntryTileReader interface {
	ReadEntryAndTile(ctx context.Context, index uint64) (Entry, EntryTile, error)
}

// EntryTile is what ReadEntryAndTile gives of an entry's full level-0
// tile: the whole tile when it is stored without its upper nodes (a tile
// written before they were stored); else the 16 hashes of the entry's
// group (the tile's hashes 16·g to 16·g+15, g = index%256/16) and the
// upper nodes (Tile.Nodes): what merkle.NewGroupNodes takes.
type EntryTile struct {
	Hashes []byte
	Group  []byte
	Nodes  []byte
}

// NewEntryTile is the EntryTile of a tile read as a driver reads it: its
// upper nodes (nil for none) and its hashes, whole when there are no nodes
// and the entry's group when there are; none for a tile not stored full
// (nil hashes).
func NewEntryTile(nodes, hashes []byte) EntryTile {
	switch {
	case hashes == nil:
		return EntryTile{}
	case nodes == nil:
		return EntryTile{Hashes: hashes}
	}
	return EntryTile{Group: hashes, Nodes: nodes}
}

// ReadEntryAndTile reads the entry at index with its level-0 tile from s
// in one query when s is an EntryTileReader; else it reads the entry alone
// and returns no tile: what a wrapper of a Storage answers as an
// EntryTileReader.
func ReadEntryAndTile(ctx context.Context, s Storage, index uint64) (Entry, EntryTile, error) {
	if r, ok := s.(EntryTileReader); ok {
		return r.ReadEntryAndTile(ctx, index)
	}
	es, err := s.ReadEntries(ctx, index, index+1)
	if err != nil {
		return Entry{}, EntryTile{}, err
	}
	if len(es) == 0 {
		return Entry{}, EntryTile{}, fmt.Errorf("read entry %d: %w", index, ErrNotFound)
	}
	return es[0], EntryTile{}, nil
}

// TileNodesBackfiller is implemented by a LogSet that can give full tiles
// stored without their upper nodes (Tile.Nodes; tiles written before
// schema 9) those nodes, so that reads of their old entries take a group
// instead of the whole tile (EntryTileReader): `tabula migrate
// --tile-nodes`. Safe while servers run on the database: a full tile
// never changes, and its nodes are a function of its hashes.
type TileNodesBackfiller interface {
	// BackfillTileNodes stores the upper nodes of every full tile of the
	// database (every log's) stored without, chunk tiles at a time, each
	// chunk committed on its own; it calls progress (when not nil) with
	// the running count after each chunk, and returns the count.
	BackfillTileNodes(ctx context.Context, chunk int, progress func(done int)) (int, error)
}

// Storage is one log's persistent state. Implementations are safe for
// concurrent use.
type Storage interface {
	// CreateTree stores the initial state of a new, empty log. It fails with
	// ErrTreeExists (writing nothing) if a tree is already stored.
	CreateTree(ctx context.Context, state TreeState) error
	// LatestTreeState returns the last committed state, or ErrNotFound when no
	// tree was created yet.
	LatestTreeState(ctx context.Context) (TreeState, error)
	// Append commits a batch atomically; see the package comment.
	Append(ctx context.Context, req AppendRequest) error

	// LookupLeafHashes returns the index of every given leaf hash that is
	// stored; absent hashes are absent from the map.
	LookupLeafHashes(ctx context.Context, hashes []Hash) (map[Hash]uint64, error)
	// ReadEntries returns the entries with indexes in [start, end), in order.
	// Indexes past the tree size are simply not returned.
	ReadEntries(ctx context.Context, start, end uint64) ([]Entry, error)
	// ReadEntryByLeafHash returns the entry with that leaf hash, or ErrNotFound.
	ReadEntryByLeafHash(ctx context.Context, hash Hash) (Entry, error)
	// ReadTile returns the hashes of tile (level, index), or ErrNotFound.
	// A right-edge tile may hold fewer than 256 hashes; it holds at least
	// the nodes of the committed tree (it may be wider than a head read
	// before it, when a batch committed in between).
	//
	// A level-0 tile's hashes are its entries' leaf hashes (see
	// AppendRequest.Tiles), so a driver need not store a partial level-0
	// tile: it may store level-0 tiles only once full and answer the
	// right-edge one from the leaf hashes of the log's entries
	// [256*index, size) read in one snapshot with the size, which cannot
	// disagree with the tree state since a batch's entries, tiles and head
	// commit together. Both drivers do (a stored level-0 tile narrower than
	// 256 hashes, left by an older release, is ignored).
	ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error)
	// Search returns the indexes of the entries indexed under key (one of
	// their Entry.SearchKeys), ascending.
	//
	// A driver may index a key by its first 16 bytes (both drivers do:
	// the search index is a third of the log's bytes on disk, and a
	// 128-bit key halves its B-tree), so Search returns the entries
	// indexed under any key sharing key's first 16 bytes. Keys are
	// SHA-256 hashes (types.SearchKey): two distinct ones share 16 bytes
	// by chance with probability 2^-128, and finding such a pair on
	// purpose is a birthday search of about 2^64 hash computations. What
	// it buys is an extra index in someone's search result: a client
	// fetches the entries a search names and checks they hold what it
	// searched for (Rekor's search has always been a hint, never proof).
	Search(ctx context.Context, key Hash) ([]uint64, error)

	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// LogState is a log's place in its life: active logs take entries, frozen
// ones never grow again.
type LogState string

// The states of a log.
const (
	LogActive LogState = "active"
	LogFrozen LogState = "frozen"
)

// LogInfo describes one log of a LogSet.
type LogInfo struct {
	// TreeID is the log's tree ID, unique in the set.
	TreeID int64
	// Origin is the log's checkpoint origin.
	Origin string
	// Profile names the protocol the log speaks (e.g. "rekor-v1").
	Profile string
	// PublicKey is the log's public key, DER SubjectPublicKeyInfo. It is nil
	// only for a log migrated from a one-tree database until the server
	// first starts it (SetPublicKey).
	PublicKey []byte
	// State is LogActive or LogFrozen.
	State LogState
	// StartIndex is the virtual index of the log's first entry. The logs of
	// a profile share an index space: its first log starts where its
	// creator puts it (the profile's base: Rekor v1 at 0, Rekor v2 at
	// 1<<62), each next one where the one before ended, so a log's virtual
	// index counts the entries of the logs of its profile before it.
	// Entries and search keys are stored under their virtual index,
	// StartIndex + the log's own index.
	StartIndex uint64
	// FinalSize and FinalCheckpoint are the frozen log's last head (zero
	// while the log is active).
	FinalSize       uint64
	FinalCheckpoint []byte
	// CreatedAt is when the log was created.
	CreatedAt time.Time
}

// LeafLocation is where a stored leaf is: its log and its index in that log.
type LeafLocation struct {
	TreeID int64
	Index  uint64 // the log's own index (not the virtual one)
}

// LogSet is a database holding several logs, each a Storage with its own
// tree state and tiles, sharing one entry table under virtual indexes
// (LogInfo.StartIndex). At most one log of a profile is active.
// Implementations are safe for concurrent use.
type LogSet interface {
	// Logs lists the logs by StartIndex (within a profile: oldest first).
	Logs(ctx context.Context) ([]LogInfo, error)
	// CreateLog stores a new active log and its initial tree state (Size 0,
	// TreeID info.TreeID) in one transaction. It fails with ErrActiveLog
	// when another log of info.Profile is active, and with ErrTreeExists
	// when the tree ID is taken; then nothing was written. info.StartIndex
	// must lie past the stored entries of every log that starts at or
	// below it (the index spaces of profiles are kept apart by their
	// bases, which the caller chooses far apart).
	CreateLog(ctx context.Context, info LogInfo, state TreeState) error
	// SetPublicKey records the origin and public key of a log whose public
	// key is not stored (one migrated from a one-tree database). It fails
	// if the log holds a different public key, and does nothing if it holds
	// the same one.
	SetPublicKey(ctx context.Context, treeID int64, origin string, publicKey []byte) error
	// Rotate freezes the active log oldTreeID at its current head and creates
	// next, the new active log of the same profile, in one transaction: the
	// old log's state becomes frozen with FinalSize and FinalCheckpoint its
	// stored tree state's size and checkpoint, and next gets StartIndex = the
	// old log's StartIndex + FinalSize (next.StartIndex is ignored) and its
	// initial tree state (state: Size 0, TreeID next.TreeID). It takes the old
	// log's tree-state lock, so an Append to the old log either commits before
	// (and its entries are in FinalSize) or fails with ErrFrozen after. It
	// fails with ErrNotFound when oldTreeID is not a log, ErrFrozen when it is
	// not active, ErrTreeExists when next.TreeID is taken; then nothing was
	// written. It returns next as stored.
	//
	// next.Profile empty means the old log's profile; another profile is an
	// error. next.PublicKey must not be empty; next.Origin is stored as
	// given. next must pass CheckNewLog, and its range must not overlap
	// another log's (as in CreateLog). The new log is listed after the old
	// one even when the old one is empty (both start at the same index).
	Rotate(ctx context.Context, oldTreeID int64, next LogInfo, state TreeState) (LogInfo, error)
	// LocateLeafHashes returns, for every given leaf hash stored in any log
	// of the set, its log and its index in that log; absent hashes are absent.
	LocateLeafHashes(ctx context.Context, hashes []Hash) (map[Hash]LeafLocation, error)
	// OpenLog returns the log's Storage, or ErrNotFound. The handle speaks
	// the log's own indexes (0, 1, …): it stores entries under StartIndex +
	// index and reads only entries of its own range. Its LookupLeafHashes
	// and Search see only this log's entries. Closing a handle closes the
	// set.
	OpenLog(ctx context.Context, treeID int64) (Storage, error)

	// LatestCosigned returns the newest stored cosigned checkpoint of the
	// log, or ErrNotFound when none was stored.
	LatestCosigned(ctx context.Context, treeID int64) (CosignedCheckpoint, error)
	// StoreCosigned records cp (its Size and Note) as the log's cosigned
	// checkpoint unless one of a larger size is stored: a stored checkpoint
	// never goes back. At an equal size it replaces the stored one (which
	// the caller knows to carry no more cosignatures). It reports whether
	// cp was stored. The store does not check the note: the caller
	// verified it against its witness policy.
	StoreCosigned(ctx context.Context, treeID int64, cp CosignedCheckpoint) (bool, error)
	// TryLease takes or renews the lease called name for holder until
	// now+ttl, by the database's clock. It reports false, changing
	// nothing, when another holder's lease of that name has not expired.
	// A holder gives its lease up early by renewing it with ttl 0.
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)

	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// CheckNewLog checks what a LogSet.CreateLog is given: the checks both
// engines make before writing anything.
func CheckNewLog(info LogInfo, state TreeState) error {
	switch {
	case info.TreeID <= 0:
		return fmt.Errorf("tree ID %d: want a positive one", info.TreeID)
	case state.TreeID != info.TreeID:
		return fmt.Errorf("tree state of tree %d for log %d", state.TreeID, info.TreeID)
	case state.Size != 0:
		return fmt.Errorf("initial size %d, want 0", state.Size)
	case info.Profile == "":
		return errors.New("no profile")
	case info.State != "" && info.State != LogActive:
		return fmt.Errorf("state %q: a new log is active", info.State)
	case info.StartIndex > math.MaxInt64:
		return fmt.Errorf("start index %d out of range", info.StartIndex)
	}
	return nil
}

// CheckRotation checks what a LogSet.Rotate is given, once the old log is
// read: next (its Profile and StartIndex filled in from the old log) must
// pass CheckNewLog, be of the old log's profile and carry a public key.
// profile is the old log's.
func CheckRotation(next LogInfo, state TreeState, profile string) error {
	if next.Profile != profile {
		return fmt.Errorf("profile %q: the log rotated is a %q log", next.Profile, profile)
	}
	if len(next.PublicKey) == 0 {
		return errors.New("no public key")
	}
	return CheckNewLog(next, state)
}

// VirtualIndex maps a log's local index or size i onto the stored (virtual)
// index, start + i, clamped to the int64 range of both engines' columns.
func VirtualIndex(start int64, i uint64) int64 {
	if i > math.MaxInt64-uint64(start) {
		return math.MaxInt64
	}
	return start + int64(i)
}

// AddLocation records in found where a leaf of LocateLeafHashes is: the
// stored (virtual) index idx in the log treeID whose range starts at start,
// both nil when no log's range holds idx. It fails on what a consistent
// set never holds: an entry outside every log, or inside two. (A leaf found
// twice at one location, as when the caller repeats a hash, is fine.)
func AddLocation(found map[Hash]LeafLocation, leaf []byte, idx int64, treeID, start *int64) error {
	var h Hash
	switch {
	case len(leaf) != len(h):
		return fmt.Errorf("corrupt entry row (index %d, leaf hash of %d bytes)", idx, len(leaf))
	case treeID == nil || start == nil:
		return fmt.Errorf("the entry at index %d lies in no log's range", idx)
	case idx < *start:
		return fmt.Errorf("corrupt entry row (index %d before its log's start %d)", idx, *start)
	}
	copy(h[:], leaf)
	loc := LeafLocation{TreeID: *treeID, Index: uint64(idx - *start)}
	if l, ok := found[h]; ok && l != loc {
		return fmt.Errorf("the entry at index %d lies in the ranges of logs %d and %d", idx, l.TreeID, loc.TreeID)
	}
	found[h] = loc
	return nil
}
