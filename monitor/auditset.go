package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// AuditSetConfig configures AuditSet.
type AuditSetConfig struct {
	Set LogSet
	// Verifiers are the pinned log keys; each log's checkpoints must be
	// signed by one of them.
	Verifiers []*Verifier
	// StateDir holds the set's state (logs.json) and one AuditState file
	// per log (<treeID>.json).
	StateDir string
	// LegacyState is the state file an audit of one log wrote before log
	// sets; the log whose origin it names takes it over.
	LegacyState string
	// Restart ignores the saved positions (not the frozen logs' final
	// checkpoints, which must never change).
	Restart bool
	Workers int
	// Progress, if set, is called after each bundle with the log's tree ID,
	// the entries audited so far and the log's size.
	Progress  func(treeID string, done, total uint64)
	SaveEvery time.Duration
	Logger    *slog.Logger
}

// AuditLogResult is the audit of one log of the set.
type AuditLogResult struct {
	TreeID string
	API    string // "v2" for a Rekor v2 log
	Frozen bool
	// New: the log appeared since the last audit.
	New bool
	AuditResult
	// Alerts are the set's findings about this log (a frozen log changed).
	Alerts []Alert
	// Err is why the log failed the audit (a *Misbehavior) or could not
	// be audited.
	Err error
}

// AuditSet audits every log of a server with [Audit], each from its saved
// position, and checks that a log remembered as frozen still has its final
// checkpoint. A log listed as frozen is remembered as frozen once the audit
// reached its final checkpoint. The error is for a set that could not be
// listed; each log has its own result.
func AuditSet(ctx context.Context, cfg AuditSetConfig) (AuditSetResult, error) {
	var out AuditSetResult
	if cfg.Set == nil || len(cfg.Verifiers) == 0 || cfg.StateDir == "" {
		return out, errors.New("audit: Set, Verifiers and StateDir are required")
	}
	st, existed, err := LoadSetState(cfg.StateDir)
	if err != nil {
		return out, err
	}
	logs, err := ListLogs(ctx, cfg.Set)
	if err != nil {
		return out, err
	}
	out.Alerts = missingAlerts(st, logs)
	for _, l := range logs {
		out.Logs = append(out.Logs, auditLog(ctx, cfg, st, existed, l))
		if ctx.Err() != nil {
			break
		}
	}
	return out, st.save(cfg.StateDir)
}

// AuditSetResult is the audit of a log set.
type AuditSetResult struct {
	Logs []AuditLogResult // in ListLogs' order
	// Alerts are about logs remembered but no longer listed by the server.
	Alerts []Alert
}

func auditLog(ctx context.Context, cfg AuditSetConfig, st *SetState, existed bool, l SetLog) AuditLogResult {
	r := AuditLogResult{TreeID: l.TreeID, API: l.API, Frozen: l.Frozen}
	legacy, err := adoptLegacy(cfg.LegacyState, cfg.StateDir, l.TreeID)
	if err != nil {
		r.Err = err
		return r
	}
	rec := st.Logs[l.TreeID]
	r.New = rec == nil && (existed || legacy) && !fileExists(logStatePath(cfg.StateDir, l.TreeID))
	v, _, err := pickVerifier(cfg.Verifiers, l.Checkpoint)
	if err != nil {
		r.Err = err
		return r
	}
	if rec != nil && rec.Frozen {
		alerts, _, err := checkFrozen(ctx, cfg.Set, l, rec, v)
		if err != nil {
			r.Err = err
			return r
		}
		if len(alerts) > 0 {
			r.Alerts = alerts
			r.Err = &Misbehavior{Kind: AlertFrozenChanged, Err: errors.New(alerts[0].Message)}
			return r
		}
	}
	var progress func(done, total uint64)
	if cfg.Progress != nil {
		progress = func(done, total uint64) { cfg.Progress(l.TreeID, done, total) }
	}
	r.AuditResult, r.Err = Audit(ctx, AuditConfig{
		Log: cfg.Set.Log(l.TreeID), Verifier: v, StatePath: logStatePath(cfg.StateDir, l.TreeID),
		Restart: cfg.Restart, Workers: cfg.Workers, Progress: progress, SaveEvery: cfg.SaveEvery, Logger: cfg.Logger,
	})
	if r.Err != nil {
		return r
	}
	if rec == nil {
		rec = &SetLogState{Origin: r.Checkpoint.Origin, API: l.API, Added: time.Now().UTC()}
		st.Logs[l.TreeID] = rec
	}
	if l.Frozen && !rec.Frozen {
		a, err := freeze(rec, l, v, r.Checkpoint, nil)
		switch {
		case err != nil:
			r.Err = err
		case a != nil:
			r.Alerts = []Alert{*a}
			r.Err = &Misbehavior{Kind: a.Kind, Err: errors.New(a.Message)}
		}
	}
	return r
}

// String names the log of a result for people.
func (r AuditLogResult) String() string {
	state := "active"
	if r.Frozen {
		state = "frozen"
	}
	if r.API == "v2" {
		state = "Rekor v2, " + state
	}
	return fmt.Sprintf("log %s (%s)", r.TreeID, state)
}
