package monitor

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
)

// LogSet is a server that holds several logs (Rekor v1's shards): GET
// /api/v1/log names the active log at its top level and the frozen ones,
// oldest first, in inactiveShards; Log reads one of them by tree ID (C2SP
// tlog-tiles under /logs/{treeID}/ on Tabula). A LogSet that is also a
// [V2Lister] holds Rekor v2 logs too.
type LogSet interface {
	LogInfo(ctx context.Context) (models.LogInfo, error)
	Log(treeID string) Log
}

// V2Lister is a [LogSet] that also lists its Rekor v2 logs (Tabula's GET
// /logs), oldest first, each with API "v2". A server without v2 logs, or
// of a release without GET /logs, has none.
type V2Lister interface {
	V2Logs(ctx context.Context) ([]SetLog, error)
}

// SetLog is one log of a set, as GET /api/v1/log (or GET /logs) lists it.
type SetLog struct {
	TreeID string // decimal
	// API is "v2" for a Rekor v2 log; "" or "v1" is Rekor v1.
	API    string
	Frozen bool
	// Checkpoint is the signed checkpoint listed for the log: a frozen
	// log's final one.
	Checkpoint []byte
}

// ListLogs returns the logs of the set: the Rekor v1 ones, frozen oldest
// first then the active one, then the Rekor v2 ones if s is a [V2Lister].
// Tree IDs must be decimal and distinct.
func ListLogs(ctx context.Context, s LogSet) ([]SetLog, error) {
	li, err := s.LogInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the log set (GET /api/v1/log): %w", err)
	}
	var out []SetLog
	for _, sh := range li.InactiveShards {
		if sh == nil {
			return nil, errors.New("log set: null inactive shard")
		}
		out = append(out, SetLog{TreeID: sh.TreeID, Frozen: true, Checkpoint: []byte(sh.SignedTreeHead)})
	}
	out = append(out, SetLog{TreeID: li.TreeID, Checkpoint: []byte(li.SignedTreeHead)})
	if v2, ok := s.(V2Lister); ok {
		logs, err := v2.V2Logs(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the Rekor v2 logs (GET /logs): %w", err)
		}
		for _, l := range logs {
			if l.API != "v2" {
				return nil, fmt.Errorf("log set: log %s listed as a Rekor v2 log has API %q", l.TreeID, l.API)
			}
		}
		out = append(out, logs...)
	}
	seen := make(map[string]bool, len(out))
	for _, l := range out {
		if _, err := strconv.ParseUint(l.TreeID, 10, 63); err != nil || strings.HasPrefix(l.TreeID, "0") {
			return nil, fmt.Errorf("log set: tree ID %q is not a decimal tree ID", l.TreeID)
		}
		if seen[l.TreeID] {
			return nil, fmt.Errorf("log set: tree ID %s listed twice", l.TreeID)
		}
		seen[l.TreeID] = true
	}
	return out, nil
}

// SetState is what a set monitor or auditor remembers of the log set,
// besides each log's own state file: the logs it has seen, and the final
// checkpoint of each frozen one.
type SetState struct {
	Logs map[string]*SetLogState `json:"logs"` // by tree ID
}

// SetLogState is what is remembered of one log of the set.
type SetLogState struct {
	Origin string `json:"origin"`
	API    string `json:"api,omitempty"` // "v2" for a Rekor v2 log
	Frozen bool   `json:"frozen,omitempty"`
	// Size, Root (hex) and Checkpoint are a frozen log's final checkpoint,
	// verified; it must never change.
	Size       uint64    `json:"size,omitempty"`
	Root       string    `json:"root,omitempty"`
	Checkpoint string    `json:"checkpoint,omitempty"`
	Added      time.Time `json:"added"`
}

// setStateFile is the name of the set's state in a state directory.
const setStateFile = "logs.json"

// LoadSetState reads the set state in dir; it returns an empty state and
// false when there is none.
func LoadSetState(dir string) (*SetState, bool, error) {
	st := &SetState{Logs: map[string]*SetLogState{}}
	path := filepath.Join(dir, setStateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the log set state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, false, fmt.Errorf("log set state %s: %w", path, err)
	}
	if st.Logs == nil {
		st.Logs = map[string]*SetLogState{}
	}
	return st, true, nil
}

func (s *SetState) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, setStateFile), append(b, '\n')); err != nil {
		return fmt.Errorf("saving the log set state: %w", err)
	}
	return nil
}

// logStatePath is the state file of one log of the set.
func logStatePath(dir, treeID string) string { return filepath.Join(dir, treeID+".json") }

// adoptLegacy copies a one-log state file written before log sets (a
// monitor's State or an AuditState, both with an "origin") to the state
// file of the log it is about, when that one does not exist yet. It
// reports whether there was a legacy file.
func adoptLegacy(legacy, dir, treeID string) (bool, error) {
	if legacy == "" {
		return false, nil
	}
	b, err := os.ReadFile(legacy)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the state of an earlier release: %w", err)
	}
	var head struct {
		Origin string `json:"origin"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return true, fmt.Errorf("state of an earlier release %s: %w", legacy, err)
	}
	if !strings.HasSuffix(head.Origin, " - "+treeID) {
		return true, nil
	}
	path := logStatePath(dir, treeID)
	if _, err := os.Stat(path); err == nil {
		return true, nil
	}
	if err := writeFileAtomic(path, b); err != nil {
		return true, fmt.Errorf("adopting the state of an earlier release: %w", err)
	}
	return true, nil
}

// pickVerifier returns the verifier of the pinned key that signed the
// checkpoint b, and its content.
func pickVerifier(vs []*Verifier, b []byte) (*Verifier, checkpoint.Checkpoint, error) {
	var errs []error
	for _, v := range vs {
		cp, err := v.Verify(b)
		if err == nil {
			return v, cp, nil
		}
		errs = append(errs, err)
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	return nil, checkpoint.Checkpoint{}, fmt.Errorf("%w: the checkpoint of %q is signed by none of the %d pinned keys (pin the log's key with --log-key): %v",
		ErrBadCheckpoint, first, len(vs), errors.Join(errs...))
}

// frozenAlert is an alert about a frozen log, with the final checkpoint
// and the one that disagrees with it as evidence.
func frozenAlert(rec *SetLogState, got []byte, format string, args ...any) Alert {
	return Alert{
		Kind: AlertFrozenChanged, Time: time.Now().UTC(), Origin: rec.Origin,
		Message: fmt.Sprintf(format, args...), Verified: rec.Checkpoint, Checkpoint: string(got),
	}
}

// checkFrozen checks a log remembered as frozen: the server must still
// list it as frozen, and both its listed and its served checkpoints must be
// its final one (same size and root). Alerts say how it changed; an error
// means the check could not be done.
func checkFrozen(ctx context.Context, set LogSet, l SetLog, rec *SetLogState, v *Verifier) ([]Alert, checkpoint.Checkpoint, error) {
	var alerts []Alert
	if !l.Frozen {
		alerts = append(alerts, frozenAlert(rec, l.Checkpoint, "log %s (%s) was frozen at size %d; the server now lists it as its active log", l.TreeID, rec.Origin, rec.Size))
	}
	listed, err := v.Verify(l.Checkpoint)
	if err != nil {
		return alerts, listed, err
	}
	served, err := set.Log(l.TreeID).Checkpoint(ctx)
	if err != nil {
		return alerts, listed, fmt.Errorf("reading the checkpoint of log %s: %w", l.TreeID, err)
	}
	scp, err := v.Verify(served)
	if err != nil {
		return alerts, listed, err
	}
	for _, c := range []struct {
		what string
		b    []byte
		cp   checkpoint.Checkpoint
	}{{"lists", l.Checkpoint, listed}, {"serves", served, scp}} {
		if c.cp.Origin != rec.Origin || c.cp.Size != rec.Size || hex.EncodeToString(c.cp.Root[:]) != rec.Root {
			alerts = append(alerts, frozenAlert(rec, c.b, "frozen log %s (%s) changed: its final checkpoint is size %d root %s; the server %s a signed checkpoint of %q size %d root %x",
				l.TreeID, rec.Origin, rec.Size, rec.Root, c.what, c.cp.Origin, c.cp.Size, c.cp.Root))
		}
	}
	return alerts, listed, nil
}

// freeze records l, just verified up to cp by a monitor or an audit, as
// frozen at its listed final checkpoint. If the log went past its final
// checkpoint it returns an alert; if it has not reached it yet (a replica
// that lags), it records nothing and the next check does it.
func freeze(rec *SetLogState, l SetLog, v *Verifier, cp checkpoint.Checkpoint, served []byte) (*Alert, error) {
	final, err := v.Verify(l.Checkpoint)
	if err != nil {
		return nil, err
	}
	switch {
	case cp.Size < final.Size:
		return nil, nil
	case cp.Size > final.Size || cp.Root != final.Root || cp.Origin != final.Origin:
		a := frozenAlert(&SetLogState{Origin: final.Origin, Checkpoint: string(l.Checkpoint)}, served,
			"frozen log %s (%s): the server lists its final checkpoint at size %d root %x, and serves a signed checkpoint of size %d root %x",
			l.TreeID, final.Origin, final.Size, final.Root, cp.Size, cp.Root)
		return &a, nil
	}
	rec.Frozen, rec.Size, rec.Root, rec.Checkpoint = true, final.Size, hex.EncodeToString(final.Root[:]), string(l.Checkpoint)
	return nil, nil
}

// missingAlerts alerts on logs remembered in st that the server no longer
// lists.
func missingAlerts(st *SetState, logs []SetLog) []Alert {
	listed := make(map[string]bool, len(logs))
	for _, l := range logs {
		listed[l.TreeID] = true
	}
	var ids []string
	for id := range st.Logs {
		if !listed[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var alerts []Alert
	for _, id := range ids {
		rec := st.Logs[id]
		if rec.Frozen {
			alerts = append(alerts, frozenAlert(rec, nil, "frozen log %s (%s, final size %d) is no longer listed by the server", id, rec.Origin, rec.Size))
		} else {
			alerts = append(alerts, Alert{Kind: AlertInconsistent, Time: time.Now().UTC(), Origin: rec.Origin,
				Message: fmt.Sprintf("log %s (%s), followed before, is no longer listed by the server", id, rec.Origin)})
		}
	}
	return alerts
}

// SetConfig configures a SetMonitor.
type SetConfig struct {
	Set LogSet
	// Verifiers are the pinned log keys; each log's checkpoints must be
	// signed by one of them.
	Verifiers []*Verifier
	// StateDir holds the set's state (logs.json) and one State file per
	// log (<treeID>.json).
	StateDir string
	// LegacyState is the state file a monitor of one log wrote before log
	// sets; the log whose origin it names takes it over.
	LegacyState string
	Watch       Watch
	// FromStart makes a first run read every log from index 0. Logs that
	// appear after the first run are always read from index 0.
	FromStart bool
	Workers   int
	Notifiers []Notifier
	Metrics   *Metrics
	Logger    *slog.Logger
	// Witness, if not nil, adds the witness checks of every log that is
	// not frozen (see WitnessConfig).
	Witness *WitnessConfig
}

// SetMonitor follows every log of a server: each one as a [Monitor], and
// the frozen ones for ever after against their final checkpoint. Its
// methods must not be called concurrently.
type SetMonitor struct {
	cfg  SetConfig
	n    *notifier
	mons map[string]*Monitor
}

// NewSet returns a monitor of a log set.
func NewSet(cfg SetConfig) (*SetMonitor, error) {
	if cfg.Set == nil || len(cfg.Verifiers) == 0 || cfg.StateDir == "" {
		return nil, errors.New("monitor: Set, Verifiers and StateDir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &SetMonitor{cfg: cfg, n: newNotifier(cfg.Notifiers, cfg.Metrics, cfg.Logger), mons: map[string]*Monitor{}}, nil
}

// SetResult is what one check of a log set found.
type SetResult struct {
	Logs []LogResult // in ListLogs' order
	// Alerts are the set's own alerts (a frozen log changed, a log left
	// the set); each log's are in its Result.
	Alerts []Alert
}

// LogResult is what one check found of one log of the set.
type LogResult struct {
	TreeID string
	API    string // "v2" for a Rekor v2 log
	Frozen bool
	// New: the log appeared since the last check (it is read from index 0).
	New bool
	// Checked: the log was remembered as frozen and only its checkpoints
	// were compared with its final one.
	Checked bool
	Result
	// Err says why the log could not be checked.
	Err error
}

// AllAlerts returns every alert of the check.
func (r SetResult) AllAlerts() []Alert {
	out := append([]Alert(nil), r.Alerts...)
	for _, l := range r.Logs {
		out = append(out, l.Alerts...)
	}
	return out
}

// Err returns the errors of the logs that could not be checked.
func (r SetResult) Err() error {
	var errs []error
	for _, l := range r.Logs {
		if l.Err != nil {
			errs = append(errs, fmt.Errorf("log %s: %w", l.TreeID, l.Err))
		}
	}
	return errors.Join(errs...)
}

// misbehavedIn reports whether alerts hold a misbehavior (not a watch
// match).
func misbehavedIn(alerts []Alert) bool {
	return slices.ContainsFunc(alerts, func(a Alert) bool { return a.Kind != AlertWatchMatch })
}

// Check lists the server's logs and checks each: a log remembered as
// frozen against its final checkpoint; any other with its [Monitor], which
// proves it consistent with its last verified checkpoint and reads its new
// entries. A log listed as frozen is remembered as frozen once its final
// checkpoint is verified. The error is for a set that could not be listed;
// a log that could not be checked has its own Err.
func (m *SetMonitor) Check(ctx context.Context) (SetResult, error) {
	var res SetResult
	st, existed, err := LoadSetState(m.cfg.StateDir)
	if err != nil {
		return res, err
	}
	logs, err := ListLogs(ctx, m.cfg.Set)
	if err != nil {
		return res, err
	}
	res.Alerts = missingAlerts(st, logs)
	for _, l := range logs {
		lr := m.checkLog(ctx, st, existed, l, &res)
		res.Logs = append(res.Logs, lr)
	}
	for _, a := range res.Alerts {
		m.n.notify(ctx, a)
	}
	return res, st.save(m.cfg.StateDir)
}

func (m *SetMonitor) checkLog(ctx context.Context, st *SetState, existed bool, l SetLog, res *SetResult) LogResult {
	lr := LogResult{TreeID: l.TreeID, API: l.API, Frozen: l.Frozen}
	legacy, err := adoptLegacy(m.cfg.LegacyState, m.cfg.StateDir, l.TreeID)
	if err != nil {
		lr.Err = err
		return lr
	}
	rec := st.Logs[l.TreeID]
	lr.New = rec == nil && (existed || legacy) && !fileExists(logStatePath(m.cfg.StateDir, l.TreeID))
	v, _, err := pickVerifier(m.cfg.Verifiers, l.Checkpoint)
	if err != nil {
		lr.Err = err
		return lr
	}
	if rec != nil && rec.Frozen {
		lr.Checked = true
		alerts, cp, err := checkFrozen(ctx, m.cfg.Set, l, rec, v)
		lr.Checkpoint, lr.Previous, lr.Err = cp, cp, err
		res.Alerts = append(res.Alerts, alerts...)
		return lr
	}
	mon := m.mons[l.TreeID]
	if mon == nil {
		if lr.New {
			m.cfg.Logger.Info("a new log in the set: reading it from index 0", "tree_id", l.TreeID)
		}
		mon, err = New(Config{
			Log: m.cfg.Set.Log(l.TreeID), Verifier: v, StatePath: logStatePath(m.cfg.StateDir, l.TreeID),
			Watch: m.cfg.Watch, FromStart: m.cfg.FromStart || lr.New, Workers: m.cfg.Workers,
			Notifiers: m.cfg.Notifiers, Metrics: m.cfg.Metrics, Logger: m.cfg.Logger,
		})
		if err != nil {
			lr.Err = err
			return lr
		}
		mon.n = m.n // one process, one memory of what was said
		m.mons[l.TreeID] = mon
	}
	lr.Result, lr.Err = mon.Check(ctx)
	misbehaved := misbehavedIn(lr.Alerts)
	if m.cfg.Witness != nil && m.cfg.Witness.Policy != nil && !l.Frozen && lr.Err == nil {
		alerts, err := m.checkWitnessed(ctx, l, v)
		if err != nil {
			m.cfg.Logger.Warn("witness checks failed", "tree_id", l.TreeID, "err", err)
		}
		for _, a := range alerts {
			m.n.notify(ctx, a)
		}
		lr.Alerts = append(lr.Alerts, alerts...)
	}
	if lr.Err != nil || misbehaved {
		return lr
	}
	if rec == nil {
		rec = &SetLogState{Origin: lr.Checkpoint.Origin, API: l.API, Added: time.Now().UTC()}
		st.Logs[l.TreeID] = rec
	}
	if l.Frozen {
		var served []byte
		if ls, _ := LoadState(logStatePath(m.cfg.StateDir, l.TreeID)); ls != nil {
			served = []byte(ls.Checkpoint)
		}
		a, err := freeze(rec, l, v, lr.Checkpoint, served)
		if err != nil {
			lr.Err = err
		} else if a != nil {
			res.Alerts = append(res.Alerts, *a)
		}
	}
	return lr
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Run checks the set every interval until ctx is done. A check that fails
// is logged and retried at the next tick.
func (m *SetMonitor) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := m.Check(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			m.cfg.Logger.Error("check failed", "err", err)
		default:
			for _, l := range res.Logs {
				if l.Err != nil {
					m.cfg.Logger.Error("check of a log failed", "tree_id", l.TreeID, "err", l.Err)
					continue
				}
				m.cfg.Logger.Info("checked", "tree_id", l.TreeID, "frozen", l.Frozen, "origin", l.Checkpoint.Origin,
					"size", l.Checkpoint.Size, "new_entries", l.Entries, "alerts", len(l.Alerts))
			}
			if len(res.Alerts) > 0 {
				m.cfg.Logger.Info("log set alerts", "alerts", len(res.Alerts))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
