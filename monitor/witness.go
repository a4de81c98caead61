package monitor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/verify"
	"github.com/tabularium/tabula/witness/policy"
)

// WitnessConfig makes a [SetMonitor] check a witnessed log's checkpoints
// against a witness policy (c2sp.org/tlog-policy). Every check of a log
// that is not frozen then reads, besides the checkpoint it follows, the
// log's latest log-only checkpoint (its listed one, and GET
// latest-checkpoint where the log serves it, see [LatestLog]) and the
// newest cosigned checkpoint of each witness of the policy with a URL, at
// its monitoring door GET <URL>/<hex SHA-256 of the origin>/checkpoint.
// It alerts:
//
//   - [AlertSplitView] when two of those checkpoints, each validly signed
//     by the log, have one size and different roots, and one of them
//     carries a valid cosignature of a witness of the policy;
//   - [AlertInconsistent] (the fork alert) when the log's latest checkpoint
//     is not consistent with a smaller cosigned one;
//   - [AlertUncosigned] once per episode when a head size of the log has
//     gone uncovered by a checkpoint that meets the quorum for longer
//     than UncosignedAfter; the episode ends (logged) when one covers the
//     latest head.
//
// A witness door that cannot be read is a warning in the log, not an
// alert. Both notes of a split view or fork are written to the state
// directory (evidence/) and named in the alert.
type WitnessConfig struct {
	Policy *policy.Policy
	// UncosignedAfter is how long a head may stay uncovered; 0 turns the
	// uncosigned alert off.
	UncosignedAfter time.Duration
	// Client reads the witness doors (nil: a client with a 10-second
	// timeout).
	Client *http.Client
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// LatestLog is a [Log] that also serves its latest log-only checkpoint
// (Tabula with witnesses: GET latest-checkpoint, while GET checkpoint
// serves the newest cosigned one). Nil and no error means it has none
// beyond Checkpoint.
type LatestLog interface {
	LatestCheckpoint(ctx context.Context) ([]byte, error)
}

const (
	// AlertUncosigned: the log's head has not been covered by a checkpoint
	// a quorum of witnesses cosigned for longer than the threshold.
	AlertUncosigned AlertKind = "uncosigned"
	// AlertSplitView: two checkpoints of one size with different roots,
	// both signed by the log and at least one cosigned by a witness: the
	// log showed different trees to different parties.
	AlertSplitView AlertKind = "split-view"
)

// witnessState is what the monitor remembers of a witnessed log between
// checks: the head sizes not yet covered and when each was first seen.
type witnessState struct {
	Pending []pendingHead `json:"pending,omitempty"`
	Covered uint64        `json:"covered"`
	Alerted bool          `json:"alerted,omitempty"`
}

type pendingHead struct {
	Size uint64    `json:"size"`
	Seen time.Time `json:"seen"`
}

// maxPending bounds the remembered uncovered head sizes; the oldest one,
// which decides the alert, is always kept.
const maxPending = 1024

func witnessStatePath(dir, treeID string) string {
	return filepath.Join(dir, "witness-"+treeID+".json")
}

func loadWitnessState(path string) (*witnessState, error) {
	st := &witnessState{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the witness state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("witness state %s: %w", path, err)
	}
	return st, nil
}

// seenCheckpoint is a checkpoint of the log read from one source.
type seenCheckpoint struct {
	source string // "listed", "latest-checkpoint", "checkpoint", "last verified", "witness <name>"
	note   []byte
	cp     checkpoint.Checkpoint
	cosigs int  // valid cosignatures of policy witnesses
	quorum bool // they meet the quorum
}

// checkWitnessed runs the witness checks of one log (see WitnessConfig)
// and returns their alerts.
func (m *SetMonitor) checkWitnessed(ctx context.Context, l SetLog, v *Verifier) ([]Alert, error) {
	wc := m.cfg.Witness
	now := time.Now
	if wc.Now != nil {
		now = wc.Now
	}
	lg := m.cfg.Set.Log(l.TreeID)
	var seen []seenCheckpoint
	add := func(source string, b []byte) {
		if len(b) == 0 {
			return
		}
		sc, err := m.readCheckpoint(source, b, v)
		if err != nil {
			m.cfg.Logger.Warn("a checkpoint of the log does not verify", "tree_id", l.TreeID, "source", source, "err", err)
			return
		}
		seen = append(seen, sc)
	}
	add("listed", l.Checkpoint)
	if ll, ok := lg.(LatestLog); ok {
		b, err := ll.LatestCheckpoint(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the latest checkpoint: %w", err)
		}
		add("latest-checkpoint", b)
	}
	b, err := lg.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint: %w", err)
	}
	add("checkpoint", b)
	if st, err := LoadState(logStatePath(m.cfg.StateDir, l.TreeID)); err == nil && st != nil {
		add("last verified", []byte(st.Checkpoint))
	}
	if len(seen) == 0 {
		return nil, errors.New("no checkpoint of the log verifies")
	}
	if len(wc.Policy.Logs) > 0 && !signedByPolicyLog(wc.Policy, seen[0].note) {
		m.cfg.Logger.Debug("the witness policy does not list this log", "tree_id", l.TreeID)
		return nil, nil
	}
	// The log's head: the largest checkpoint the log itself served.
	head := seen[0]
	for _, s := range seen {
		if s.source != "last verified" && s.cp.Size > head.cp.Size {
			head = s
		}
	}
	origin := head.cp.Origin
	for _, w := range wc.Policy.Witnesses {
		if w.URL == "" {
			continue
		}
		b, err := m.readDoor(ctx, w.URL, origin)
		if err != nil {
			m.cfg.Logger.Warn("reading a witness's checkpoint failed", "witness", w.Name, "url", w.URL, "origin", origin, "err", err)
			continue
		}
		add("witness "+w.Name, b)
	}

	seen = mergeSeen(seen)
	var alerts []Alert
	bad := map[int]bool{} // seen checkpoints proved to disagree
	for i := range seen {
		for j := i + 1; j < len(seen); j++ {
			a, b := seen[i], seen[j]
			if a.cp.Origin != b.cp.Origin || a.cp.Size != b.cp.Size || a.cp.Root == b.cp.Root || a.cosigs+b.cosigs == 0 {
				continue
			}
			bad[i], bad[j] = true, true
			alerts = append(alerts, m.evidenceAlert(AlertSplitView, l.TreeID, a, b,
				"split view of %s at tree size %d: root %x (%s; %d cosignatures) and root %x (%s; %d cosignatures), both signed by the log",
				origin, a.cp.Size, a.cp.Root, a.source, a.cosigs, b.cp.Root, b.source, b.cosigs))
		}
	}
	for i, s := range seen {
		if bad[i] || s.cosigs == 0 || s.cp.Origin != origin || s.cp.Size >= head.cp.Size {
			continue
		}
		if err := proveConsistent(ctx, lg, s.cp, head.cp); err != nil {
			if kind, ok := IsMisbehavior(err); ok && kind == AlertInconsistent {
				bad[i] = true
				alerts = append(alerts, m.evidenceAlert(AlertInconsistent, l.TreeID, s, head,
					"the log's checkpoint of size %d (%s) is not consistent with the cosigned checkpoint of size %d (%s): the log forked after witnesses cosigned: %v",
					head.cp.Size, head.source, s.cp.Size, s.source, err))
				continue
			}
			m.cfg.Logger.Warn("proving a cosigned checkpoint consistent with the log's", "tree_id", l.TreeID, "source", s.source, "err", err)
			bad[i] = true
		}
	}
	if wc.UncosignedAfter <= 0 {
		return alerts, nil
	}
	covered := uint64(0)
	for i, s := range seen {
		if s.quorum && !bad[i] && s.cp.Origin == origin && s.cp.Size > covered {
			covered = s.cp.Size
		}
	}
	a, err := m.uncosigned(l.TreeID, origin, head, covered, now())
	if err != nil {
		return alerts, err
	}
	if a != nil {
		alerts = append(alerts, *a)
	}
	return alerts, nil
}

// mergeSeen merges the checkpoints of one tree (origin, size and root)
// read from several sources: one entry naming them all, with the note
// that has the most cosignatures.
func mergeSeen(seen []seenCheckpoint) []seenCheckpoint {
	var out []seenCheckpoint
	for _, s := range seen {
		i := slices.IndexFunc(out, func(o seenCheckpoint) bool { return o.cp == s.cp })
		if i < 0 {
			out = append(out, s)
			continue
		}
		o := &out[i]
		o.source += ", " + s.source
		o.quorum = o.quorum || s.quorum
		if s.cosigs > o.cosigs {
			o.note, o.cosigs = s.note, s.cosigs
		}
	}
	return out
}

// uncosigned updates the log's witness state with its head and the size a
// quorum-cosigned checkpoint covers, and returns the alert of an episode
// that just passed the threshold.
func (m *SetMonitor) uncosigned(treeID, origin string, head seenCheckpoint, covered uint64, now time.Time) (*Alert, error) {
	path := witnessStatePath(m.cfg.StateDir, treeID)
	st, err := loadWitnessState(path)
	if err != nil {
		return nil, err
	}
	st.Covered = max(st.Covered, covered)
	if head.cp.Size > st.Covered && (len(st.Pending) == 0 || st.Pending[len(st.Pending)-1].Size < head.cp.Size) {
		st.Pending = append(st.Pending, pendingHead{Size: head.cp.Size, Seen: now.UTC()})
		if len(st.Pending) > maxPending {
			st.Pending = append(st.Pending[:1], st.Pending[2:]...)
		}
	}
	kept := st.Pending[:0]
	for _, p := range st.Pending {
		if p.Size > st.Covered {
			kept = append(kept, p)
		}
	}
	st.Pending = kept
	var alert *Alert
	switch {
	case len(st.Pending) == 0 && st.Alerted:
		st.Alerted = false
		m.cfg.Logger.Info("uncosigned: cleared, a quorum-cosigned checkpoint covers the log's head", "tree_id", treeID, "origin", origin, "covered", st.Covered)
	case len(st.Pending) > 0 && !st.Alerted && now.Sub(st.Pending[0].Seen) > m.cfg.Witness.UncosignedAfter:
		st.Alerted = true
		p := st.Pending[0]
		alert = &Alert{
			Kind: AlertUncosigned, Time: now.UTC(), Origin: origin, Checkpoint: string(head.note),
			Message: fmt.Sprintf("log %s (%s): tree size %d, first seen %s, is not covered by a checkpoint a quorum of witnesses cosigned after %s (covered: size %d; head: size %d)",
				treeID, origin, p.Size, p.Seen.Format(time.RFC3339), m.cfg.Witness.UncosignedAfter, st.Covered, head.cp.Size),
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return nil, fmt.Errorf("saving the witness state: %w", err)
	}
	return alert, nil
}

// readCheckpoint verifies b with the log's key and counts its policy
// cosignatures.
func (m *SetMonitor) readCheckpoint(source string, b []byte, v *Verifier) (seenCheckpoint, error) {
	cp, err := v.Verify(b)
	if err != nil {
		return seenCheckpoint{}, err
	}
	n, err := note.Open(b, eitherForm{v.pub})
	if err != nil {
		return seenCheckpoint{}, err
	}
	p := m.cfg.Witness.Policy
	cs := verify.WitnessCosignatures(p, n)
	set := make(map[int]bool, len(cs))
	for _, c := range cs {
		set[c.Witness] = true
	}
	return seenCheckpoint{source: source, note: b, cp: cp, cosigs: len(cs), quorum: p.Quorum(set)}, nil
}

func signedByPolicyLog(p *policy.Policy, b []byte) bool {
	vs := make([]note.Verifier, len(p.Logs))
	for i, l := range p.Logs {
		vs[i] = l.Verifier
	}
	_, err := note.Open(b, note.VerifierList(vs...))
	return err == nil
}

// maxDoorBody bounds a witness door's answer.
const maxDoorBody = 64 << 10

// readDoor reads a witness's newest cosigned checkpoint of origin; nil
// when it has none (404).
func (m *SetMonitor) readDoor(ctx context.Context, base, origin string) ([]byte, error) {
	h := sha256.Sum256([]byte(origin))
	u := strings.TrimSuffix(base, "/") + "/" + hex.EncodeToString(h[:]) + "/checkpoint"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	hc := m.cfg.Witness.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDoorBody+1))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	case err != nil:
		return nil, fmt.Errorf("GET %s: %w", u, err)
	case len(b) > maxDoorBody:
		return nil, fmt.Errorf("GET %s: answer over %d bytes", u, maxDoorBody)
	}
	return b, nil
}

// evidenceAlert is an alert proved by two signed checkpoints, both kept in
// the state directory's evidence/ directory.
func (m *SetMonitor) evidenceAlert(kind AlertKind, treeID string, a, b seenCheckpoint, format string, args ...any) Alert {
	al := Alert{Kind: kind, Time: time.Now().UTC(), Origin: a.cp.Origin, Message: fmt.Sprintf(format, args...),
		Verified: string(a.note), Checkpoint: string(b.note)}
	for _, s := range []seenCheckpoint{a, b} {
		path, err := m.writeEvidence(treeID, s)
		if err != nil {
			m.cfg.Logger.Error("writing evidence", "err", err)
			continue
		}
		al.Evidence = append(al.Evidence, path)
	}
	return al
}

// writeEvidence writes a signed checkpoint to evidence/ under a name made
// of the tree ID, size and a hash of the note, and returns its path.
func (m *SetMonitor) writeEvidence(treeID string, s seenCheckpoint) (string, error) {
	h := sha256.Sum256(s.note)
	path := filepath.Join(m.cfg.StateDir, "evidence", fmt.Sprintf("%s-size%d-%x.note", treeID, s.cp.Size, h[:8]))
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, s.note) {
		return path, nil
	}
	if err := writeFileAtomic(path, s.note); err != nil {
		return "", fmt.Errorf("evidence %s: %w", path, err)
	}
	return path, nil
}
