package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
)

// State is the monitor's memory of a log, kept in a JSON file between runs:
// the last verified checkpoint and the compact range of its tree (the
// O(log n) subtree roots from which the tree grows), so new entries are
// checked without reading old ones.
type State struct {
	Origin     string    `json:"origin"`
	Size       uint64    `json:"size"`
	Root       string    `json:"root"` // hex
	Checkpoint string    `json:"checkpoint"`
	Range      []string  `json:"range"` // hex hashes of the compact range [0, size)
	Verified   time.Time `json:"verified"`
}

// LoadState reads a state file; it returns nil, nil when there is none.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading monitor state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("monitor state %s: %w", path, err)
	}
	return &s, nil
}

// writeFileAtomic writes b to path through a temporary file and a rename,
// so a crash leaves the old or the new file, never half of one.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (s *State) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("saving monitor state: %w", err)
	}
	return nil
}

func (s *State) checkpoint() (checkpoint.Checkpoint, *compact.Range, error) {
	root, err := hex.DecodeString(s.Root)
	if err != nil || len(root) != merkle.HashSize {
		return checkpoint.Checkpoint{}, nil, fmt.Errorf("monitor state: root %q is not a 32-byte hex hash", s.Root)
	}
	rng, err := decodeRange(s.Size, s.Range)
	if err != nil {
		return checkpoint.Checkpoint{}, nil, fmt.Errorf("monitor state: %w", err)
	}
	cp := checkpoint.Checkpoint{Origin: s.Origin, Size: s.Size, Root: merkle.Hash(root)}
	// The range is ours, but the file may have been edited: it must give
	// the root we verified.
	if err := checkRoot(rng, cp, AlertInconsistent, "the saved compact range"); err != nil {
		return checkpoint.Checkpoint{}, nil, fmt.Errorf("monitor state is corrupt (remove it to start again): %v", err)
	}
	return cp, rng, nil
}

// Config configures a Monitor.
type Config struct {
	Log      Log
	Verifier *Verifier
	// StatePath is the state file (see State).
	StatePath string
	Watch     Watch
	// FromStart makes a monitor without state read every entry from index 0;
	// otherwise it starts at the log's current checkpoint (trusting it on
	// first use, after checking the tiles make it).
	FromStart bool
	// Workers is how many entry bundles are fetched at once (default 4).
	Workers   int
	Notifiers []Notifier
	Metrics   *Metrics     // optional
	Logger    *slog.Logger // nil: discard
}

// Monitor follows one log. Its methods must not be called concurrently.
type Monitor struct {
	cfg Config
	n   *notifier
}

// notifier delivers alerts to the configured notifiers, a misbehavior
// alert once per process.
type notifier struct {
	notifiers []Notifier
	metrics   *Metrics
	logger    *slog.Logger
	alerted   map[[32]byte]bool // misbehavior already notified by this process
}

// New returns a monitor.
func New(cfg Config) (*Monitor, error) {
	if cfg.Log == nil || cfg.Verifier == nil || cfg.StatePath == "" {
		return nil, errors.New("monitor: Log, Verifier and StatePath are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Monitor{cfg: cfg, n: newNotifier(cfg.Notifiers, cfg.Metrics, cfg.Logger)}, nil
}

func newNotifier(ns []Notifier, m *Metrics, l *slog.Logger) *notifier {
	return &notifier{notifiers: ns, metrics: m, logger: l, alerted: make(map[[32]byte]bool)}
}

// Result is what one check found.
type Result struct {
	// Checkpoint is the log's latest signed checkpoint (verified).
	Checkpoint checkpoint.Checkpoint
	// Previous is the last verified checkpoint before this check (zero on
	// a first run without FromStart).
	Previous checkpoint.Checkpoint
	// Entries is how many new entries were read and verified.
	Entries uint64
	// Alerts raised by this check (misbehavior, or watch matches).
	Alerts []Alert
}

// Check fetches the log's checkpoint, verifies it, proves it consistent
// with the last verified one, reads and verifies the new entries, matches
// them against the watch list, notifies every alert and, if the log
// behaved, saves the new checkpoint as verified. An error means the check
// could not be done (the log is unreachable, the checkpoint's signature does
// not verify); misbehavior of the log is reported as an Alert, not an
// error, and the saved state is then left as it was.
func (m *Monitor) Check(ctx context.Context) (Result, error) {
	var ev evidence
	res, err := m.check(ctx, &ev)
	misbehaved := false
	if err != nil {
		if kind, ok := IsMisbehavior(err); ok {
			misbehaved = true
			res.Alerts = append(res.Alerts, Alert{
				Kind: kind, Time: time.Now().UTC(), Origin: res.Checkpoint.Origin, Message: err.Error(),
				Verified: ev.verified, Checkpoint: ev.checkpoint,
			})
			err = nil
		}
	}
	if mt := m.cfg.Metrics; mt != nil {
		switch {
		case err != nil:
			mt.checks.WithLabelValues("error").Inc()
		case len(res.Alerts) > 0:
			mt.checks.WithLabelValues("alert").Inc()
		default:
			mt.checks.WithLabelValues("ok").Inc()
		}
		if err == nil && !misbehaved {
			mt.treeSize.Set(float64(res.Checkpoint.Size))
			mt.verifiedTime.SetToCurrentTime()
		}
	}
	for _, a := range res.Alerts {
		m.n.notify(ctx, a)
	}
	return res, err
}

func (n *notifier) notify(ctx context.Context, a Alert) {
	if a.Kind != AlertWatchMatch {
		key := sha256.Sum256([]byte(string(a.Kind) + "\n" + a.Checkpoint + "\n" + a.Message))
		if n.alerted[key] {
			return // the same evidence again, next poll: said once is enough
		}
		n.alerted[key] = true
	}
	if n.metrics != nil {
		n.metrics.alerts.WithLabelValues(string(a.Kind)).Inc()
	}
	for _, d := range n.notifiers {
		if err := d.Notify(ctx, a); err != nil {
			n.logger.Error("delivering an alert", "kind", a.Kind, "err", err)
		}
	}
}

// evidence is what a misbehavior alert carries: the two signed checkpoints.
type evidence struct{ verified, checkpoint string }

func (m *Monitor) check(ctx context.Context, ev *evidence) (Result, error) {
	var res Result
	st, err := LoadState(m.cfg.StatePath)
	if err != nil {
		return res, err
	}
	if st != nil {
		ev.verified = st.Checkpoint
	}
	b, err := m.cfg.Log.Checkpoint(ctx)
	if err != nil {
		return res, fmt.Errorf("reading the checkpoint: %w", err)
	}
	ev.checkpoint = string(b)
	cp, err := m.cfg.Verifier.Verify(b)
	if err != nil {
		return res, err
	}
	res.Checkpoint = cp

	var (
		prev checkpoint.Checkpoint
		rng  *compact.Range
	)
	switch {
	case st != nil:
		if prev, rng, err = st.checkpoint(); err != nil {
			return res, err
		}
		res.Previous = prev
		if cp.Origin != prev.Origin {
			return res, misbehaved(AlertInconsistent, "the log's origin changed from %q to %q under the same key", prev.Origin, cp.Origin)
		}
		if err := proveConsistent(ctx, m.cfg.Log, prev, cp); err != nil {
			return res, err
		}
	case m.cfg.FromStart:
		prev = checkpoint.Checkpoint{Origin: cp.Origin, Root: merkle.Hash(rfc6962.DefaultHasher.EmptyRoot())}
		res.Previous = prev
		rng = rangeFactory.NewEmptyRange(0)
	default:
		// First run: trust the current checkpoint, and take the compact
		// range from the tiles (checked against its root).
		if rng, err = rangeAt(ctx, m.cfg.Log, cp); err != nil {
			return res, err
		}
		m.cfg.Logger.Info("no saved state: starting at the log's current checkpoint", "origin", cp.Origin, "size", cp.Size)
		return res, m.save(cp, b, rng)
	}
	if cp.Size == prev.Size {
		return res, m.save(cp, b, rng)
	}

	var pending []Alert
	err = readBundles(ctx, m.cfg.Log, prev.Size, cp.Size, m.cfg.Workers, false, func(bd bundle) error {
		first := bd.index * merkle.TileWidth
		for i, e := range bd.entries {
			index := first + uint64(i)
			if index < prev.Size {
				continue
			}
			leaf := rfc6962.DefaultHasher.HashLeaf(e)
			if err := rng.Append(leaf, nil); err != nil {
				return err
			}
			res.Entries++
			if m.cfg.Watch.Empty() {
				continue
			}
			facts, err := ParseBody(e)
			if err != nil {
				m.cfg.Logger.Warn("entry body not understood", "index", index, "err", err)
				continue
			}
			if matches := m.cfg.Watch.Match(facts); len(matches) > 0 {
				idx := index
				pending = append(pending, Alert{
					Kind: AlertWatchMatch, Time: time.Now().UTC(), Origin: cp.Origin,
					Message:  fmt.Sprintf("entry %d (%s) matches the watch list: %v", index, facts.Kind, matches),
					Index:    &idx,
					LeafHash: hex.EncodeToString(leaf), EntryKind: facts.Kind, Matches: matches,
				})
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if err := checkRoot(rng, cp, AlertEntriesMismatch, fmt.Sprintf("the entries %d..%d from the entry bundles", prev.Size, cp.Size-1)); err != nil {
		return res, err
	}
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.entries.Add(float64(res.Entries))
	}
	// Only entries proved to be in the signed tree raise watch alerts.
	res.Alerts = append(res.Alerts, pending...)
	return res, m.save(cp, b, rng)
}

func (m *Monitor) save(cp checkpoint.Checkpoint, b []byte, rng *compact.Range) error {
	st := State{
		Origin: cp.Origin, Size: cp.Size, Root: hex.EncodeToString(cp.Root[:]),
		Checkpoint: string(b), Range: encodeRange(rng), Verified: time.Now().UTC(),
	}
	return st.save(m.cfg.StatePath)
}
