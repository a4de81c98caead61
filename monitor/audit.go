package monitor

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
)

// AuditState is an audit's position, kept in a JSON file so an interrupted
// audit resumes where it stopped, and a finished one continues from the
// checkpoint it verified when the log has grown.
type AuditState struct {
	Origin string `json:"origin"`
	// Size is how many entries (from index 0) have been read and hashed;
	// Range is the compact range [0, Size) they give.
	Size  uint64   `json:"size"`
	Range []string `json:"range"`
	// Tiles holds, for tile levels 1 and up, the hashes (hex) computed so
	// far of the tile not yet complete, to compare with the served tile
	// when it is.
	Tiles map[uint8]string `json:"tiles,omitempty"`
	// Targets are signed checkpoints to check when Size reaches theirs.
	Targets []AuditTarget `json:"targets,omitempty"`
	// Verified is the largest checkpoint the recomputed tree matched.
	Verified *AuditTarget `json:"verified,omitempty"`
}

// AuditTarget is a verified signed checkpoint.
type AuditTarget struct {
	Size       uint64 `json:"size"`
	Root       string `json:"root"`
	Checkpoint string `json:"checkpoint"`
}

// AuditConfig configures Audit.
type AuditConfig struct {
	Log      Log
	Verifier *Verifier
	// StatePath is the state file; "" audits from scratch and keeps nothing.
	StatePath string
	// Restart ignores a saved state.
	Restart bool
	// Workers is how many bundles (and tiles) are fetched at once (default 8).
	Workers int
	// Progress, if set, is called after each bundle with the entries
	// audited so far and the checkpoint's size.
	Progress func(done, total uint64)
	// SaveEvery is how often the position is saved (default 2 s).
	SaveEvery time.Duration
	Logger    *slog.Logger
}

// AuditResult is what an audit checked.
type AuditResult struct {
	Checkpoint checkpoint.Checkpoint
	From       uint64 // the position it resumed from (0 for a full audit)
	Entries    uint64 // entries read and hashed by this run
	Bundles    int    // entry bundles read
	Tiles      int    // hash tiles compared with the recomputed tree
	Duration   time.Duration
}

// Audit reads every entry of the log from its entry bundles (from the saved
// position, if any), recomputes the Merkle tree and every hash tile from
// them, and checks the tree against the log's signed checkpoint and the
// served tiles against the recomputed ones. Misbehavior is returned as a
// *Misbehavior error; the state is saved as the audit goes, so a run that
// is interrupted (ctx cancelled) resumes at the next.
func Audit(ctx context.Context, cfg AuditConfig) (AuditResult, error) {
	start := time.Now()
	if cfg.Log == nil || cfg.Verifier == nil {
		return AuditResult{}, errors.New("audit: Log and Verifier are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &auditor{cfg: cfg}
	res, err := a.run(ctx)
	res.Duration = time.Since(start)
	return res, err
}

type auditor struct {
	cfg   AuditConfig
	st    AuditState
	rng   *compact.Range
	edge  map[uint8][]byte // level ≥ 1: hashes of the incomplete tile so far
	res   AuditResult
	saved time.Time
	// visitErr is an error from visit, which cannot return one.
	visitErr error
	// tileErr is the first served tile that disagrees with the entries.
	// Which of the two lies shows only when the tree reaches a signed
	// checkpoint: if the entries make its root, the tile lies.
	tileErr error
}

func (a *auditor) load(cp checkpoint.Checkpoint) error {
	a.st = AuditState{Origin: cp.Origin}
	a.rng = rangeFactory.NewEmptyRange(0)
	a.edge = make(map[uint8][]byte)
	if a.cfg.StatePath == "" || a.cfg.Restart {
		return nil
	}
	b, err := os.ReadFile(a.cfg.StatePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading audit state: %w", err)
	}
	var st AuditState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("audit state %s: %w (remove it, or use --restart)", a.cfg.StatePath, err)
	}
	if st.Origin != cp.Origin {
		return misbehaved(AlertInconsistent, "the log's origin is now %q; the saved audit is of %q", cp.Origin, st.Origin)
	}
	rng, err := decodeRange(st.Size, st.Range)
	if err != nil {
		return fmt.Errorf("audit state: %w", err)
	}
	for k, h := range st.Tiles {
		b, err := hex.DecodeString(h)
		if err != nil || len(b)%merkle.HashSize != 0 || k == 0 || k >= 8 {
			return fmt.Errorf("audit state: bad tile level %d", k)
		}
		a.edge[k] = b
	}
	a.st, a.rng = st, rng
	return nil
}

func (a *auditor) save(force bool) error {
	if a.cfg.StatePath == "" || (!force && time.Since(a.saved) < a.cfg.SaveEvery) {
		return nil
	}
	a.st.Size = a.rng.End()
	a.st.Range = encodeRange(a.rng)
	a.st.Tiles = make(map[uint8]string, len(a.edge))
	for k, h := range a.edge {
		if len(h) > 0 {
			a.st.Tiles[k] = hex.EncodeToString(h)
		}
	}
	b, err := json.MarshalIndent(a.st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(a.cfg.StatePath, append(b, '\n')); err != nil {
		return fmt.Errorf("saving audit state: %w", err)
	}
	a.saved = time.Now()
	return nil
}

func (a *auditor) run(ctx context.Context) (AuditResult, error) {
	b, err := a.cfg.Log.Checkpoint(ctx)
	if err != nil {
		return a.res, fmt.Errorf("reading the checkpoint: %w", err)
	}
	cp, err := a.cfg.Verifier.Verify(b)
	if err != nil {
		return a.res, err
	}
	a.res.Checkpoint = cp
	if err := a.load(cp); err != nil {
		return a.res, err
	}
	a.res.From = a.rng.End()
	if cp.Size < a.rng.End() {
		return a.res, misbehaved(AlertInconsistent, "the log's checkpoint has tree size %d; %d entries were audited before: the log rolled back", cp.Size, a.rng.End())
	}
	if v := a.st.Verified; v != nil && v.Size == cp.Size && v.Root != hex.EncodeToString(cp.Root[:]) {
		return a.res, misbehaved(AlertInconsistent, "two signed checkpoints of tree size %d with roots %s and %x: the log forked", cp.Size, v.Root, cp.Root)
	}
	if v := a.st.Verified; v != nil && v.Size < cp.Size {
		// A fork shows here, before reading anything.
		root, err := hex.DecodeString(v.Root)
		if err != nil || len(root) != merkle.HashSize {
			return a.res, fmt.Errorf("audit state: verified root %q", v.Root)
		}
		if err := proveConsistent(ctx, a.cfg.Log, checkpoint.Checkpoint{Origin: cp.Origin, Size: v.Size, Root: merkle.Hash(root)}, cp); err != nil {
			return a.res, err
		}
	}
	if err := a.addTarget(AuditTarget{Size: cp.Size, Root: hex.EncodeToString(cp.Root[:]), Checkpoint: string(b)}); err != nil {
		return a.res, err
	}
	if err := a.reachTargets(); err != nil {
		return a.res, err
	}
	if a.cfg.Progress != nil {
		a.cfg.Progress(a.rng.End(), cp.Size)
	}

	err = readBundles(ctx, a.cfg.Log, a.rng.End(), cp.Size, a.cfg.Workers, true, func(bd bundle) error {
		a.res.Bundles++
		leaves := make([][]byte, len(bd.entries))
		for i, e := range bd.entries {
			leaves[i] = rfc6962.DefaultHasher.HashLeaf(e)
		}
		if err := a.checkLeafTile(bd, leaves); err != nil {
			return err
		}
		first := bd.index * merkle.TileWidth
		for i, leaf := range leaves {
			if first+uint64(i) < a.rng.End() {
				continue
			}
			if err := a.rng.Append(leaf, a.visit); err != nil {
				return err
			}
			if a.visitErr != nil {
				return a.visitErr
			}
			a.res.Entries++
			if err := a.reachTargets(); err != nil {
				return err
			}
		}
		if a.cfg.Progress != nil {
			a.cfg.Progress(a.rng.End(), cp.Size)
		}
		if err := a.checkFullTiles(ctx); err != nil {
			return err
		}
		return a.save(false)
	})
	if err != nil {
		if _, bad := IsMisbehavior(err); !bad {
			// Keep what was done for the next run.
			if serr := a.save(true); serr != nil {
				a.cfg.Logger.Error("saving the audit position", "err", serr)
			}
		}
		return a.res, err
	}
	if err := a.checkEdgeTiles(ctx, cp.Size); err != nil {
		return a.res, err
	}
	if err := a.save(true); err != nil {
		return a.res, err
	}
	return a.res, a.tileErr
}

// addTarget records a checkpoint to check the tree against when the audit
// reaches its size.
func (a *auditor) addTarget(t AuditTarget) error {
	for _, o := range a.st.Targets {
		if o.Size == t.Size {
			if o.Root != t.Root {
				return misbehaved(AlertInconsistent, "two signed checkpoints of tree size %d with roots %s and %s: the log forked", t.Size, o.Root, t.Root)
			}
			return nil
		}
	}
	a.st.Targets = append(a.st.Targets, t)
	slices.SortFunc(a.st.Targets, func(x, y AuditTarget) int { return cmp.Compare(x.Size, y.Size) })
	return nil
}

// reachTargets checks the recomputed tree against every target checkpoint
// of the size it has reached.
func (a *auditor) reachTargets() error {
	for len(a.st.Targets) > 0 && a.st.Targets[0].Size <= a.rng.End() {
		t := a.st.Targets[0]
		if t.Size < a.rng.End() {
			// Passed without a check: only a state from an older version
			// could hold one; it cannot be checked any more.
			a.st.Targets = a.st.Targets[1:]
			continue
		}
		root, err := hex.DecodeString(t.Root)
		if err != nil || len(root) != merkle.HashSize {
			return fmt.Errorf("audit state: target root %q", t.Root)
		}
		cp := checkpoint.Checkpoint{Origin: a.st.Origin, Size: t.Size, Root: merkle.Hash(root)}
		if err := checkRoot(a.rng, cp, AlertEntriesMismatch, fmt.Sprintf("the %d entries read from the entry bundles", t.Size)); err != nil {
			if a.tileErr != nil {
				return misbehaved(AlertEntriesMismatch, "%v (and %v)", err, a.tileErr)
			}
			return err
		}
		a.st.Verified = &t
		a.st.Targets = a.st.Targets[1:]
	}
	return nil
}

// checkLeafTile compares the level-0 tile under a bundle with the leaf
// hashes of the bundle's entries.
func (a *auditor) checkLeafTile(bd bundle, leaves [][]byte) error {
	w, tile := len(leaves), bd.tile
	a.res.Tiles++
	if len(tile) != w*merkle.HashSize {
		return a.tileMismatch("tile %s holds %d bytes, want %d", merkle.TilePath{Index: bd.index, Width: w}, len(tile), w*merkle.HashSize)
	}
	for i, h := range leaves {
		if !bytes.Equal(h, tile[i*merkle.HashSize:(i+1)*merkle.HashSize]) {
			return a.tileMismatch("tile %s has leaf hash %x at entry %d; the entry bundle's entry hashes to %x",
				merkle.TilePath{Index: bd.index, Width: w}, tile[i*merkle.HashSize:(i+1)*merkle.HashSize], bd.index*merkle.TileWidth+uint64(i), h)
		}
	}
	return nil
}

// visit collects the new complete nodes at tree levels 8, 16, …: the
// hashes of tile levels 1 and up.
func (a *auditor) visit(id compact.NodeID, hash []byte) {
	if id.Level == 0 || id.Level%merkle.TileHeight != 0 || a.visitErr != nil {
		return
	}
	k := uint8(id.Level / merkle.TileHeight)
	if want := int(id.Index%merkle.TileWidth) * merkle.HashSize; len(a.edge[k]) != want {
		a.visitErr = fmt.Errorf("internal error: node %d/%d out of order (tile has %d bytes)", id.Level, id.Index, len(a.edge[k]))
		return
	}
	a.edge[k] = append(a.edge[k], hash...)
}

// checkFullTiles compares every tile of level ≥ 1 the audit completed with
// the served one.
func (a *auditor) checkFullTiles(ctx context.Context) error {
	for k, h := range a.edge {
		if len(h) < merkle.TileWidth*merkle.HashSize {
			continue
		}
		// The tile just completed: its last node's index says which.
		nodes := a.rng.End() >> (uint(k) * merkle.TileHeight)
		index := nodes/merkle.TileWidth - 1
		if err := a.compareTile(ctx, k, index, h); err != nil {
			return err
		}
		a.edge[k] = nil
	}
	return nil
}

// checkEdgeTiles compares the right-edge partial tiles of levels ≥ 1 with
// the served ones at the checkpoint's size.
func (a *auditor) checkEdgeTiles(ctx context.Context, size uint64) error {
	for k := uint8(1); k < 8; k++ {
		w := merkle.PartialWidth(k, size)
		if w == 0 {
			continue
		}
		h := a.edge[k]
		if len(h) != w*merkle.HashSize {
			return fmt.Errorf("internal error: tile level %d has %d hashes at size %d, want %d", k, len(h)/merkle.HashSize, size, w)
		}
		if err := a.compareTile(ctx, k, size>>(uint(k+1)*merkle.TileHeight), h); err != nil {
			return err
		}
	}
	return nil
}

func (a *auditor) compareTile(ctx context.Context, level uint8, index uint64, want []byte) error {
	w := len(want) / merkle.HashSize
	p := merkle.TilePath{Level: level, Index: index, Width: w}
	got, err := a.cfg.Log.Tile(ctx, level, index, w)
	if err != nil {
		return fmt.Errorf("reading tile %s: %w", p, err)
	}
	a.res.Tiles++
	if !bytes.Equal(got, want) {
		return a.tileMismatch("tile %s differs from the tree recomputed from the entries", p)
	}
	return nil
}

// tileMismatch records the first served tile that disagrees with the
// entries, and lets the audit go on.
func (a *auditor) tileMismatch(format string, args ...any) error {
	if a.tileErr == nil {
		a.tileErr = misbehaved(AlertTilesMismatch, format, args...)
	}
	return nil
}
